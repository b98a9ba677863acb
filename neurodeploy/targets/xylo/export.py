"""NIR graph → quantised Xylo specification (``.xylo.json``) plus ``<out>.manifest.json``.

Public API::

    export(graph, out_path, options) -> ExportResult
        options: dt_s (s), profile ("xylo-audio2" | "xylo-audio3" | "xylo-imu" | path.toml),
                 allow_lossy (bool), check_only (bool)
    build(graph, dt_s=None, profile=None) -> XyloNet       # mapped + quantised, nothing written
    check_graph(graph, options) -> (text, dict)

Mapping (docs/xylo.md). Input → Affine/Linear → CubaLIF (→ Affine/Linear → CubaLIF)* with an
optional Affine/Linear self-loop on hidden layers. With α = dt/τ_mem, β = dt/τ_syn per neuron, the
float network (forward Euler, as :mod:`neurodeploy.neurons.functional`)::

    i[t] = (1-β)·i[t-1] + β·w_in·(W x[t]);   v[t] = (1-α)·v[t-1] + α·r·i[t];   spike if v ≥ θ

equals Xylo's ``K[t] = I[t-1] + W' x[t]``, ``I[t] = (1-β)·K[t]``, ``V[t] = (1-α)·V[t-1] + I[t]``
exactly when ``β = 2^-dash_syn``, ``α = 2^-dash_mem`` (τ = 2^dash·dt) and, per target neuron j,
``W'[:, j] = k_j·β_j·w_in_j·W[j, :]``, ``θ_j = k_j·(1-β_j)/(α_j·r_j)·v_th_j``. The per-neuron scale
``k_j`` is Rockpool's own per-channel quantiser (``channel_quantize``: the largest |weight| into
each neuron becomes 127, thresholds scaled alike, 16-bit thresholds). Hidden layers are placed one
after the other in the hidden population (feed-forward weights between them go into the
recurrent matrix), the last neuron layer becomes the output neurons. Rockpool's ``mapper`` is not
used: it takes Rockpool modules, not NIR; its design rules are checked from the profile instead
(:mod:`.check`).

Lossy steps (refused unless ``allow_lossy``; printed and recorded in the manifest): time constants
not equal to 2^dash·dt (rounded), Affine biases and v_leak (dropped, as Rockpool's mapper does),
zero reset (Xylo subtracts θ), quantisation beyond the profile's ``[fidelity]`` budgets. Not lossy
but semantic (always recorded): integer truncation of the decays, and a hidden neuron emits
⌊V/θ⌋ ≤ 31 spikes in one step where the float model emits one (docs/xylo.md, "Multi-spike").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nir
import numpy as np

from neurodeploy.atomic import write_text
from neurodeploy.errors import (
    ConfigError,
    HardwareLimitError,
    LossyConversionError,
    UnsupportedNodeError,
)
from neurodeploy.hw_profiles.schema import Profile, load_profile
from neurodeploy.ir.conventions import Conventions, of
from neurodeploy.ir.graph import chain, unsupported
from neurodeploy.targets.base import ExportResult
from neurodeploy.targets.xylo import _rockpool
from neurodeploy.targets.xylo.check import CheckReport, Violation, check_spec
from neurodeploy.targets.xylo.spec import FORMAT_VERSION, write_spec

OPTIONS = ("dt_s", "profile", "check_only", "allow_lossy", "conventions")
SYNAPSES = (nir.Affine, nir.Linear)
BITS_PER_WEIGHT = 8
BITS_PER_THRESHOLD = 16


@dataclass
class XyloLayer:
    """One neuron layer of the source graph and where it sits on the chip."""

    name: str            # neuron node name
    synapse: str         # its input Affine/Linear node
    kind: str            # "hidden" | "output"
    first: int           # first hidden (or output) index
    size: int
    recurrent: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class XyloNet:
    spec: dict[str, Any] | None
    layers: list[XyloLayer]
    dt_s: float
    chip: str
    lossy: list[str] = field(default_factory=list)
    structure: list[Violation] = field(default_factory=list)
    semantics: list[str] = field(default_factory=list)

    @property
    def latency_steps(self) -> int:
        return max(len(self.layers) - 1, 0)


def _arr(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _vec(node, attr, n, default) -> np.ndarray:
    """A per-neuron parameter as a float vector (n,) (scalars broadcast; missing → default)."""
    v = getattr(node, attr, None)
    return np.broadcast_to(_arr(default if v is None else v).reshape(-1), (n,)).astype(np.float64)


def _walk(graph: nir.NIRGraph, structure: list[Violation]):
    """[(synapse name, neuron name, recurrent name | None)] along the chain."""
    nodes = graph.nodes
    order, rec = chain(graph)
    if not isinstance(nodes[order[-1]], nir.Output):
        raise UnsupportedNodeError("the chain from the Input node does not end in an Output node")
    stages, pending = [], None
    for name in order[1:-1]:
        node = nodes[name]
        if isinstance(node, nir.Flatten) and pending is None and not stages:
            continue  # MLP input: Flatten before the first weight is a no-op on 1-D input
        if isinstance(node, SYNAPSES):
            if pending is not None:
                structure.append(Violation(f"node {name!r}", f"follows weight layer {pending!r}",
                                           "no two consecutive weight layers",
                                           "put a spiking neuron layer between them, or merge the two matrices"))
                continue
            pending = name
        elif isinstance(node, (nir.CubaLIF, nir.LIF)):
            if pending is None:
                raise unsupported(name, node, "neuron without a preceding Affine/Linear",
                                   "Xylo layers are weights → neurons; add a Linear before it")
            stages.append((pending, name, rec.get(name)))
            pending = None
        elif isinstance(node, (nir.LI, nir.CubaLI)):
            raise unsupported(name, node, "a non-spiking membrane readout has no Xylo mapping (outputs spike)",
                               "train with model.readout = \"spike-count\", or export to target nir")
        else:
            raise unsupported(name, node, "no Xylo mapping",
                               "supported: Affine/Linear → CubaLIF (+ a recurrent Affine/Linear on hidden layers)")
    if pending is not None:
        raise unsupported(pending, nodes[pending], "graph ends with a weight layer",
                           "end with a spiking CubaLIF layer (Xylo's output neurons)")
    if not stages:
        raise UnsupportedNodeError("the graph has no Affine/Linear → CubaLIF layer")
    return stages


def _dash(tau: np.ndarray, dt: float, what: str, where: str, budget: float, lossy: list[str]) -> np.ndarray:
    ratio = tau / dt
    if np.any(ratio < 2 - 1e-9) if what == "tau_syn" else np.any(ratio < 1 - 1e-9):
        low = float(ratio.min())
        raise ConfigError(f"{where}: {what}/dt = {low:g}; Xylo needs {what} ≥ "
                          f"{'2' if what == 'tau_syn' else '1'}·dt (τ = 2^dash·dt, dash ≥ "
                          f"{'1' if what == 'tau_syn' else '0'}): retrain with a longer {what} or a shorter dt")
    dash = np.round(np.log2(ratio)).astype(np.int64)
    err = np.abs(2.0 ** -dash - 1 / ratio) * ratio  # relative error of dt/tau
    if err.max() > budget:
        i = int(err.argmax())
        lossy.append(f"{where}: {what} = {tau[i]:g} s is not 2^dash·dt (dt = {dt:g} s); rounded to "
                     f"{2.0 ** dash[i] * dt:g} s (dash {dash[i]}, decay error {err[i]:.2%}); fix: train with "
                     f"{what} = 2^n·dt ([model] {what}_s), e.g. {2.0 ** dash[i] * dt:g}")
    return dash


def build(graph: nir.NIRGraph, dt_s: float | None = None, profile: Profile | None = None,
          conventions: Conventions | None = None) -> XyloNet:
    """Map and quantise ``graph`` (nothing written); dt and reset from ``conventions`` (the
    source's, resolved once: :mod:`neurodeploy.ir.conventions`), else from the graph."""
    profile = profile or load_profile("xylo-audio2")
    chip = _rockpool.CHIP_PACKAGES.get(profile.name, "syns61201")
    conv = of(graph, conventions, dt_s)
    dt = conv.dt_s
    budget = float(profile.criterion("max_param_rel_error") or 1e-3)
    structure: list[Violation] = []
    lossy: list[str] = []
    semantics: list[str] = []
    stages = _walk(graph, structure)
    nodes = graph.nodes
    if conv.reset == "zero":
        lossy.append("all layers: reset 'zero' becomes Xylo's subtract reset (v ← v − θ); fix: train "
                     "with [model] reset = \"subtract\"")
    floats = []  # per layer: (W' (n_pre, n), Wrec' or None, theta', dashes)
    for li, (syn, neu, rec) in enumerate(stages):
        node, snode = nodes[neu], nodes[syn]
        where = f"layer {neu!r}"
        if isinstance(node, nir.LIF):
            raise unsupported(neu, node, "LIF without a synaptic current",
                               "Xylo neurons always filter their input current (dash_syn ≥ 1): "
                               "train with [model] neuron = \"cuba_lif\" and tau_syn_s = 2^n·dt")
        w = _arr(snode.weight)
        n = int(w.shape[0])
        if isinstance(snode, nir.Affine) and snode.bias is not None and np.any(_arr(snode.bias) != 0):
            lossy.append(f"{where}: the bias of {syn!r} is dropped (Xylo's mapper has no synaptic bias); "
                         "fix: train with [model] bias = false")
        if np.any(_vec(node, "v_leak", n, 0.0) != 0):
            lossy.append(f"{where}: v_leak is dropped (Xylo neurons leak to 0); fix: train with v_leak = 0")
        if np.any(_vec(node, "v_reset", n, 0.0) != 0):
            raise unsupported(neu, node, "v_reset != 0", "Xylo resets by subtracting θ; retrain with v_reset = 0")
        tau_mem, tau_syn = _vec(node, "tau_mem", n, 0.0), _vec(node, "tau_syn", n, 0.0)
        dm = _dash(tau_mem, dt, "tau_mem", where, budget, lossy)
        ds = _dash(tau_syn, dt, "tau_syn", where, budget, lossy)
        alpha, beta = 2.0 ** -dm, 2.0 ** -ds
        gain = beta * _vec(node, "w_in", n, 1.0)
        r = _vec(node, "r", n, 1.0)
        theta = (1 - beta) / (alpha * r) * _vec(node, "v_threshold", n, 1.0)
        wrec = None
        if rec is not None:
            wrec = _arr(nodes[rec].weight).T * gain[None, :]
            if isinstance(nodes[rec], nir.Affine) and nodes[rec].bias is not None and np.any(_arr(nodes[rec].bias) != 0):
                lossy.append(f"{where}: the bias of recurrent {rec!r} is dropped; fix: train with [model] bias = false")
            if li == len(stages) - 1:
                structure.append(Violation(f"output layer {neu!r}", "recurrent", "output neurons not recurrent",
                                           "make the recurrent layer a hidden layer and add a non-recurrent output layer"))
        floats.append((w.T * gain[None, :], wrec, theta, dm, ds))
    n_in = int(floats[0][0].shape[0])
    hidden = floats[:-1]
    h = sum(int(f[0].shape[1]) for f in hidden)
    layers, first = [], 0
    for (syn, neu, rec), f in zip(stages[:-1], hidden):
        layers.append(XyloLayer(neu, syn, "hidden", first, int(f[0].shape[1]), rec))
        first += int(f[0].shape[1])
    out = floats[-1]
    layers.append(XyloLayer(stages[-1][1], stages[-1][0], "output", 0, int(out[0].shape[1])))
    if not hidden:
        structure.append(Violation("neuron layers", "1", "≥ 2",
                                   "add a hidden layer: Xylo needs input → hidden neurons → output neurons"))
        return XyloNet(None, layers, dt, chip, lossy, structure, semantics)
    w_in = np.zeros((n_in, h))
    w_rec = np.zeros((h, h))
    w_in[:, :hidden[0][0].shape[1]] = hidden[0][0]
    for li, (lay, f) in enumerate(zip(layers[:-1], hidden)):
        sl = slice(lay.first, lay.first + lay.size)
        if li > 0:
            prev = layers[li - 1]
            w_rec[prev.first:prev.first + prev.size, sl] = f[0]
        if f[1] is not None:
            w_rec[sl, sl] = f[1]
    last = layers[-2]
    w_out = np.zeros((h, out[0].shape[1]))
    w_out[last.first:last.first + last.size] = out[0]
    cat = lambda i: np.concatenate([f[i] for f in hidden])  # noqa: E731
    fspec = {"weights_in": w_in, "weights_rec": w_rec, "weights_out": w_out, "threshold": cat(2),
             "threshold_out": out[2], "dash_mem": cat(3), "dash_syn": cat(4), "dash_syn_2": np.zeros(h),
             "dash_mem_out": out[3], "dash_syn_out": out[4]}
    spec = quantise(fspec)
    spec.update(bias=np.zeros(h, np.int64), bias_out=np.zeros(len(out[2]), np.int64), weight_shift_in=0,
                weight_shift_rec=0, weight_shift_out=0, dt=dt)
    if not np.any(w_rec):
        spec["weights_rec"] = np.zeros((h, h), np.int64)
    _quant_info(fspec, spec, layers, profile, lossy)
    semantics.append("hidden neurons may emit up to 31 spikes per step (⌊V/θ⌋, subtract reset) where the "
                     "float network emits one; the float model equals the chip while V < 2θ")
    semantics.append("decays truncate toward −∞ (a − (a >> dash)); a positive state whose shift is 0 still loses 1")
    return XyloNet(spec, layers, dt, chip, lossy, structure, semantics)


def quantise(fspec: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per-neuron 8-bit weights and 16-bit thresholds by Rockpool's ``channel_quantize``."""
    if not _rockpool.available():
        raise ConfigError(f"the xylo target needs {_rockpool.MISSING}")
    from rockpool.transform.quantize_methods import channel_quantize

    q = channel_quantize(**fspec, bits_per_weight=BITS_PER_WEIGHT, bits_per_threshold=BITS_PER_THRESHOLD)
    h = fspec["weights_in"].shape[1]
    return {"weights_in": np.asarray(q["weights_in"]).reshape(-1, h).astype(np.int64),
            "weights_rec": np.asarray(q["weights_rec"]).reshape(h, h).astype(np.int64),
            "weights_out": np.asarray(q["weights_out"]).astype(np.int64),
            **{k: np.asarray(q[k]).astype(np.int64) for k in
               ("threshold", "threshold_out", "dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2", "dash_syn_out")}}


def _scales(wf: np.ndarray, wq: np.ndarray) -> np.ndarray:
    """Per target neuron (column) scale k = int / float from the largest float weight."""
    j = np.abs(wf).argmax(0)
    top = wf[j, np.arange(wf.shape[1])]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(top != 0, wq[j, np.arange(wf.shape[1])] / np.where(top == 0, 1, top), 1.0)


def _quant_info(fspec, spec, layers, profile, lossy) -> None:
    """Per layer: weight error, zeroed share, threshold error; losses beyond budget → lossy."""
    wmax = float(profile.criterion("max_weight_rel_error") or 0.1)
    zmax = float(profile.criterion("max_zeroed_weight_share") or 0.25)
    pmax = float(profile.criterion("max_param_rel_error") or 1e-3)
    hid_f = np.concatenate([fspec["weights_in"], fspec["weights_rec"]])
    hid_q = np.concatenate([spec["weights_in"], spec["weights_rec"]]).astype(np.float64)
    for lay in layers:
        sl = slice(lay.first, lay.first + lay.size)
        if lay.kind == "hidden":
            wf, wq, tf, tq = hid_f[:, sl], hid_q[:, sl], fspec["threshold"][sl], spec["threshold"][sl]
        else:
            wf, wq = fspec["weights_out"], spec["weights_out"].astype(np.float64)
            tf, tq = fspec["threshold_out"], spec["threshold_out"]
        k = _scales(wf, wq)
        back = wq / k[None, :]
        nz = wf != 0
        err = float(np.linalg.norm(back - wf) / max(np.linalg.norm(wf), 1e-300))
        zeroed = float(((wq == 0) & nz).sum() / max(nz.sum(), 1))
        th_err = float(np.max(np.abs(tq / k - tf) / np.abs(tf))) if len(tf) else 0.0
        lay.info = {"weight_rel_l2_error": err, "zeroed_weight_share": zeroed, "threshold_rel_error": th_err,
                    "scale_min": float(k.min()), "scale_max": float(k.max())}
        if err > wmax or zeroed > zmax:
            lossy.append(f"layer {lay.name!r}: 8-bit per-neuron weights lose {err:.1%} (relative L2) and zero "
                         f"{zeroed:.1%} of the non-zero weights (budgets {wmax:.0%} / {zmax:.0%}); fix: clip "
                         "outlier weights or fine-tune with `neurodeploy train --target xylo`")
        if th_err > max(pmax, 0.5 / max(float(tq.min()) if len(tq) else 1.0, 1.0)):
            lossy.append(f"layer {lay.name!r}: 16-bit thresholds change by up to {th_err:.1%}; fix: scale "
                         "v_threshold and the weights closer together")


def _options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"xylo target: unknown option(s) {unknown}; allowed: {', '.join(OPTIONS)}")
    return dict(options)


def check_net(net: XyloNet, profile: Profile) -> CheckReport:
    """Structure violations found while mapping plus every limit of the profile."""
    if net.spec is None:
        rep = CheckReport(profile.name)
    else:
        rep = check_spec(net.spec, len(net.layers), profile)
    rep.violations[:0] = net.structure
    return rep


def _decide(net: XyloNet, report: CheckReport, allow_lossy: bool):
    if not report.ok:
        return HardwareLimitError(f"profile {report.profile!r}: " + "; ".join(v.text() for v in report.violations))
    if net.lossy and not allow_lossy:
        more = f" (+{len(net.lossy) - 1} more lossy step(s): see `export --check-only`)" if len(net.lossy) > 1 else ""
        return LossyConversionError(f"{net.lossy[0]}{more}; or pass --allow-lossy to write it anyway")
    return None


def _graph_hash(graph: nir.NIRGraph) -> str:
    h = hashlib.sha256()
    for name in sorted(graph.nodes):
        node = graph.nodes[name]
        h.update(f"{name}:{type(node).__name__}".encode())
        for attr in sorted(vars(node)):
            value = getattr(node, attr)
            if hasattr(value, "shape") or isinstance(value, (list, tuple)):
                h.update(np.ascontiguousarray(np.asarray(value, dtype=np.float64)).tobytes())
    h.update(json.dumps(sorted(map(list, graph.edges))).encode())
    return h.hexdigest()


def check_graph(graph: nir.NIRGraph, options: dict[str, Any] | None = None) -> tuple[str, dict]:
    res = export(graph, Path("unused.xylo.json"), {**(options or {}), "check_only": True})
    return res.summary["text"], res.summary


def _text(net: XyloNet, report: CheckReport, error) -> str:
    lines = [report.to_text(), "Layers:"]
    for lay in net.layers:
        i = lay.info
        q = (f", weight error {i['weight_rel_l2_error']:.2%}, zeroed {i['zeroed_weight_share']:.2%}, "
             f"threshold error {i['threshold_rel_error']:.2%}") if i else ""
        lines.append(f"  {lay.name}: {lay.kind} neurons {lay.first}..{lay.first + lay.size - 1}"
                     + (" (recurrent)" if lay.recurrent else "") + q)
    lines += [f"  lossy: {s}" for s in net.lossy]
    lines += [f"  note: {s}" for s in net.semantics]
    lines.append("Decision: " + ("write" + (" (lossy steps allowed)" if net.lossy else "")
                                 if error is None else f"refuse ({type(error).__name__})"))
    return "\n".join(lines)


def export(graph: nir.NIRGraph, out_path: Path, options: dict[str, Any]) -> ExportResult:
    """Write ``out_path`` (the specification) and ``<out_path>.manifest.json`` atomically."""
    opts = _options(options)
    profile = load_profile(opts.get("profile", "xylo-audio2"))
    allow = bool(opts.get("allow_lossy"))
    net = build(graph, opts.get("dt_s"), profile, opts.get("conventions"))
    report = check_net(net, profile)
    error = _decide(net, report, allow)
    out_path = Path(out_path)
    summary = {"latency_steps": net.latency_steps, "lossy_steps": list(net.lossy), "profile": profile.name,
               "chip": net.chip, "semantics": list(net.semantics),
               "layers": [{"name": lay.name, "kind": lay.kind, "first": lay.first, "size": lay.size,
                           "recurrent": lay.recurrent is not None, **lay.info} for lay in net.layers]}
    if opts.get("check_only"):
        return ExportResult(out_path, (), {**report.to_dict(), **summary,
                                           "text": _text(net, report, error), "error": error})
    if error is not None:
        raise error
    meta = {"chip": net.chip, "profile": profile.name, "dt_s": net.dt_s, "latency_steps": net.latency_steps,
            "layers": [{k: summary["layers"][i][k] for k in ("name", "kind", "first", "size", "recurrent")}
                       for i in range(len(net.layers))]}
    write_spec(out_path, net.spec, meta)
    manifest = {"format_version": FORMAT_VERSION, "target": "xylo", "artefact": out_path.name,
                "source_graph_sha256": _graph_hash(graph), "allow_lossy": allow, **summary,
                "check": report.to_dict(), "profile_path": profile.path,
                "quantiser": "rockpool.transform.quantize_methods.channel_quantize (8-bit weights, 16-bit thresholds)"}
    mpath = out_path.with_name(out_path.name + ".manifest.json")
    write_text(mpath, json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    return ExportResult(out_path, (mpath,), summary)


__all__ = ["XyloLayer", "XyloNet", "build", "check_graph", "export", "quantise"]
