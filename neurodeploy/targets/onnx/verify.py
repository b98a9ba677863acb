"""Check an ONNX export against the PyTorch float model of its NIR graph, step by step.

Public API::

    verify_onnx(onnx_path, graph, x, initial_state="zero", *, dt_s=None, reset=None, seed=0,
                atol=1e-4) -> dict
    reference_run(model, x, state) -> (y (T, B, …), per-step states {name: (T, B, …)}, min margin)

``x`` is (T, B, …) input (dataset layout is reshaped to the graph's Input). ``initial_state`` is
``"zero"``, ``"random"`` (seeded by ``seed``: v, i uniform in ±|v_th|, z Bernoulli(0.3)) or a dict
``{state input name: array (B, *shape)}`` naming every state tensor (``L.v``, ``L.i``, ``L.z``).
dt and reset default to the ONNX file's metadata (then the graph's).

onnxruntime runs the one-step model T times feeding its state back (an unrolled model runs once);
the reference is :func:`neurodeploy.ir.from_nir`'s model stepped with
:func:`~neurodeploy.neurons.functional.neuron_step` from the same initial state. Spikes (``y``
and recurrent ``z`` state) must match exactly; float state (``v``, ``i``) within ``atol``.

Returned dict::

    passed           bool: every spike equal and every float state within atol
    form, steps, batch, initial_state, atol, dt_s, reset
    mismatches       {output name: count}  (spikes: differing elements over all steps;
                                            float state: elements with |diff| > atol)
    outputs          {output name: {kind, mismatches, elements, max_abs_diff}} (``y`` also: spikes,
                     the reference's output spike count)
    min_threshold_margin   min |v' − v_th| in the reference (how close a spike came to flipping)
    sequence_mismatches    zero state only: reference steps vs the multi-step model(x) (else None)
"""

from __future__ import annotations

import os
from typing import Any

import nir
import numpy as np
import onnx
import torch
from torch import nn

from neurodeploy.errors import ConfigError, DataError
from neurodeploy.ir.from_nir import from_nir
from neurodeploy.neurons import SpikingNeuron, SpikingSequential
from neurodeploy.neurons.functional import NeuronState, neuron_step
from neurodeploy.sim.float_sim import prepare_input
from neurodeploy.targets.onnx.export import FORMAT_VERSION, onnx_metadata


def _layer_items(model: SpikingSequential) -> list[tuple[str, nn.Module]]:
    return list(zip(model.node_names, model))


@torch.no_grad()
def reference_run(model: SpikingSequential, x: torch.Tensor, state: dict[str, torch.Tensor]):
    """Step ``model`` over ``x`` (T, B, …) from ``state`` (``L.v``/``L.i``/``L.z`` → (B, …)).

    Returns output spikes (T, B, …), the state after every step ``{name: (T, B, …)}`` and the
    smallest |v' − v_th| seen (pre-reset membrane)."""
    state = dict(state)
    ys: list[torch.Tensor] = []
    trace: dict[str, list[torch.Tensor]] = {k: [] for k in state}
    margin = float("inf")
    for t in range(x.shape[0]):
        h = x[t]
        for name, m in _layer_items(model):
            if f"{name}.hist" in state:  # StepDelay: hist (B, D, …) holds the last D inputs
                a = torch.cat([h.unsqueeze(1), state[f"{name}.hist"]], 1)
                idx = m.steps.expand(h.shape[1:]).unsqueeze(0).unsqueeze(1).expand(h.shape[0], 1, *h.shape[1:])
                state[f"{name}.hist"] = a[:, :-1]
                h = a.gather(1, idx).squeeze(1)
                continue
            if not isinstance(m, SpikingNeuron):
                h = m(h) if not getattr(m, "over_time", False) else h  # zero delay: identity
                continue
            c = m.coefficients()
            if m.w_rec is not None:
                h = h + state[f"{name}.z"] @ m.w_rec.t()
            st = NeuronState(state[f"{name}.v"], state.get(f"{name}.i", torch.zeros_like(h)))
            i = c.decay_i * st.i + c.gain_i * h if c.decay_i is not None else h
            v_pre = c.decay_v * st.v + c.leak_v + c.gain_v * i
            if v_pre.numel():
                margin = min(margin, float((v_pre - c.v_th).abs().min()))
            h, st = neuron_step(h, st, c, m.surrogate, m.reset)
            state[f"{name}.v"] = st.v
            if c.decay_i is not None:
                state[f"{name}.i"] = st.i
            if m.w_rec is not None:
                state[f"{name}.z"] = h
        ys.append(h)
        for k in trace:
            trace[k].append(state[k])
    return torch.stack(ys), {k: torch.stack(v) for k, v in trace.items()}, margin


def _initial_state(specs, batch: int, mode, model, seed: int) -> dict[str, np.ndarray]:
    if isinstance(mode, dict):
        missing = [s["input"] for s in specs if s["input"] not in mode]
        unknown = sorted(set(mode) - {s["input"] for s in specs})
        if missing or unknown:
            raise ConfigError(f"initial_state dict: missing {missing}, unknown {unknown}; expected "
                              f"keys {[s['input'] for s in specs]}")
        out = {}
        for s in specs:
            a = np.asarray(mode[s["input"]], dtype=np.float32)
            if a.shape != (batch, *s["shape"]):
                raise ConfigError(f"initial_state[{s['input']!r}] has shape {a.shape}, expected "
                                  f"{(batch, *s['shape'])}")
            out[s["input"]] = a
        return out
    if mode == "zero":
        return {s["input"]: np.zeros((batch, *s["shape"]), np.float32) for s in specs}
    if mode != "random":
        raise ConfigError(f"initial_state must be 'zero', 'random' or a dict, got {mode!r}")
    rng = np.random.default_rng(seed)
    layers = dict(_layer_items(model))
    out = {}
    for s in specs:
        shape = (batch, *s["shape"])
        if s["kind"] == "hist":  # delayed synaptic currents: any real values
            out[s["input"]] = rng.uniform(-1, 1, shape).astype(np.float32)
        elif s["kind"] == "z":
            out[s["input"]] = (rng.random(shape) < 0.3).astype(np.float32)
        else:
            v_th = np.abs(layers[s["layer"]].coefficients().v_th.detach().cpu().numpy())
            out[s["input"]] = (rng.uniform(-1, 1, shape) * np.broadcast_to(v_th, shape[1:])).astype(np.float32)
    return out


def _run_onnx(path, meta, x: np.ndarray, state: dict[str, np.ndarray], specs):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = ["y"] + [s["output"] for s in specs]
    if meta["form"] == "unrolled":
        feed = {"x": x}
        if meta.get("state_inputs") == "true":
            feed.update(state)
        res = sess.run(names, feed)
        return res[0], {s["input"]: r[None] for s, r in zip(specs, res[1:])}
    ys, trace = [], {s["input"]: [] for s in specs}
    for t in range(x.shape[0]):
        res = sess.run(names, {"x": x[t], **state})
        ys.append(res[0])
        state = {s["input"]: r for s, r in zip(specs, res[1:])}
        for k, v in state.items():
            trace[k].append(v)
    return np.stack(ys), {k: np.stack(v) for k, v in trace.items()}


def verify_onnx(onnx_path: str | os.PathLike, graph: nir.NIRGraph, x: torch.Tensor,
                initial_state: str | dict = "zero", *, dt_s: float | None = None,
                reset: str | None = None, seed: int = 0, atol: float = 1e-4) -> dict[str, Any]:
    """Run ``onnx_path`` in onnxruntime and the float model of ``graph`` on ``x`` (T, B, …)."""
    proto = onnx.load(str(onnx_path), load_external_data=False)
    meta = onnx_metadata(proto)
    version = meta.get("neurodeploy_onnx_format_version")
    if version is None or int(version) != FORMAT_VERSION:
        raise ConfigError(f"{onnx_path}: not a neurodeploy ONNX file of format version {FORMAT_VERSION} "
                          f"(metadata 'neurodeploy_onnx_format_version' = {version!r}); re-export it")
    dt = dt_s if dt_s is not None else float(meta["dt_s"])
    rst = reset if reset is not None else meta["reset"]
    model, conv = from_nir(graph, dt, rst)
    model.sparse_max_density = 0  # dense path: the same arithmetic as the reference steps
    x = torch.as_tensor(x).float()
    if x.dim() < 2:
        raise DataError(f"x must be (T, B, …), got shape {tuple(x.shape)}")
    x = prepare_input(x, conv.input_shape)
    if list(x.shape[2:]) != list(meta["input_shape"]):
        raise DataError(f"x has per-step shape {tuple(x.shape[2:])}, the ONNX model expects "
                        f"{tuple(meta['input_shape'])}")
    steps, batch = x.shape[:2]
    if meta["form"] == "unrolled" and int(meta["unroll"]) != steps:
        raise DataError(f"the ONNX model is unrolled over T = {meta['unroll']} steps, x has T = {steps}")
    specs = meta["state"]
    zero_only = meta["form"] == "unrolled" and meta.get("state_inputs") != "true"
    if zero_only and not (isinstance(initial_state, str) and initial_state == "zero"):
        raise ConfigError("initial_state: this unrolled ONNX model has no state inputs (exported "
                          "without state_inputs=True); only initial_state='zero' can be verified")
    state0 = _initial_state(specs, batch, initial_state, model, seed)
    y_ref, trace_ref, margin = reference_run(model, x, {k: torch.from_numpy(v) for k, v in state0.items()})
    y_onnx, trace_onnx = _run_onnx(onnx_path, meta, x.numpy(), state0, specs)
    outputs: dict[str, dict[str, Any]] = {}
    y_ref_np = y_ref.numpy()
    outputs["y"] = {"kind": "spikes", "mismatches": int((y_onnx != y_ref_np).sum()),
                    "elements": int(y_ref_np.size), "max_abs_diff": float(np.abs(y_onnx - y_ref_np).max(initial=0)),
                    "spikes": int(y_ref_np.sum())}
    for s in specs:
        ref = trace_ref[s["input"]].numpy()
        if meta["form"] == "unrolled":
            ref = ref[-1:]
        got = trace_onnx[s["input"]]
        diff = np.abs(got - ref)
        spikes = s["kind"] == "z"
        outputs[s["output"]] = {"kind": "spikes" if spikes else "state",
                                # float32 state: atol absolute up to |ref| = 1, relative above
                                # (sum order differs between runtimes; netx graphs hold states ~1e4)
                                "mismatches": int((diff > 0).sum() if spikes else
                                                  (diff > atol * np.maximum(1.0, np.abs(ref))).sum()),
                                "elements": int(ref.size), "max_abs_diff": float(diff.max(initial=0))}
    sequence = None
    if isinstance(initial_state, str) and initial_state == "zero":
        with torch.no_grad():
            sequence = int((model(x) != y_ref).sum())
    return {
        "passed": all(o["mismatches"] == 0 for o in outputs.values()),
        "form": meta["form"], "steps": int(steps), "batch": int(batch),
        "initial_state": initial_state if isinstance(initial_state, str) else "given",
        "atol": atol, "dt_s": dt, "reset": rst,
        "mismatches": {k: o["mismatches"] for k, o in outputs.items()},
        "outputs": outputs, "min_threshold_margin": margin, "sequence_mismatches": sequence,
    }


#: Fidelity criteria of the ONNX target (declared once, here): onnxruntime must reproduce the float
#: model's spikes exactly (both compute the same float32 graph; a flipped spike means a wrong
#: export) and its float state within ``state_atol`` (float32 re-association in onnxruntime,
#: measured < 1e-5 on the test graphs; 1e-4 leaves a margin).
FIDELITY = {
    "max_spike_mismatches": {"value": 0.0, "source": "neurodeploy.targets.onnx.verify.FIDELITY: spikes must be identical"},
    "state_atol": {"value": 1e-4, "source": "neurodeploy.targets.onnx.verify.FIDELITY: float32 re-association margin"},
}


def verify_onnx_file(onnx_path: str | os.PathLike, graph: nir.NIRGraph, x: torch.Tensor,
                     *, dt_s: float | None = None, reset: str | None = None) -> dict[str, Any]:
    """Every check ``neurodeploy verify`` runs on an ONNX file, judged by :data:`FIDELITY`.

    ``x`` is (T, B, …). A step model is checked from zero and from random state; an unrolled
    model without state inputs only from zero state (it has none), over its own T: a longer ``x``
    is cut to T steps, a shorter one padded with zero input (both sides see the same input).
    Returns ``{"modes": {mode: verify_onnx result}, "thresholds", "criteria", "passed", "note"}``."""
    meta = onnx_metadata(onnx.load(str(onnx_path), load_external_data=False))
    x = torch.as_tensor(x).float()
    note = None
    modes: tuple[str, ...] = ("zero", "random")
    if meta.get("form") == "unrolled":
        if meta.get("state_inputs") != "true":
            modes = ("zero",)
        steps = int(meta["unroll"])
        if x.shape[0] > steps:
            note = f"input cut from T = {x.shape[0]} to the model's unrolled T = {steps}"
            x = x[:steps]
        elif x.shape[0] < steps:
            note = f"input padded with zeros from T = {x.shape[0]} to the model's unrolled T = {steps}"
            x = torch.cat([x, torch.zeros((steps - x.shape[0], *x.shape[1:]))])
    atol = FIDELITY["state_atol"]["value"]
    res = {m: verify_onnx(onnx_path, graph, x, initial_state=m, dt_s=dt_s, reset=reset, atol=atol)
           for m in modes}
    rows = []
    for mode, r in res.items():
        for name, o in r["outputs"].items():
            spikes = o["kind"] == "spikes"
            rows.append({"name": f"{'spikes' if spikes else 'state'} {name} ({mode} state)", "layer": None,
                         "value": o["mismatches"] if spikes else o["max_abs_diff"],
                         "op": "<=", "threshold": FIDELITY["max_spike_mismatches"]["value"] if spikes else atol,
                         "status": "PASS" if o["mismatches"] == 0 else "FAIL",
                         "note": (f"differing spikes of {o['elements']}" if spikes else
                                  f"max |onnxruntime - float|; {o['mismatches']} elements above atol")})
    return {"modes": res, "thresholds": FIDELITY, "criteria": rows, "note": note,
            "passed": all(r["status"] == "PASS" for r in rows)}


def verify_request(request) -> dict:
    """The registry's ``verify``: :func:`verify_onnx_file` on a
    :class:`~neurodeploy.targets.base.VerifyRequest` (inputs (N, T, …)). Threshold overrides are
    refused: an ONNX export must reproduce the float model's spikes exactly."""
    given = sorted(k for k, v in request.overrides.items() if v is not None)
    if given:
        raise ConfigError(f"fidelity overrides ({', '.join(given)}) do not apply to an ONNX file: "
                          "it must reproduce the float model's spikes exactly; drop those options")
    res = verify_onnx_file(request.artefact, request.graph, torch.as_tensor(request.inputs).transpose(0, 1))
    res["text"] = [f"note: {res['note']}"] if res.get("note") else []
    return res


def input_shape(path) -> tuple[int, ...]:
    """Per-step input shape recorded in the file's metadata."""
    return tuple(onnx_metadata(str(path))["input_shape"])
