"""Target ``onnx``: a NIR graph as an ONNX model with explicit neuron state.

Public API::

    export(graph, out_path, options) -> ExportResult
        options: dt_s (float, s), reset ("zero" | "subtract"), unroll (int T: whole-sequence model),
                 state_inputs (bool; default True, False only with unroll), check_only (bool)
    build_onnx(graph, dt_s=None, reset=None, unroll=None, state_inputs=None) -> onnx.ModelProto
    onnx_metadata(model_or_path) -> dict          # metadata_props, JSON values decoded

Canonical form (``unroll`` unset): one time step ``(x, state…) → (y, state…)``:

    inputs   x (B, *input)       and per neuron layer L (NIR node name): L.v, L.i (CubaLIF only),
                                 L.z (recurrent layers only: last step's spikes), each (B, *shape_L)
    outputs  y (B, *output)      and L.v_next, L.i_next, L.z_next

With ``unroll=T`` the model maps x (T, B, *input) → y (T, B, *output) plus the final state
(``*_next``); its initial state is zero unless ``state_inputs=True`` adds the state inputs.
All tensors are float32; B is a dynamic axis ("batch").

The step is exactly the one of docs/nir-conventions.md, computed in the same operation order as
:func:`neurodeploy.neurons.functional.neuron_step` with the same float32 coefficients (taken from
:func:`neurodeploy.ir.from_nir`, which folds NIR's ``r``/``w_in`` into the preceding weights)::

    x  ← x + z_prev · W_recᵀ                        (recurrent layers)
    i  ← decay_i · i + gain_i · x                   (CubaLIF; else i = x)
    v' ← decay_v · v + leak_v + gain_v · i
    z  ← float(v' > v_th)                           (strict Heaviside, forward only)
    v  ← v' − z · (v' − v_reset)   (reset="zero")   or   v' − z · v_th   (reset="subtract")

The graph is written directly with ``onnx.helper`` (opset 17, IR version 8), not through
``torch.onnx.export``: the TorchScript exporter is deprecated from torch 2.9 and the default
dynamo exporter of torch ≥ 2.9 needs ``onnxscript``; building the graph ourselves gives the same
bytes on every torch version and full control of the operation order (hence exact spikes).
``metadata_props`` record dt_s, reset, threshold and spike conventions, time_steps, the state
tensors and the neurodeploy version (see ``onnx_metadata``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nir
import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

import neurodeploy
from neurodeploy.atomic import write_bytes
from neurodeploy.errors import ConfigError, UnsupportedNodeError
from neurodeploy.ir.from_nir import from_nir
from neurodeploy.neurons import SpikingNeuron, SumPool2d
from neurodeploy.neurons.delay import StepDelay
from neurodeploy.targets.base import ExportResult

FORMAT_VERSION = 1
OPSET = 17
IR_VERSION = 8
OPTIONS = ("dt_s", "reset", "unroll", "state_inputs", "check_only", "conventions")
SUPPORTED_NODES = (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten, nir.Delay,
                   nir.SumPool2d, nir.LIF, nir.CubaLIF, nir.IF)
THRESHOLD_CONVENTION = ("z = 1 where v' > v_th (strict), v' = membrane after leak and input of "
                        "this step, v_th per neuron")
SPIKE_CONVENTION = "binary float32 spikes in {0, 1} (amplitude 1.0), Heaviside forward only"
_JSON_KEYS = ("state", "layers", "input_shape", "output_shape", "dataset_input_shape")


def _np32(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    return np.array(t, dtype=np.float32, order="C")  # keeps 0-d (ascontiguousarray would not)


class _Builder:
    """Collects nodes and initializers; hands out unique value names."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, onnx.TensorProto] = {}
        self._n = 0

    def const(self, name: str, value, dtype=np.float32) -> str:
        if name not in self.inits:
            self.inits[name] = numpy_helper.from_array(np.array(value, dtype=dtype, order="C"), name)
        return name

    def op(self, op_type: str, inputs: list[str], prefix: str, out: str | None = None, **attrs) -> str:
        self._n += 1
        out = out or f"{prefix}/{op_type}_{self._n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"{prefix}/{op_type}_{self._n}", **attrs))
        return out


def _is(a: np.ndarray, value: float) -> bool:
    return bool(np.all(a == value))


class _Layers:
    """The from_nir model as a list of (name, module, per-sample output shape), plus emitters."""

    def __init__(self, model, names: list[str], in_shape: tuple[int, ...]):
        with torch.no_grad():
            _, outs = model(torch.zeros(1, 1, *in_shape), record=True)
        self.items = [(n, m, tuple(o.shape[2:])) for n, m, o in zip(names, model, outs)]
        self.in_shape = tuple(in_shape)
        self.out_shape = self.items[-1][2] if self.items else self.in_shape

    def state_specs(self) -> list[dict[str, Any]]:
        specs = []
        for name, m, shape in self.items:
            if isinstance(m, StepDelay) and int(m.steps.max()) > 0:  # history of the last D inputs
                d = int(m.steps.max())
                specs.append({"layer": name, "kind": "hist", "input": f"{name}.hist",
                              "output": f"{name}.hist_next", "shape": [d, *shape]})
            if not isinstance(m, SpikingNeuron):
                continue
            kinds = ["v"]
            if m.coefficients().decay_i is not None:
                kinds.append("i")
            if m.w_rec is not None:
                kinds.append("z")
            specs += [{"layer": name, "kind": k, "input": f"{name}.{k}", "output": f"{name}.{k}_next",
                       "shape": list(shape)} for k in kinds]
        return specs

    def emit_step(self, b: _Builder, x: str, states: dict[str, str | None], reset: str,
                  tag: str) -> tuple[str, dict[str, str]]:
        """One time step; ``states`` maps ``L.v`` … to a value name (None: zero). Returns the
        output value and the new state values."""
        new: dict[str, str] = {}
        for name, m, shape in self.items:
            p = f"{name}{tag}"
            if isinstance(m, nn.Linear):
                w = b.const(f"{name}.weight_t", _np32(m.weight).T)
                x = b.op("MatMul", [x, w], p)
                if m.bias is not None:
                    x = b.op("Add", [x, b.const(f"{name}.bias", _np32(m.bias))], p)
            elif isinstance(m, nn.Conv2d):
                ins = [x, b.const(f"{name}.weight", _np32(m.weight))]
                if m.bias is not None:
                    ins.append(b.const(f"{name}.bias", _np32(m.bias)))
                ph, pw = m.padding
                x = b.op("Conv", ins, p, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                         pads=[ph, pw, ph, pw], dilations=list(m.dilation), group=m.groups)
            elif isinstance(m, nn.Flatten):
                x = b.op("Reshape", [x, b.const(f"{name}.shape", [-1, *shape], np.int64)], p)
            elif isinstance(m, SumPool2d):
                k = m.kernel_size
                x = b.op("AveragePool", [x], p, kernel_shape=[k, k], strides=[m.stride, m.stride])
                x = b.op("Mul", [x, b.const(f"{name}.area", float(k * k))], p)
            elif isinstance(m, SpikingNeuron):
                x = self._emit_neuron(b, name, m, x, states, new, reset, p)
            elif isinstance(m, StepDelay):
                x = self._emit_delay(b, name, m, x, shape, states, new, p)
            else:  # pragma: no cover - from_nir builds only the modules above
                raise UnsupportedNodeError(f"layer {name!r} ({type(m).__name__}) has no ONNX mapping")
        return x, new

    @staticmethod
    def _emit_delay(b, name, m, x, shape, states, new, p) -> str:
        """y[t] = x[t − d] per feature: state ``hist`` (batch, D, …) holds x[t−1] … x[t−D];
        A = [x, hist] along axis 1, y = Σ_k A[:, k]·[d = k] (one non-zero term: exact),
        hist' = A[:, :D]."""
        d_max = int(m.steps.max())
        if d_max == 0:
            return x
        prev = states.get(f"{name}.hist")
        if prev is None:
            dims = b.op("Concat", [b.op("Slice", [b.op("Shape", [x], p), b.const("i0", [0], np.int64),
                                                  b.const("i1", [1], np.int64)], p),
                                   b.const(f"{name}.hist_dims", [d_max, *shape], np.int64)], p, axis=0)
            prev = b.op("ConstantOfShape", [dims], p,
                        value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))
        axis1 = b.const("axis1", [1], np.int64)
        a = b.op("Concat", [b.op("Unsqueeze", [x, axis1], p), prev], p, axis=1)
        steps = m.steps.expand(shape).cpu().numpy()
        onehot = (np.arange(d_max + 1).reshape(-1, *([1] * len(shape))) == steps[None]).astype(np.float32)
        y = b.op("ReduceSum", [b.op("Mul", [a, b.const(f"{name}.onehot", onehot)], p), axis1], p, keepdims=0)
        new[f"{name}.hist"] = b.op("Slice", [a, b.const("i0", [0], np.int64),
                                             b.const(f"{name}.hist_len", [d_max], np.int64), axis1], p)
        return y

    @staticmethod
    def _emit_neuron(b, name, m, x, states, new, reset, p) -> str:
        c = m.coefficients()

        def state(kind: str) -> str:
            s = states.get(f"{name}.{kind}")
            return s if s is not None else b.op("ConstantOfShape", [b.op("Shape", [x], p)], p,
                                                value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))

        if m.w_rec is not None:
            z_prev = state("z")
            x = b.op("Add", [x, b.op("MatMul", [z_prev, b.const(f"{name}.w_rec_t", _np32(m.w_rec).T)], p)], p)
        if c.decay_i is not None:
            i_prev = state("i")
            i = b.op("Add", [b.op("Mul", [b.const(f"{name}.decay_i", _np32(c.decay_i)), i_prev], p),
                             b.op("Mul", [b.const(f"{name}.gain_i", _np32(c.gain_i)), x], p)], p)
            new[f"{name}.i"] = i
        else:
            i = x
        v_prev = state("v")
        dv, lv, gv = _np32(c.decay_v), _np32(c.leak_v), _np32(c.gain_v)
        # multiplications by 1 and additions of 0 are exact in IEEE float: skipping them keeps
        # the result bit-identical to neuron_step
        v = v_prev if _is(dv, 1) else b.op("Mul", [b.const(f"{name}.decay_v", dv), v_prev], p)
        if not _is(lv, 0):
            v = b.op("Add", [v, b.const(f"{name}.leak_v", lv)], p)
        gi = i if _is(gv, 1) else b.op("Mul", [b.const(f"{name}.gain_v", gv), i], p)
        v = b.op("Add", [v, gi], p)
        v_th = b.const(f"{name}.v_th", _np32(c.v_th))
        z = b.op("Cast", [b.op("Greater", [v, v_th], p)], p, to=TensorProto.FLOAT)
        if reset == "zero":
            v = b.op("Sub", [v, b.op("Mul", [z, b.op("Sub", [v, b.const(f"{name}.v_reset", _np32(c.v_reset))], p)], p)], p)
        else:
            v = b.op("Sub", [v, b.op("Mul", [z, v_th], p)], p)
        new[f"{name}.v"] = v
        if m.w_rec is not None:
            new[f"{name}.z"] = z
        return z


def _value_info(name: str, dims: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def _check_options(options: dict[str, Any]) -> None:
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise ConfigError(f"target onnx: unknown option {sorted(unknown)[0]!r}; allowed: {', '.join(OPTIONS)}")


def build_onnx(graph: nir.NIRGraph, dt_s: float | None = None, reset: str | None = None,
               unroll: int | None = None, state_inputs: bool | None = None,
               conventions=None) -> onnx.ModelProto:
    """Build (and check) the ONNX model of ``graph``; dt/reset default to ``conventions`` (the
    source's), else the graph's metadata."""
    if unroll is not None and (isinstance(unroll, bool) or int(unroll) != unroll or int(unroll) < 1):
        raise ConfigError(f"target onnx: option 'unroll' must be a positive integer T (time steps), got {unroll!r}")
    if state_inputs is None:
        state_inputs = unroll is None
    if not state_inputs and unroll is None:
        raise ConfigError("target onnx: state_inputs=False needs unroll=T; the one-step model "
                          "must take its state as inputs")
    for name, node in graph.nodes.items():  # before from_nir, which reads them as a float readout
        if isinstance(node, (nir.LI, nir.CubaLI)):
            raise UnsupportedNodeError(
                f"node {name!r} ({type(node).__name__}) is not supported by target onnx: a non-spiking "
                "membrane readout (model.readout = membrane-mean/membrane-max); export a model trained with "
                "model.readout = \"spike-count\", or export to target nir")
    model, conv = from_nir(graph, dt_s, reset, conventions=conventions)
    layers = _Layers(model, model.node_names, conv.input_shape)
    specs = layers.state_specs()
    b = _Builder()
    batch = "batch"
    inputs, outputs = [], []
    states: dict[str, str | None] = {}
    for s in specs:
        states[s["input"]] = s["input"] if state_inputs else None
        if state_inputs:
            inputs.append(_value_info(s["input"], [batch, *s["shape"]]))
    if unroll is None:
        inputs.insert(0, _value_info("x", [batch, *conv.input_shape]))
        y, states = layers.emit_step(b, "x", states, conv.reset, "")
        b.op("Identity", [y], "output", out="y")
        outputs.append(_value_info("y", [batch, *layers.out_shape]))
    else:
        t_steps = int(unroll)
        inputs.insert(0, _value_info("x", [t_steps, batch, *conv.input_shape]))
        ys = []
        for t in range(t_steps):
            xt = b.op("Gather", ["x", b.const(f"t{t}", t, np.int64)], f"input/t{t}", axis=0)
            y, new = layers.emit_step(b, xt, states, conv.reset, f"/t{t}")
            states.update(new)
            ys.append(b.op("Unsqueeze", [y, b.const("axis0", [0], np.int64)], f"output/t{t}"))
        b.op("Concat", ys, "output", out="y", axis=0)
        outputs.append(_value_info("y", [t_steps, batch, *layers.out_shape]))
    for s in specs:
        b.op("Identity", [states[s["input"]]], "state", out=s["output"])
        outputs.append(_value_info(s["output"], [batch, *s["shape"]]))
    meta = dict(graph.metadata or {})
    props = {
        "neurodeploy_onnx_format_version": FORMAT_VERSION,
        "neurodeploy_version": neurodeploy.__version__,
        "form": "step" if unroll is None else "unrolled",
        "unroll": "" if unroll is None else int(unroll),
        "state_inputs": str(bool(state_inputs)).lower(),
        "dt_s": repr(float(conv.dt_s)),
        "reset": conv.reset,
        "threshold_convention": THRESHOLD_CONVENTION,
        "spike_convention": SPIKE_CONVENTION,
        "spike_amplitude": "1.0",
        "step_equations": "docs/nir-conventions.md (forward Euler, order of norse.torch.from_nir)",
        "time_steps": "" if conv.time_steps is None else conv.time_steps,
        "input_shape": list(conv.input_shape),
        "output_shape": list(layers.out_shape),
        "dataset_input_shape": meta.get("input_shape", conv.input_shape),
        "layers": [n for n, _, _ in layers.items],
        "state": specs,
    }
    g = helper.make_graph(b.nodes, "neurodeploy_snn", inputs, outputs, list(b.inits.values()))
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="neurodeploy", producer_version=neurodeploy.__version__,
                              doc_string="Spiking network exported by neurodeploy; see metadata_props.")
    proto.ir_version = IR_VERSION
    helper.set_model_props(proto, {k: json.dumps(v, default=_json_plain) if k in _JSON_KEYS else str(v) for k, v in props.items()})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _json_plain(value: Any) -> Any:
    """numpy arrays and scalars (NIR files read back hold them, e.g. metadata input_shape) as JSON."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def onnx_metadata(model: onnx.ModelProto | str | os.PathLike) -> dict[str, Any]:
    """``metadata_props`` of an ONNX file written by this target, JSON-valued keys decoded."""
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    meta: dict[str, Any] = {p.key: p.value for p in model.metadata_props}
    for k in _JSON_KEYS:
        if k in meta:
            meta[k] = json.loads(meta[k])
    return meta


def export(graph: nir.NIRGraph, out_path: Path, options: dict[str, Any]) -> ExportResult:
    """Write ``graph`` as ONNX to ``out_path`` (atomic); see the module docstring for options."""
    _check_options(options)
    proto = build_onnx(graph, options.get("dt_s"), options.get("reset"), options.get("unroll"),
                       options.get("state_inputs"), options.get("conventions"))
    meta = onnx_metadata(proto)
    out_path = Path(out_path)
    summary = {"form": meta["form"], "dt_s": float(meta["dt_s"]), "reset": meta["reset"],
               "opset": OPSET, "nodes": len(proto.graph.node),
               "inputs": [i.name for i in proto.graph.input], "outputs": [o.name for o in proto.graph.output]}
    if options.get("check_only"):
        return ExportResult(out_path, summary=summary)
    write_bytes(out_path, proto.SerializeToString(deterministic=True))
    return ExportResult(out_path, summary=summary)

