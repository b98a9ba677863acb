"""NIR graph → Loihi 2 via lava-dl netx HDF5 (``.net``) plus ``<out>.manifest.json``.

Public API::

    TARGET                                   # Target(name="loihi", suffix=".net", export=export)
    export(graph, out_path, options) -> ExportResult
        options: dt_s (float, s), profile ("loihi2" | "loihi1" | path.toml), check_only (bool),
                 allow_lossy (bool). Graphs written by other frameworks are normalised first by
                 ``neurodeploy.ir.interop.load_nir(..., dialect=...)`` (e.g. Norse's dt·τ).
    build_network(graph, dt_s=None, allow_lossy=False) -> LoihiNet
    check_graph(graph, options) -> tuple[str, dict]          # text + dict, writes nothing

Mapping (see docs/loihi.md; facts §4), with α = dt/τ_mem, β = dt/τ_syn and a per-layer scale k
chosen as the largest value with max|weight| ≤ 254, k·v_th ≤ vThMant_max and k·|bias| ≤ bias_max:

    CubaLIF: iDecay = round(4096 β), vDecay = round(4096 α), weight = k α r β w_in W
    LIF:     iDecay = 4096,          vDecay = round(4096 α), weight = k α r W
    IF:      iDecay = 4096,          vDecay = 0,             weight = k dt r W
    vThMant = round(k v_th);  bias = round(k α (v_leak + r w_in b))   (IF: round(k dt r b))

Weights are rounded to even integers in [-256, 254]. The fixed-point state is v_fix = 64 k v.
Each dense/conv layer adds one step of latency (Lava's synapse buffers one step).
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np

from neurodeploy.atomic import atomic_path, write_text
from neurodeploy.errors import (
    ConfigError,
    HardwareLimitError,
    LossyConversionError,
    UnsupportedNodeError,
)
from neurodeploy.exporters.base import ExportResult, Target
from neurodeploy.exporters.loihi_check import LayerHW, check_layers
from neurodeploy.hw_profiles.schema import Profile, load_profile
from neurodeploy.ir.graph import chain, unsupported

FORMAT_VERSION = 1
OPTIONS = ("dt_s", "profile", "check_only", "allow_lossy")
SYNAPSES = (nir.Affine, nir.Linear, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)
NEURONS = (nir.CubaLIF, nir.LIF, nir.IF)
WEIGHT_MAX = 254


@dataclass
class NetLayer:
    """One netx layer. ``shape``: per-sample output shape in torch order ((N,) or (C, H, W))."""

    kind: str                      # "dense" | "dense_rec" | "conv" | "flatten"
    shape: tuple[int, ...]
    name: str = ""
    weight: np.ndarray | None = None      # int64; dense (out, in), conv (C_out, C_in/g, kH, kW)
    weight_rec: np.ndarray | None = None  # int64 (N, N)
    bias: np.ndarray | None = None        # int64; dense (N,), conv (C,)
    conv: dict[str, Any] | None = None    # stride, padding, dilation (H, W), groups
    i_decay: int = 4096
    v_decay: int = 0
    v_th_mant: int = 1
    scale_k: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)
    delay: np.ndarray | None = None       # int64 (N,) axonal delay in steps (from a NIR Delay)


@dataclass
class LoihiNet:
    """The quantised network: input shape (torch order), layers, and the lossy steps taken."""

    input_shape: tuple[int, ...]
    layers: list[NetLayer]
    dt_s: float
    lossy: list[str] = field(default_factory=list)

    @property
    def latency_steps(self) -> int:
        return sum(layer.kind != "flatten" for layer in self.layers) + sum(
            int(layer.delay.max()) for layer in self.layers if layer.delay is not None)


def _arr(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------- graph → chain of stages
def _chain(graph: nir.NIRGraph) -> list[tuple[list[str], str, str | None]]:
    """Return [(synapse-side node names, neuron name, recurrent node name or None), …]: the
    shared walk (:func:`neurodeploy.ir.graph.chain`) grouped into netx layers."""
    nodes = graph.nodes
    order, rec = chain(graph)
    for neuron, r in rec.items():
        if not (isinstance(nodes[neuron], NEURONS) and isinstance(nodes[r], (nir.Affine, nir.Linear))):
            raise unsupported(r, nodes[r], f"loop with {neuron!r}",
                               "netx supports only an Affine/Linear self-loop of a LIF/CubaLIF/IF")
    if not isinstance(nodes[order[-1]], nir.Output):
        raise UnsupportedNodeError("the chain from the Input node does not end in an Output node")
    order = order[1:]
    stages, pending = [], []
    for name in order[:-1]:
        node = nodes[name]
        if isinstance(node, nir.Flatten):
            if any(isinstance(nodes[p], SYNAPSES) for p in pending):
                raise unsupported(name, node, "Flatten between a synapse and its neuron",
                                   "place Flatten before the Affine/Linear node")
            pending.append(name)
        elif isinstance(node, nir.Delay) and any(isinstance(nodes[p], SYNAPSES) for p in pending):
            pending.append(name)  # per-neuron delay of the synapse output → netx 'delay'
        elif isinstance(node, SYNAPSES):
            if any(isinstance(nodes[p], SYNAPSES) for p in pending):
                raise unsupported(name, node, f"follows {pending[-1]!r} without a spiking neuron between",
                                   "non-spiking hidden layers have no netx equivalent; add a neuron")
            pending.append(name)
        elif isinstance(node, NEURONS):
            if not any(isinstance(nodes[p], SYNAPSES) for p in pending):
                raise unsupported(name, node, "neuron without a preceding Affine/Linear/Conv2d/pool",
                                   "netx layers are synapse + neuron; add a weight layer before it")
            stages.append((pending, name, rec.get(name)))
            pending = []
        else:
            raise unsupported(name, node, "no netx mapping",
                               "supported: Affine, Linear, Conv2d, Flatten, SumPool2d, AvgPool2d, "
                               "LIF, CubaLIF, IF (+ recurrent Affine/Linear self loop)")
    if pending:
        raise unsupported(pending[-1], nodes[pending[-1]], "graph ends without a spiking neuron",
                           "a non-spiking readout is not supported; end with LIF/CubaLIF/IF")
    return stages


def _input_shape(graph: nir.NIRGraph, first) -> tuple[int, ...]:
    node = next(v for v in graph.nodes.values() if isinstance(v, nir.Input))
    raw = node.input_type.get("input") if node.input_type else None
    if raw is None or np.asarray(raw).size == 0:
        meta = graph.metadata.get("input_shape")
        if meta is None:
            raise unsupported("input", node, "the Input node has no shape", "give nir.Input an input_type")
        return tuple(int(s) for s in meta)
    shape = tuple(int(s) for s in np.asarray(raw).reshape(-1))
    if isinstance(first, (nir.Affine, nir.Linear)) and len(shape) == 2 and shape[0] == 1:
        shape = shape[1:]  # nirtorch/Norse record a batch dimension
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    return shape


def _pair(x, name, node) -> tuple[int, int]:
    a = np.asarray(x).reshape(-1)
    if a.size == 1:
        return int(a[0]), int(a[0])
    if a.size == 2:
        return int(a[0]), int(a[1])
    raise unsupported(name, node, f"2-D parameter expected, got {x!r}", "use a 2-D conv/pool")


# ---------------------------------------------------------------- neuron constants
def _uniform(arr: np.ndarray, what: str, name: str, node) -> float:
    lo, hi = float(arr.min()), float(arr.max())
    if hi - lo > 1e-6 * max(abs(hi), abs(lo), 1e-30):
        raise unsupported(name, node, f"per-neuron {what} ({lo:g} … {hi:g})",
                           f"netx has one {what} per layer; retrain with a shared {what}")
    return lo


def _neuron(name, node, shape, dt, reset):
    """Return (kind, alpha, beta, gain (per neuron), v_th, bias_from_leak (per neuron), w_in·r)."""
    def p(attr, default=0.0):
        v = getattr(node, attr, None)
        return np.broadcast_to(_arr(default if v is None else v), shape).astype(np.float64)

    if reset not in (None, "zero"):
        raise unsupported(name, node, f"reset {reset!r}", "Loihi CUBA resets v to 0; retrain with reset='zero'")
    if np.any(p("v_reset") != 0):
        raise unsupported(name, node, "v_reset != 0", "Loihi CUBA resets v to 0; retrain with v_reset=0")
    v_th = _uniform(p("v_threshold"), "v_threshold", name, node)
    r = p("r", 1.0)

    def ratio(attr):
        tau = _uniform(p(attr), attr, name, node)
        if tau <= 0:
            raise ConfigError(f"node {name!r}: {attr} = {tau:g} s must be > 0")
        a = dt / tau
        if a > 1:
            raise ConfigError(
                f"node {name!r}: dt/{attr} = {a:g} > 1 ({attr} = {tau:g} s, dt = {dt:g} s); forward "
                "Euler is unstable. Graphs from norse.torch.to_nir store tau as dt*tau: read them "
                "with --dialect norse (load_nir(..., dialect='norse')), or check --dt")
        return a
    if isinstance(node, nir.IF):
        return "IF", 0.0, 1.0, dt * r, v_th, np.zeros(shape), dt * r
    alpha = ratio("tau_mem" if isinstance(node, nir.CubaLIF) else "tau")
    if isinstance(node, nir.LIF):
        return "LIF", alpha, 1.0, alpha * r, v_th, alpha * p("v_leak"), alpha * r
    beta = ratio("tau_syn")
    w_in = p("w_in", 1.0)
    return "CubaLIF", alpha, beta, alpha * r * beta * w_in, v_th, alpha * p("v_leak"), alpha * r * w_in


# ---------------------------------------------------------------- stage → netx layer
def _synapse(name, node, cur):
    """Return (kind, float weight, float bias or None, conv dict or None, out shape)."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        w = _arr(node.weight)
        if len(cur) != 1 or w.shape[1] != cur[0]:
            raise ConfigError(f"node {name!r}: weight {w.shape} does not take input of shape {cur}; "
                              "add a Flatten node before it or fix input_shape")
        b = _arr(node.bias) if isinstance(node, nir.Affine) and node.bias is not None else None
        return "dense", w, b, None, (w.shape[0],)
    if len(cur) != 3:
        raise ConfigError(f"node {name!r}: needs a (C, H, W) input, got shape {cur}")
    if isinstance(node, nir.Conv2d):
        w = _arr(node.weight)
        groups, dil = int(node.groups), _pair(node.dilation, name, node)
        stride = _pair(node.stride, name, node)
        pad = node.padding
        if isinstance(pad, str):
            if pad == "valid":
                pad = (0, 0)
            elif pad == "same" and stride == (1, 1) and all(k % 2 for k in w.shape[2:]):
                pad = tuple(d * (k - 1) // 2 for d, k in zip(dil, w.shape[2:]))
            else:
                raise unsupported(name, node, f"padding {pad!r}", "use integer padding")
        pad = _pair(pad, name, node)
        b = _arr(node.bias) if node.bias is not None else None
    else:
        k = _pair(node.kernel_size, name, node)
        stride, pad, dil, groups = _pair(node.stride, name, node), _pair(node.padding, name, node), (1, 1), cur[0]
        w = np.ones((cur[0], 1) + k) / (k[0] * k[1] if isinstance(node, nir.AvgPool2d) else 1.0)
        b = None
    if w.shape[1] * groups != cur[0]:
        raise ConfigError(f"node {name!r}: weight {w.shape} with groups={groups} does not take "
                          f"{cur[0]} input channels")
    hw = [(cur[1 + i] + 2 * pad[i] - dil[i] * (w.shape[2 + i] - 1) - 1) // stride[i] + 1 for i in range(2)]
    conv = {"stride": stride, "padding": pad, "dilation": dil, "groups": groups}
    return "conv", w, b, conv, (w.shape[0], hw[0], hw[1])


def _per_channel(arr: np.ndarray, name: str, node, what: str) -> np.ndarray:
    if arr.ndim == 1:
        return arr
    flat = arr.reshape(arr.shape[0], -1)
    if np.ptp(flat, axis=1).max() > 1e-9 * max(np.abs(flat).max(), 1e-30):
        raise unsupported(name, node, f"{what} varies over (H, W)", f"use a per-channel {what}")
    return flat[:, 0]


def _map_stage(graph, stage, cur, dt, profile: Profile, lossy: list[str]) -> list[NetLayer]:
    syn_names, nname, rname = stage
    nodes = graph.nodes
    out: list[NetLayer] = []
    delay, kind = None, None
    for sname in syn_names:
        if isinstance(nodes[sname], nir.Delay):
            delay = _delay_steps(sname, nodes[sname], cur, dt, kind)
            continue
        if isinstance(nodes[sname], nir.Flatten):
            node = nodes[sname]
            if int(node.start_dim) not in (0, 1) or int(node.end_dim) != -1:
                raise unsupported(sname, node, f"partial flatten (start_dim={node.start_dim}, "
                                   f"end_dim={node.end_dim})", "flatten all of (C, H, W)")
            cur = (int(np.prod(cur)),)
            out.append(NetLayer("flatten", cur, name=sname))
            continue
        kind, w, b, conv, cur = _synapse(sname, nodes[sname], cur)
        syn = sname
    node = nodes[nname]
    nk, alpha, beta, gain, v_th, bias_leak, bias_gain = _neuron(
        nname, node, cur, dt, graph.metadata.get("reset"))
    lab = f"{syn}+{nname}"
    if kind == "conv":
        gain = _per_channel(gain, nname, node, "r/w_in/tau")
    bias_f = bias_leak + (0.0 if b is None else bias_gain * b.reshape((-1,) + (1,) * (len(cur) - 1)))
    if kind == "conv":
        bias_f = _per_channel(np.asarray(bias_f), nname, node, "v_leak/bias")
    if b is not None and nk == "CubaLIF" and beta < 1 and np.any(b != 0):
        lossy.append(f"layer {lab}: affine bias of {syn!r} is applied to v, not through the current "
                     f"filter (tau_syn); exact only at steady state. Train without bias to avoid this")
    w_eff = gain.reshape((-1,) + (1,) * (w.ndim - 1)) * w
    w_rec = None
    if rname is not None:
        if kind != "dense":
            raise unsupported(rname, nodes[rname], "recurrence on a conv layer", "use a dense layer")
        rw = _arr(nodes[rname].weight)
        if rw.shape != (cur[0], cur[0]) or (isinstance(nodes[rname], nir.Affine)
                                            and nodes[rname].bias is not None and np.any(_arr(nodes[rname].bias))):
            raise unsupported(rname, nodes[rname], f"recurrent weight {rw.shape} or non-zero bias",
                               f"use an ({cur[0]}, {cur[0]}) Linear/Affine with zero bias")
        w_rec = gain[:, None] * rw
        kind = "dense_rec"
    thr_max = profile.limit("threshold_mant_max") or 131071
    bias_max = profile.limit("bias_mant_max") or 4095
    wmax = max(np.abs(w_eff).max(), 0.0 if w_rec is None else np.abs(w_rec).max())
    if wmax == 0:
        raise unsupported(syn, nodes[syn], "all weights are zero", "Lava cannot load an all-zero layer")
    cands = [WEIGHT_MAX / wmax]
    if v_th > 0:
        cands.append(thr_max / v_th)
    if np.abs(bias_f).max() > 0:
        cands.append(bias_max / np.abs(bias_f).max())
    k = min(cands)
    recorded = _recorded_scale(graph, nname)
    if recorded is not None and recorded > k * (1 + 1e-9):
        lossy.append(f"layer {lab}: recorded scale k={recorded:g} (loihi_layer_scale) exceeds the "
                     f"profile's weight/threshold/bias limits; refitted to k={k:.4g}, integers change")
        recorded = None
    if recorded is not None:  # e.g. read from a netx file: reproduce its integers exactly
        k = recorded

    def q_even(x):
        if recorded is not None:
            return np.round(k * x).astype(np.int64)
        return (2 * np.round(k * x / 2)).astype(np.int64)
    wq, wq_rec = q_even(w_eff), None if w_rec is None else q_even(w_rec)
    if not np.any(wq) and (wq_rec is None or not np.any(wq_rec)):
        lossy.append(f"layer {lab}: every weight rounds to 0 at scale k={k:.4g} (set by threshold/bias)")
    vth = int(round(k * v_th))
    if vth < 1:
        lossy.append(f"layer {lab}: threshold v_threshold={v_th:g} → vThMant {k * v_th:.3g} < 1, clipped to 1")
        vth = 1
    decays = {"iDecay": (round(4096 * beta), 1, 4096), "vDecay": (round(4096 * alpha), 0, 4095)}
    dec = {}
    for key, (val, lo, hi) in decays.items():
        if not lo <= val <= hi:
            lossy.append(f"layer {lab}: {key} {val} outside [{lo}, {hi}], clipped")
        dec[key] = int(min(max(val, lo), hi))
    bias_q = np.round(k * bias_f).astype(np.int64)
    num = np.sum((wq / k - w_eff) ** 2) + (0 if w_rec is None else np.sum((wq_rec / k - w_rec) ** 2))
    den = np.sum(w_eff ** 2) + (0 if w_rec is None else np.sum(w_rec ** 2))
    info = {"source_nodes": [*syn_names, nname] + ([rname] if rname else []), "neuron": nk,
            "alpha": alpha, "beta": beta, "weight_rel_l2_error": float(math.sqrt(num / den)),
            "threshold_rel_error": abs(vth - k * v_th) / (k * v_th) if v_th > 0 else None,
            "alpha_effective": dec["vDecay"] / 4096, "beta_effective": dec["iDecay"] / 4096,
            "scale_k_source": "graph metadata loihi_layer_scale" if recorded is not None else "fitted"}
    if info["weight_rel_l2_error"] > 0.1:
        warnings.warn(f"layer {lab}: weight quantisation error {info['weight_rel_l2_error']:.1%} "
                      f"at scale k={k:.4g}", stacklevel=3)
    out.append(NetLayer(kind, cur, lab, wq, wq_rec, bias_q if np.any(bias_q) else None, conv,
                        dec["iDecay"], dec["vDecay"], vth, float(k), info, delay))
    return out


def _delay_steps(name, node, shape, dt, kind) -> np.ndarray:
    """A NIR Delay (seconds, per neuron) between a dense synapse and its neuron → steps 0…62."""
    d = _arr(node.delay).reshape(-1) / dt
    steps = np.round(d)
    if kind != "dense" or d.size != int(np.prod(shape)):
        raise unsupported(name, node, f"delay of {d.size} values after a {kind} synapse with output "
                           f"{shape}", "netx delays are per neuron of a dense layer")
    if np.any(np.abs(d - steps) > 1e-6) or steps.min() < 0 or steps.max() > 62:
        raise unsupported(name, node, f"delay/dt must be integers in [0, 62], got [{d.min():g}, {d.max():g}]",
                           "use whole-step delays of at most 62 steps")
    return steps.astype(np.int64)


def _recorded_scale(graph, neuron: str) -> float | None:
    """Per-layer scale k recorded by a reader (``loihi_layer_scale``: JSON {neuron node: k})."""
    raw = graph.metadata.get("loihi_layer_scale")
    if raw is None:
        return None
    table = json.loads(raw) if isinstance(raw, str) else dict(raw)
    return float(table[neuron]) if neuron in table else None


def build_network(graph: nir.NIRGraph, dt_s: float | None = None, allow_lossy: bool = False,
                  profile: Profile | None = None) -> LoihiNet:
    """Quantise ``graph`` into netx layers (no file written). ``lossy`` lists approximations;
    ``allow_lossy`` is only recorded here: :func:`export` raises on them unless allowed."""
    version = graph.metadata.get("neurodeploy_format_version")
    if version is not None and int(version) != 1:
        raise ConfigError(f"graph has neurodeploy_format_version {version}; this exporter reads 1")
    dt = dt_s if dt_s is not None else graph.metadata.get("dt_s")
    if dt is None:
        raise ConfigError("the NIR graph has no 'dt_s' metadata: pass --dt (option dt_s, seconds)")
    dt = float(dt)
    if dt <= 0:
        raise ConfigError(f"dt_s must be > 0 seconds, got {dt}")
    profile = profile or load_profile("loihi2")
    stages = _chain(graph)
    first = graph.nodes[next(n for n in stages[0][0] if not isinstance(graph.nodes[n], nir.Flatten))]
    cur = _input_shape(graph, first)
    lossy: list[str] = []
    layers: list[NetLayer] = []
    for stage in stages:
        layers += _map_stage(graph, stage, layers[-1].shape if layers else cur, dt, profile, lossy)
    return LoihiNet(cur, layers, dt, lossy)


def hw_layers(net: LoihiNet) -> list[LayerHW]:
    """Checker view of the compute layers (netx index counts the input layer as 0)."""
    out, prev = [], net.input_shape
    for i, lay in enumerate(net.layers, start=1):
        if lay.kind != "flatten":
            n = int(np.prod(lay.shape))
            fan = int(np.prod(lay.weight.shape[1:]))
            syn = n * fan + (0 if lay.weight_rec is None else lay.weight_rec.size)
            ws = [lay.weight] + ([lay.weight_rec] if lay.weight_rec is not None else [])
            out.append(LayerHW(i, lay.name, lay.kind, n,
                               int(np.prod(prev)) + (n if lay.weight_rec is not None else 0), syn,
                               int(min(w.min() for w in ws)), int(max(w.max() for w in ws)),
                               lay.i_decay, lay.v_decay, lay.v_th_mant,
                               0 if lay.bias is None else int(np.abs(lay.bias).max())))
        prev = lay.shape
    return out


# ---------------------------------------------------------------- writing
def _ds(group, name, data) -> None:
    group.create_dataset(name, data=data, track_times=False)


def write_netx(net: LoihiNet, path: Path) -> None:
    """Write the netx HDF5 (facts §2) to ``path`` atomically with deterministic bytes."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", libver="earliest") as f:
            root = f.create_group("layer")
            specs = [NetLayer("input", net.input_shape)] + net.layers
            for i, lay in enumerate(specs):
                g = root.create_group(str(i))
                _ds(g, "type", np.array([lay.kind.encode()], dtype="S10"))
                _ds(g, "shape", np.asarray(lay.shape, dtype=np.int64))
                if lay.kind in ("input", "flatten"):
                    continue
                _ds(g, "weight", lay.weight.astype(np.int16))
                if lay.weight_rec is not None:
                    _ds(g, "weight_rec", lay.weight_rec.astype(np.int16))
                if lay.bias is not None:
                    _ds(g, "bias", lay.bias.astype(np.int32))
                if lay.delay is not None:
                    _ds(g, "delay", lay.delay.astype(np.int64))
                if lay.conv is not None:
                    for key in ("stride", "padding", "dilation"):
                        _ds(g, key, np.asarray(lay.conv[key], dtype=np.int64))
                    _ds(g, "groups", np.int64(lay.conv["groups"]))
                n = g.create_group("neuron")
                _ds(n, "type", np.array([b"CUBA"], dtype="S10"))
                for key, val in (("iDecay", lay.i_decay), ("vDecay", lay.v_decay),
                                 ("vThMant", lay.v_th_mant), ("refDelay", 1)):
                    _ds(n, key, np.int64(val))


def graph_sha256(graph: nir.NIRGraph) -> str:
    """sha256 of a canonical serialisation: sorted nodes/fields, float64 little-endian arrays."""
    h = hashlib.sha256()

    def feed(x) -> None:
        if isinstance(x, dict):
            h.update(b"{")
            for key in sorted(x, key=str):
                h.update(str(key).encode() + b":")
                feed(x[key])
            h.update(b"}")
        elif isinstance(x, (list, tuple)) and not any(hasattr(v, "shape") for v in x):
            h.update(b"[" + json.dumps([str(v) for v in x]).encode() + b"]")
        elif x is None or isinstance(x, (str, bool)):
            h.update(repr(x).encode())
        else:
            a = _arr(x) if not isinstance(x, (list, tuple)) else np.stack([_arr(v) for v in x])
            h.update(repr(a.shape).encode() + a.astype("<f8").tobytes())

    for name in sorted(graph.nodes):
        node = graph.nodes[name]
        fields = {k: v for k, v in vars(node).items() if k != "metadata"}
        feed({"name": name, "type": type(node).__name__, "fields": fields})
    feed(sorted(tuple(map(str, e)) for e in graph.edges))
    feed({k: str(v) for k, v in graph.metadata.items()})
    return h.hexdigest()


def _manifest(net: LoihiNet, graph, profile: Profile, report, path: Path) -> dict:
    layers = []
    for i, lay in enumerate(net.layers, start=1):
        entry = {"index": i, "netx_type": lay.kind, "name": lay.name, "shape": list(lay.shape)}
        if lay.kind != "flatten":
            entry.update({"scale_k": lay.scale_k, "iDecay": lay.i_decay, "vDecay": lay.v_decay,
                          "vThMant": lay.v_th_mant,
                          "latency_steps": 1 + (0 if lay.delay is None else int(lay.delay.max())),
                          "bias_abs_max": 0 if lay.bias is None else int(np.abs(lay.bias).max()),
                          **lay.info})
        layers.append(entry)
    return {"format": "neurodeploy-loihi-manifest", "format_version": FORMAT_VERSION,
            "netx_file": path.name, "netx_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "dt_s": net.dt_s, "input_shape": list(net.input_shape),
            "input_encoding": str(graph.metadata.get("input_encoding", "binary-events")),
            "latency_steps": net.latency_steps, "profile": profile.name,
            "source_nir_sha256": graph_sha256(graph), "lossy_steps": net.lossy,
            "state_scale": "v_fixed = 64 * scale_k * v_float", "layers": layers,
            "hardware_check": report.to_dict()}


def _options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"loihi target: unknown option(s) {unknown}; allowed: {', '.join(OPTIONS)}")
    return dict(options)


def check_graph(graph: nir.NIRGraph, options: dict[str, Any] | None = None) -> tuple[str, dict]:
    """``--check-only``: quantise and check against the profile; return (text, dict)."""
    res = export(graph, Path("unused.net"), {**(options or {}), "check_only": True})
    return res.summary["text"], res.summary


def export(graph: nir.NIRGraph, out_path: Path, options: dict[str, Any]) -> ExportResult:
    """Export ``graph`` to ``out_path`` (netx HDF5) and ``<out_path>.manifest.json``."""
    opts = _options(options)
    profile = load_profile(opts.get("profile", "loihi2"))
    net = build_network(graph, opts.get("dt_s"), bool(opts.get("allow_lossy")), profile)
    report = check_layers(hw_layers(net), profile)
    out_path = Path(out_path)
    if opts.get("check_only"):
        text = report.to_text() + "".join(f"\n  lossy: {s}" for s in net.lossy)
        return ExportResult(out_path, (), {**report.to_dict(), "lossy_steps": net.lossy,
                                           "latency_steps": net.latency_steps, "text": text})
    if net.lossy and not opts.get("allow_lossy"):
        raise LossyConversionError("lossy conversion refused (pass allow_lossy / --allow-lossy to "
                                   "accept):\n  " + "\n  ".join(net.lossy))
    if not report.ok:
        raise HardwareLimitError(report.to_text())
    write_netx(net, out_path)
    manifest = _manifest(net, graph, profile, report, out_path)
    mpath = out_path.with_name(out_path.name + ".manifest.json")
    write_text(mpath, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return ExportResult(out_path, (mpath,), {"latency_steps": net.latency_steps,
                                             "total_cores": report.total_cores,
                                             "lossy_steps": net.lossy, "profile": profile.name})


TARGET = Target(name="loihi", suffix=".net",
                description="Loihi 2 via lava-dl netx HDF5 (fixed-point CUBA, 8-bit weights)",
                export=export, supported_nodes=(*SYNAPSES, nir.Flatten, nir.Delay, *NEURONS))
