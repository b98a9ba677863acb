"""Price a convention's counts with hardware profiles: :func:`energy_report` → :class:`EnergyReport`.

Energies are in picojoules per inference (one sample, all T steps). A category whose count is
non-zero but whose cost the profile lacks is *unknown*: the report lists it and gives the known
part separately; the total and the SNN/ANN ratio are then ``None``, never a silently low number.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from neurodeploy.energy.activity import Activity
from neurodeploy.energy.conventions import CATEGORY_COSTS, CONVENTIONS, Counts, LayerCounts
from neurodeploy.errors import ConfigError
from neurodeploy.hw_profiles.schema import Profile

FORMAT_VERSION = 1
DEFAULT_WORD_BITS = 32


@dataclass(frozen=True)
class EnergyReport:
    """Energy estimate of one network on one dataset under one convention, for ≥ 1 profiles.

    ``layers``: per synaptic/spiking layer, per-inference counts (SNN and ANN) and energies per
    profile. ``totals``: per profile, ``snn_pj`` / ``ann_pj`` (``None`` when some cost is
    unknown), the known parts, the unknown categories and ``ratio`` = SNN / ANN. ``neurons``:
    firing statistics per spiking layer (rates in spikes per neuron per step).
    """

    convention: str
    convention_description: str
    assumptions: tuple[str, ...]
    profiles: tuple[dict, ...]
    n_samples: int
    time_steps: int
    dt_s: float
    input_binary: bool
    layers: tuple[dict, ...]
    totals: dict
    neurons: tuple[dict, ...]
    op_totals: dict = field(default_factory=dict)
    convention_metrics: dict = field(default_factory=dict)
    training: tuple[dict, ...] = ()
    meta: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        """JSON-able dict (numpy scalars and arrays converted, NaN/inf as ``None``)."""
        return _jsonable(dataclasses.asdict(self))


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def _price(counts: dict[str, float], profile: Profile) -> tuple[float, list[str]]:
    """(known pJ, unknown categories) of one layer's counts under ``profile``."""
    known, unknown = 0.0, []
    for cat, n in counts.items():
        if not n:
            continue
        key, bits_key = CATEGORY_COSTS[cat]
        cost = profile.cost(key)
        if cost is None:
            unknown.append(cat)
            continue
        bits = (profile.limit(bits_key) or DEFAULT_WORD_BITS) if bits_key else 1
        known += n * cost * bits
    return known, unknown


def _scale_ann(ann: LayerCounts, a: Activity, density: float) -> LayerCounts:
    first = a.synapses[0].name if a.synapses else None
    return {k: ({c: v * density for c, v in d.items()} if k != first else dict(d)) for k, d in ann.items()}


def _neuron_rows(a: Activity) -> tuple[dict, ...]:
    rows = []
    n, t = a.n_samples, a.time_steps
    for nu in a.neurons:
        if not nu.spiking:  # a membrane readout: no firing rate, not "silent"; its updates are in the metrics
            continue
        per_neuron = [s / (t * n) for s in nu.spikes_per_neuron]
        rate = nu.rate(n)
        rows.append({
            "name": nu.name, "kind": nu.kind, "shape": list(nu.shape), "neurons": nu.neurons,
            "firing_rate": rate, "activation_sparsity": 1.0 - rate,
            "rate_per_step": [s / (nu.neurons * n) for s in nu.spikes_per_step],
            "rate_per_neuron": per_neuron,
            "spikes_per_inference": sum(nu.spikes_per_step) / n,
            "dead": sum(1 for r in per_neuron if r == 0.0),
            "saturated": sum(1 for r in per_neuron if r >= 1.0),
            "membrane_updates_per_inference": sum(nu.membrane_updates_per_step) / n,
            "raster_sample0": nu.raster, "raster_neurons": nu.raster_neurons,
        })
    return tuple(rows)


def _profile_row(p: Profile) -> dict:
    return {"name": p.name, "description": p.description, "path": p.path,
            "costs": {k: dataclasses.asdict(q) for k, q in p.costs.items()},
            "limits": {k: dataclasses.asdict(q) for k, q in p.limits.items()}}


def energy_report(activity: Activity, profiles: list[Profile], convention: str = "fanout",
                  metrics: list[dict] | None = None, meta: dict | None = None,
                  ann_density: float | None = None) -> EnergyReport:
    """Price ``activity`` counted under ``convention`` with each of ``profiles``.

    ``metrics``: training history rows (``read_metrics(run_dir)``) shown as curves. ``meta``:
    free-form provenance (source, samples …). ``ann_density``: if given (0 < d ≤ 1), the ANN
    baseline's MACs after its first layer are scaled by this activation density (fraction of
    non-zero ReLU outputs, an assumption); default: dense ANN.
    """
    if not profiles:
        raise ConfigError("energy_report needs at least one profile (e.g. load_profile('cmos45-fp32'))")
    if ann_density is not None and not 0 < ann_density <= 1:
        raise ConfigError(f"ann_density must be in (0, 1], got {ann_density}")
    conv = CONVENTIONS.get(convention)
    counts: Counts = conv.count(activity)
    ann = counts.ann if ann_density is None else _scale_ann(counts.ann, activity, ann_density)
    assumptions = list(counts.assumptions)
    assumptions.append("ANN baseline: same architecture with ReLU, evaluated once per inference "
                       + ("(dense: every connection a MAC)" if ann_density is None else
                          f"with activation density {ann_density:g} after the first layer (assumed)"))
    kinds = {s.name: s.kind for s in activity.synapses} | {nu.name: nu.kind for nu in activity.neurons}
    layers, totals = [], {}
    for p in profiles:
        totals[p.name] = {"snn_pj_known": 0.0, "ann_pj_known": 0.0, "snn_unknown": [], "ann_unknown": []}
    for name in list(dict.fromkeys([*counts.snn, *ann])):
        row = {"name": name, "kind": kinds.get(name, "?"), "snn": counts.snn.get(name, {}),
               "ann": ann.get(name, {}), "energy_pj": {}}
        for p in profiles:
            tot = totals[p.name]
            e_snn, u_snn = _price(row["snn"], p)
            e_ann, u_ann = _price(row["ann"], p)
            row["energy_pj"][p.name] = {"snn": None if u_snn else e_snn, "ann": None if u_ann else e_ann,
                                        "snn_known": e_snn, "ann_known": e_ann,
                                        "unknown": sorted(set(u_snn) | set(u_ann))}
            tot["snn_pj_known"] += e_snn
            tot["ann_pj_known"] += e_ann
            tot["snn_unknown"] = sorted(set(tot["snn_unknown"]) | set(u_snn))
            tot["ann_unknown"] = sorted(set(tot["ann_unknown"]) | set(u_ann))
        layers.append(row)
    for p in profiles:
        tot = totals[p.name]
        tot["snn_pj"] = None if tot["snn_unknown"] else tot["snn_pj_known"]
        tot["ann_pj"] = None if tot["ann_unknown"] else tot["ann_pj_known"]
        ok = tot["snn_pj"] is not None and tot["ann_pj"]
        tot["ratio"] = tot["snn_pj"] / tot["ann_pj"] if ok else None
        tot["unknown_costs"] = sorted({CATEGORY_COSTS[c][0] for c in tot["snn_unknown"] + tot["ann_unknown"]})
        used = {c for r in layers for d in (r["snn"], r["ann"]) for c, v in d.items() if v}
        if any(CATEGORY_COSTS[c][1] and p.limit(CATEGORY_COSTS[c][1]) is None for c in used):
            assumptions.append(f"profile {p.name}: memory words of {DEFAULT_WORD_BITS} bits (no bit width given)")
    if any(t["snn_unknown"] or t["ann_unknown"] for t in totals.values()):
        assumptions.append("costs missing from a profile are unknown, not zero: their totals are reported as unknown")
    assumptions.append("static power × latency is not included")
    op_totals = {"snn": _cat_totals(counts.snn), "ann": _cat_totals(ann)}
    return EnergyReport(
        convention=conv.name, convention_description=conv.description, assumptions=tuple(assumptions),
        profiles=tuple(_profile_row(p) for p in profiles), n_samples=activity.n_samples,
        time_steps=activity.time_steps, dt_s=activity.dt_s, input_binary=activity.input_binary,
        layers=tuple(layers), totals=totals, neurons=_neuron_rows(activity), op_totals=op_totals,
        convention_metrics=dict(counts.metrics), training=tuple(metrics or ()), meta=dict(meta or {}))


def _cat_totals(counts: LayerCounts) -> dict[str, float]:
    out: dict[str, float] = {}
    for d in counts.values():
        for c, v in d.items():
            out[c] = out.get(c, 0.0) + v
    return out
