"""NIR graph → Loihi 2 via lava-dl netx HDF5 (``.net``) plus ``<out>.manifest.json``.

Public API::

    export(graph, out_path, options) -> ExportResult
        options: dt_s (float, s), profile ("loihi2" | "loihi1" | path.toml), check_only (bool),
                 allow_lossy (bool), sample_inputs ((N, T, *input) spikes), sample_source (str),
                 sample_rate (float). Graphs written by other frameworks are normalised first by
                 ``neurodeploy.ir.interop.load_nir(..., dialect=...)`` (e.g. Norse's dt·τ).
    build_network(graph, dt_s=None, allow_lossy=False) -> LoihiNet
    sample_check(graph, net, options, budgets) -> (summary, loss lines)
    check_graph(graph, options) -> tuple[str, dict]          # text + dict, writes nothing

Quantisation fidelity: per layer the weight error, share of weights rounded to 0, threshold,
decay and bias rounding are checked against the profile's ``[fidelity]`` budgets, then the float
model and the emulator of the integers are compared on a small sample. Every loss beyond budget
is one line naming the layer, the cause (an outlier weight is blamed before the threshold it
drags below 1) and the fix; the export refuses on the first (LossyConversionError) unless
``allow_lossy``. ``check_only`` makes the same decision and returns it (summary ``error``).

Mapping (see docs/loihi.md; facts §4), with α = dt/τ_mem, β = dt/τ_syn and a per-layer scale k
chosen as the largest value with max|weight| ≤ weight_max, k·v_th ≤ threshold_mant_max and
k·|bias| ≤ bias_mant_max (all from the profile, :mod:`~neurodeploy.targets.loihi.fixed_point`;
D = 2**decay_bits, 4096 on Loihi 1 and 2):

    CubaLIF: iDecay = round(D β), vDecay = round(D α), weight = k α r β w_in W
    LIF:     iDecay = D,          vDecay = round(D α), weight = k α r W
    IF:      iDecay = D,          vDecay = 0,          weight = k dt r W
    vThMant = round(k v_th);  bias = round(k α (v_leak + r w_in b))   (IF: round(k dt r b))

Weights are rounded to even integers in [-(weight_max + 2), weight_max] ([-256, 254]). The
fixed-point state is v_fix = 2**state_shift_bits · k · v (64 k v). A range limit absent from the
profile is not checked (one warning, and ``limits_not_checked`` in the summary and manifest).
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
    DataError,
    HardwareLimitError,
    LossyConversionError,
    UnsupportedNodeError,
)
from neurodeploy.hw_profiles.schema import Profile, load_profile
from neurodeploy.ir.conventions import Conventions, of
from neurodeploy.ir.graph import chain, unsupported
from neurodeploy.targets.base import ExportResult
from neurodeploy.targets.loihi.check import LayerHW, check_layers
from neurodeploy.targets.loihi.fixed_point import DEFAULT_PROFILE, fixed_point

FORMAT_VERSION = 1
OPTIONS = ("dt_s", "profile", "check_only", "allow_lossy", "sample_inputs", "sample_source", "sample_rate",
           "conventions")
SYNAPSES = (nir.Affine, nir.Linear, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)
NEURONS = (nir.CubaLIF, nir.LIF, nir.IF)


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
    i_decay: int = 0      # compute layers always set it (from the profile's decay_bits)
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
        elif isinstance(node, (nir.LI, nir.CubaLI)):
            raise unsupported(name, node, "no netx mapping for a non-spiking membrane readout",
                               "netx networks end in spiking neurons: train with model.readout = "
                               "\"spike-count\" (or export to nir)")
        else:
            raise unsupported(name, node, "no netx mapping",
                               "supported: Affine, Linear, Conv2d, Flatten, SumPool2d, AvgPool2d, "
                               "LIF, CubaLIF, IF (+ recurrent Affine/Linear self loop)")
    if pending:
        raise unsupported(pending[-1], nodes[pending[-1]], "graph ends without a spiking neuron",
                           "a non-spiking readout is not supported; end with LIF/CubaLIF/IF "
                           "(train with model.readout = \"spike-count\")")
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


BUDGET_KEYS = ("max_weight_rel_error", "max_zeroed_weight_share", "max_param_rel_error",
               "min_spike_agreement", "min_count_corr", "export_sample_size")
OUTLIER_RATIO = 10.0   # max|w| ≥ 10 × the 99th percentile of |w|: the scale is set by outliers


def _budgets(profile: Profile) -> dict[str, float]:
    """The profile's ``[fidelity]`` budgets; a profile without them (a user's) gets loihi2's."""
    base = None
    out = {}
    for key in BUDGET_KEYS:
        value = profile.criterion(key)
        if value is None:
            base = base or load_profile(DEFAULT_PROFILE)
            value = base.criterion(key)
        out[key] = float(value)
    return out


def _losses(lab, syn, info, k, v_th, vth_exact, wmax, typical, decays, dt, bud) -> list[str]:
    """One line per loss beyond budget: layer, what, cause, fix (weights first: they explain the rest)."""
    out: list[str] = []
    ratio = info["weight_max_over_p99"] or 0.0
    outlier = ratio >= OUTLIER_RATIO
    finetune = "or fine-tune with `neurodeploy train --init RUN --target loihi`"
    if outlier:
        cause = (f"the largest weight is {ratio:.0f}x the layer's typical magnitude (99th percentile "
                 f"of |w|) and sets the 8-bit scale")
        fix = f"clip outlier weights of {syn!r} (e.g. to {OUTLIER_RATIO:g}x the 99th percentile), {finetune}"
    elif info["scale_set_by"] == "threshold":
        cause = (f"v_threshold = {v_th:g} is {v_th / wmax:.3g}x the largest weight, so the 17-bit "
                 f"threshold mantissa forces scale k = {k:.3g}")
        fix = "scale v_threshold and the weights down together (the same spikes), or retrain with a smaller v_threshold"
    elif info["scale_set_by"] == "bias":
        cause = f"the bias/v_leak fills the 13-bit bias mantissa and forces scale k = {k:.3g}"
        fix = "reduce v_leak / the affine bias relative to the weights"
    else:
        cause = f"the weights span more than 8 bits resolve (max |w| = {ratio:.1f}x the 99th percentile)"
        fix = f"add weight regularisation, {finetune}"
    zs, err = info["zeroed_weight_share"], info["weight_rel_l2_error"]
    if zs >= 1.0:
        out.append(f"{lab}: every non-zero weight rounds to 0 (an all-zero layer) because {cause}; {fix}")
    elif zs > bud["max_zeroed_weight_share"]:
        out.append(f"{lab}: {zs:.0%} of non-zero weights round to 0 (budget "
                   f"{bud['max_zeroed_weight_share']:.0%}) because {cause}; {fix}")
    elif err > bud["max_weight_rel_error"]:
        out.append(f"{lab}: weight quantisation error {err:.1%} (budget {bud['max_weight_rel_error']:.0%}) "
                   f"because {cause}; {fix}")
    if vth_exact < 1:
        why = (f"the outlier weight sets the scale k = {k:.3g}; {fix}" if outlier else
               f"v_threshold = {v_th:g} is tiny next to the largest weight ({wmax:.3g}) at scale "
               f"k = {k:.3g}; raise v_threshold relative to the weights (scale the weights down)")
        out.append(f"{lab}: threshold mantissa k*v_threshold = {vth_exact:.3g} < 1 is clipped to 1 because {why}")
    elif (info["threshold_rel_error"] or 0) > bud["max_param_rel_error"]:
        out.append(f"{lab}: threshold mantissa rounds {vth_exact:.3g} with {info['threshold_rel_error']:.1%} "
                   f"error (budget {bud['max_param_rel_error']:.0%}) because {cause}; {fix}")
    for key, (val, lo, hi) in decays.items():
        tau = "tau_mem" if key == "vDecay" else "tau_syn"
        if not lo <= val <= hi:
            out.append(f"{lab}: {key} = {val} is outside [{lo}, {hi}] and is clipped because dt/{tau} "
                       f"is out of range; change {tau} or --dt")
    if info["decay_rel_error"] > bud["max_param_rel_error"]:
        one = decays["iDecay"][2]  # 2**decay_bits from the profile
        out.append(f"{lab}: a {one.bit_length() - 1}-bit decay rounds with {info['decay_rel_error']:.1%} "
                   f"error (budget {bud['max_param_rel_error']:.0%}; vDecay = {one}*dt/tau_mem, "
                   f"iDecay = {one}*dt/tau_syn, "
                   f"dt = {dt:g} s) because tau is long next to dt; use a larger dt or shorter tau")
    if info["bias_error_over_threshold"] > bud["max_param_rel_error"]:
        out.append(f"{lab}: bias rounding moves v by up to {info['bias_error_over_threshold']:.1%} of the "
                   f"threshold per step (budget {bud['max_param_rel_error']:.0%}) because the scale k = "
                   f"{k:.3g} leaves few bias steps per threshold; reduce v_threshold relative to the weights")
    return out


def _map_stage(graph, stage, cur, dt, profile: Profile, lossy: list[str], reset: str = "zero") -> list[NetLayer]:
    syn_names, nname, rname = stage
    nodes = graph.nodes
    out: list[NetLayer] = []
    delay, kind = None, None
    for sname in syn_names:
        if isinstance(nodes[sname], nir.Delay):
            delay = _delay_steps(sname, nodes[sname], cur, dt, kind, fixed_point(profile).delay_max)
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
        nname, node, cur, dt, reset)
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
    fp = fixed_point(profile)
    wmax = max(np.abs(w_eff).max(), 0.0 if w_rec is None else np.abs(w_rec).max())
    if wmax == 0:
        raise unsupported(syn, nodes[syn], "all weights are zero", "Lava cannot load an all-zero layer")
    cands = {"weights": fp.weight_max / wmax}
    if v_th > 0 and fp.threshold_mant_max is not None:  # None: not checked (said once by export)
        cands["threshold"] = fp.threshold_mant_max / v_th
    if np.abs(bias_f).max() > 0 and fp.bias_mant_max is not None:
        cands["bias"] = fp.bias_mant_max / np.abs(bias_f).max()
    binding = min(cands, key=cands.get)
    k = cands[binding]
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
    vth_exact = k * v_th
    vth = max(int(round(vth_exact)), 1)
    one = fp.decay_one  # 2**decay_bits (4096 for 12 bits)
    decays = {"iDecay": (round(one * beta), 1, one), "vDecay": (round(one * alpha), 0, one - 1)}
    dec = {key: int(min(max(val, lo), hi)) for key, (val, lo, hi) in decays.items()}
    bias_q = np.round(k * bias_f).astype(np.int64)
    pairs = [(w_eff, wq)] + ([] if w_rec is None else [(w_rec, wq_rec)])
    num = sum(np.sum((q / k - w) ** 2) for w, q in pairs)
    den = sum(np.sum(w ** 2) for w, _ in pairs)
    nonzero = sum(int(np.count_nonzero(w)) for w, _ in pairs)
    zeroed = sum(int(np.count_nonzero((w != 0) & (q == 0))) for w, q in pairs)
    mags = np.concatenate([np.abs(w[w != 0]).ravel() for w, _ in pairs])
    typical = float(np.percentile(mags, 99)) if mags.size else 0.0
    info = {"source_nodes": [*syn_names, nname] + ([rname] if rname else []), "neuron": nk,
            "alpha": alpha, "beta": beta, "weight_rel_l2_error": float(math.sqrt(num / den)),
            "zeroed_weight_share": zeroed / max(nonzero, 1), "scale_set_by": binding,
            "weight_max_over_p99": float(wmax / typical) if typical > 0 else None,
            "threshold_rel_error": abs(vth - vth_exact) / vth_exact if vth_exact > 0 else None,
            "alpha_effective": dec["vDecay"] / one, "beta_effective": dec["iDecay"] / one,
            "decay_rel_error": max(abs(dec["vDecay"] / one - alpha) / alpha if alpha > 0 else 0.0,
                                   abs(dec["iDecay"] / one - beta) / beta if beta > 0 else 0.0),
            "bias_error_over_threshold": (float(np.abs(bias_q - k * bias_f).max()) / max(vth_exact, 1e-300)
                                          if np.any(bias_f) else 0.0)}
    lossy += _losses(lab, syn, info, k, v_th, vth_exact, wmax, typical, decays, dt, _budgets(profile))
    out.append(NetLayer(kind, cur, lab, wq, wq_rec, bias_q if np.any(bias_q) else None, conv,
                        dec["iDecay"], dec["vDecay"], vth, float(k), info, delay))
    return out


def _delay_steps(name, node, shape, dt, kind, delay_max: int | None) -> np.ndarray:
    """A NIR Delay (seconds, per neuron) between a dense synapse and its neuron → steps
    0…delay_max (the profile's; ``None``: not checked)."""
    d = _arr(node.delay).reshape(-1) / dt
    steps = np.round(d)
    if kind != "dense" or d.size != int(np.prod(shape)):
        raise unsupported(name, node, f"delay of {d.size} values after a {kind} synapse with output "
                           f"{shape}", "netx delays are per neuron of a dense layer")
    top = "inf" if delay_max is None else delay_max
    if np.any(np.abs(d - steps) > 1e-6) or steps.min() < 0 or (delay_max is not None and steps.max() > delay_max):
        raise unsupported(name, node, f"delay/dt must be integers in [0, {top}], got [{d.min():g}, {d.max():g}]",
                           f"use whole-step delays of at most {top} steps")
    return steps.astype(np.int64)


def _recorded_scale(graph, neuron: str) -> float | None:
    """Per-layer scale k recorded by a reader (``loihi_layer_scale``: JSON {neuron node: k})."""
    raw = graph.metadata.get("loihi_layer_scale")
    if raw is None:
        return None
    table = json.loads(raw) if isinstance(raw, str) else dict(raw)
    return float(table[neuron]) if neuron in table else None


def _check_finite(graph: nir.NIRGraph) -> None:
    """NaN/inf in any weight or neuron parameter: refuse before any rounding hides it."""
    for name, node in graph.nodes.items():
        for attr, value in vars(node).items():
            if attr == "metadata" or isinstance(value, (dict, str)) or value is None:
                continue
            try:
                arr = _arr(value)
            except (TypeError, ValueError):
                continue
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            if bad:
                raise ConfigError(f"node {name!r}: {attr} has {bad} NaN/inf value(s) of {arr.size}; the "
                                  "source model is broken (diverged training?): retrain or fix the checkpoint")


def build_network(graph: nir.NIRGraph, dt_s: float | None = None, allow_lossy: bool = False,
                  profile: Profile | None = None, conventions: Conventions | None = None) -> LoihiNet:
    """Quantise ``graph`` into netx layers (no file written). ``lossy`` lists approximations;
    ``allow_lossy`` is only recorded here: :func:`export` raises on them unless allowed."""
    conv = of(graph, conventions, dt_s)  # version, dt and reset: ir/conventions.py
    dt = conv.dt_s
    profile = profile or load_profile(DEFAULT_PROFILE)
    _check_finite(graph)
    stages = _chain(graph)
    first = graph.nodes[next(n for n in stages[0][0] if not isinstance(graph.nodes[n], nir.Flatten))]
    cur = _input_shape(graph, first)
    lossy: list[str] = []
    layers: list[NetLayer] = []
    for stage in stages:
        layers += _map_stage(graph, stage, layers[-1].shape if layers else cur, dt, profile, lossy, conv.reset)
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
            "state_scale": f"v_fixed = {fixed_point(profile).state_scale} * scale_k * v_float", "layers": layers,
            "hardware_check": report.to_dict()}


def _options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"loihi target: unknown option(s) {unknown}; allowed: {', '.join(OPTIONS)}")
    return dict(options)


def _sample_inputs(graph: nir.NIRGraph, net: LoihiNet, opts: dict, n: int) -> tuple[np.ndarray, str]:
    """(N, T, *input_shape) binary spikes for the float-vs-fixed check, and where they came from."""
    given = opts.get("sample_inputs")
    if given is not None:
        x = np.asarray(given)
        where = opts.get("sample_source", "option sample_inputs")
        if x.ndim < 3 or int(np.prod(x.shape[2:])) != int(np.prod(net.input_shape)):
            raise DataError(f"{where}: per-step input shape {tuple(x.shape[2:])} does not fit the graph's "
                            f"input {net.input_shape}; expected (T, N, {', '.join(map(str, net.input_shape))}) "
                            "spikes (the option itself takes (N, T, ...))")
        x = x.reshape(x.shape[0], x.shape[1], *net.input_shape)[:n]
        if not np.isin(x, (0, 1)).all():
            raise DataError(f"{where}: Loihi input must be binary spikes {{0, 1}}")
        return x.astype(np.int8), str(opts.get("sample_source", f"{x.shape[0]} given samples"))
    steps = int(graph.metadata.get("time_steps", 16) or 16)
    rate = float(opts.get("sample_rate", 0.1))
    rng = np.random.default_rng(0)
    x = (rng.random((n, steps, *net.input_shape)) < rate).astype(np.int8)
    return x, f"{n} seeded random spike samples (rate {rate:g}, T = {steps}; no dataset)"


def sample_check(graph: nir.NIRGraph, net: LoihiNet, opts: dict, bud: dict) -> tuple[dict, list[str]]:
    """Float model vs the emulator of the quantised integers (written to a temporary file, never
    to the output) on a small sample. Returns (summary, loss lines beyond the budgets)."""
    import tempfile

    import torch

    from neurodeploy.targets.loihi.emulator import LoihiEmulator
    from neurodeploy.targets.loihi.verify import compare_layers, float_reference

    x, where = _sample_inputs(graph, net, opts, int(bud["export_sample_size"]))
    xt = torch.from_numpy(x).transpose(0, 1).contiguous()
    with tempfile.TemporaryDirectory(prefix="nd-loihi-check-") as tmp:
        path = Path(tmp) / "check.net"
        write_netx(net, path)
        emu = LoihiEmulator(path)
        padded = torch.cat([xt, torch.zeros((emu.latency, *xt.shape[1:]), dtype=xt.dtype)])
        fixed = emu.run(padded, record=True)
    _, f_layers = float_reference(graph, xt.to(torch.float32), net.dt_s)
    layers = compare_layers(f_layers, fixed.layers, xt.shape[0])
    names = [lay.name for lay in net.layers if lay.kind != "flatten"]
    losses = []
    for lay, name in zip(layers, names):
        agree, corr = lay["identical_spike_fraction"], lay["count_correlation"]
        corr_bad = (not lay["counts_equal"]) if corr is None else corr < bud["min_count_corr"]
        if agree < bud["min_spike_agreement"] or corr_bad:
            c = "undefined (constant counts)" if corr is None else f"{corr:.3f}"
            losses.append(f"{name}: float and fixed point agree on {agree:.1%} of spike bins (budget "
                          f"{bud['min_spike_agreement']:.0%}), count correlation {c} (budget "
                          f"{bud['min_count_corr']:g}) on {where}; the quantisation changes what this "
                          "layer computes: fine-tune with `neurodeploy train --init RUN --target loihi`")
    return {"inputs": where, "layers": [dict(lay, name=n) for lay, n in zip(layers, names)]}, losses


def _quant_text(net: LoihiNet) -> list[str]:
    lines = ["Quantisation per layer (budgets: profile [fidelity]):"]
    for lay in net.layers:
        if lay.kind == "flatten":
            continue
        i = lay.info
        thr = "n/a" if i["threshold_rel_error"] is None else f"{i['threshold_rel_error']:.2%}"
        lines.append(f"  {lay.name}: weight error {i['weight_rel_l2_error']:.2%}, zeroed weights "
                     f"{i['zeroed_weight_share']:.2%}, scale k = {lay.scale_k:.4g} (set by "
                     f"{i['scale_set_by']}), vThMant {lay.v_th_mant} (error {thr}), decay error "
                     f"{i['decay_rel_error']:.2%}, bias error {i['bias_error_over_threshold']:.2%} of threshold")
    return lines


def _decide(net: LoihiNet, report, allow_lossy: bool):
    """The export's decision: the error it raises (None = write). ``--check-only`` uses it too."""
    if net.lossy and not allow_lossy:
        more = f" (+{len(net.lossy) - 1} more lossy step(s): see `export --check-only`)" if len(net.lossy) > 1 else ""
        return LossyConversionError(f"{net.lossy[0]}{more}; or pass --allow-lossy to write it anyway")
    if not report.ok:
        return HardwareLimitError(f"profile {report.profile!r}: "
                                  + "; ".join(v.text() for v in report.violations))
    return None


def check_graph(graph: nir.NIRGraph, options: dict[str, Any] | None = None) -> tuple[str, dict]:
    """``--check-only``: quantise and check against the profile; return (text, dict)."""
    res = export(graph, Path("unused.net"), {**(options or {}), "check_only": True})
    return res.summary["text"], res.summary


def export(graph: nir.NIRGraph, out_path: Path, options: dict[str, Any]) -> ExportResult:
    """Export ``graph`` to ``out_path`` (netx HDF5) and ``<out_path>.manifest.json``.

    With ``check_only`` the same decision is made and nothing is written: the summary holds the
    text report (``text``) and the error the export would raise (``error``, None when it writes)."""
    opts = _options(options)
    profile = load_profile(opts.get("profile", DEFAULT_PROFILE))
    fp = fixed_point(profile)
    if fp.not_checked:  # said once per export: warning here, list in the summary and manifest
        warnings.warn(f"profile {profile.name!r} has no {', '.join(fp.not_checked)}: those limits are not "
                      "checked", stacklevel=2)
    allow = bool(opts.get("allow_lossy"))
    net = build_network(graph, opts.get("dt_s"), allow, profile, opts.get("conventions"))
    report = check_layers(hw_layers(net), profile)
    empty = [lay.name for lay in net.layers if lay.kind != "flatten" and not np.any(lay.weight)
             and (lay.weight_rec is None or not np.any(lay.weight_rec))]
    if empty:  # Lava (and so our emulator) cannot load an all-zero layer: nothing to sample
        sample = {"inputs": None, "layers": [], "skipped": f"all-zero layer(s) {', '.join(empty)}"}
    else:
        sample, sample_losses = sample_check(graph, net, opts, _budgets(profile))
        net.lossy += sample_losses
    error = _decide(net, report, allow)
    if empty and error is None:
        first = next((s for s in net.lossy if "all-zero layer" in s), f"{empty[0]}: every weight is 0")
        error = LossyConversionError(f"{first}; Lava cannot load an all-zero layer, so it is not written "
                                     "even with --allow-lossy")
    out_path = Path(out_path)
    summary = {"latency_steps": net.latency_steps, "total_cores": report.total_cores,
               "lossy_steps": list(net.lossy), "profile": profile.name, "fidelity_sample": sample,
               "limits_not_checked": list(fp.not_checked)}
    if opts.get("check_only"):
        lines = [report.to_text(), *_quant_text(net),
                 f"Float vs fixed point on {sample['inputs']}:" if sample["inputs"] else
                 f"Float vs fixed point: not sampled ({sample['skipped']})"]
        lines += [f"  {lay['name']}: {lay['identical_spike_fraction']:.2%} identical spike bins, count "
                  f"correlation " + ("n/a" if lay["count_correlation"] is None else f"{lay['count_correlation']:.4f}")
                  for lay in sample["layers"]]
        lines += [f"  lossy: {s}" for s in net.lossy]
        lines.append("Decision: " + ("write" + (" (lossy steps allowed)" if net.lossy else "")
                                     if error is None else f"refuse ({type(error).__name__})"))
        return ExportResult(out_path, (), {**report.to_dict(), **summary, "text": "\n".join(lines),
                                           "error": error})
    if error is not None:
        raise error
    write_netx(net, out_path)
    manifest = _manifest(net, graph, profile, report, out_path)
    manifest["fidelity"] = {"budgets": _budgets(profile), "sample": sample}
    manifest["limits_not_checked"] = list(fp.not_checked)
    mpath = out_path.with_name(out_path.name + ".manifest.json")
    write_text(mpath, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return ExportResult(out_path, (mpath,), summary)

