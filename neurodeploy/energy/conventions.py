"""Counting conventions: :class:`Activity` → operation counts per layer and per inference.

A convention turns the measured activity into counts by *category* (``ac``, ``mac``,
``neuron_update``, memory words, …) for the SNN and for the ANN of the same architecture; the
report prices each category with a profile cost (:data:`CATEGORY_COSTS`). Conventions are kept
in a :class:`~neurodeploy.registry.Registry` (entry-point group
``neurodeploy.energy_conventions``); a plugin registers a :class:`Convention`.

All counts are per inference (per sample, over all T steps). The ANN baseline is the same
architecture with ReLU activations evaluated **once** per inference (not T times): every
Linear/Conv2d/recurrent connection is one MAC, zero weights included (Wang et al., ASGL, eq. 30), bias not
counted; a SumPool2d window element is one addition priced as an AC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from neurodeploy.energy.activity import Activity, SynapseActivity
from neurodeploy.registry import Registry

#: category → (profile cost key, profile limit giving the bits per word or None)
CATEGORY_COSTS: dict[str, tuple[str, str | None]] = {
    "ac": ("e_ac_pj", None),
    "mac": ("e_mac_pj", None),
    "neuron_update": ("e_neuron_update_pj", None),
    "spikes": ("e_spike_route_pj", None),
    "weight_reads": ("e_mem_read_pj_per_bit", "weight_bits"),
    "state_reads": ("e_mem_read_pj_per_bit", "state_bits"),
    "state_writes": ("e_mem_write_pj_per_bit", "state_bits"),
    "act_reads": ("e_mem_read_pj_per_bit", "weight_bits"),
    "act_writes": ("e_mem_write_pj_per_bit", "weight_bits"),
}

LayerCounts = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Counts:
    """Per-inference counts: layer name → category → count, for the SNN and its ANN."""

    snn: LayerCounts
    ann: LayerCounts
    assumptions: tuple[str, ...]
    metrics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Convention:
    """A named counting rule with a one-line description and its counting function."""

    name: str
    description: str
    count: Callable[[Activity], Counts]


CONVENTIONS: Registry[Convention] = Registry("energy convention", "neurodeploy.energy_conventions")


def _sum(values: list[float]) -> float:
    return float(sum(values))


def _dense_ann(a: Activity, include_pool: bool = True) -> LayerCounts:
    """The ANN baseline: Σ_i f_i MACs per layer once per inference (pooling adds as ACs)."""
    out: LayerCounts = {}
    for s in a.synapses:
        if s.kind == "sumpool2d":
            if include_pool:
                out[s.name] = {"ac": float(s.dense_per_step)}
        else:
            out[s.name] = {"mac": float(s.dense_per_step)}
    return out


def _fanout_snn(a: Activity, s: SynapseActivity) -> dict[str, float]:
    """Seed 004: N_AC = Σ_t Σ_i f_i·s_i[t]; analog-input steps cost Σ_i f_i MACs each."""
    n = a.n_samples
    ac = _sum(s.fan_ac) / n
    if s.kind == "sumpool2d":
        return {"ac": ac + _sum(s.fan_mac) / n}
    return {"ac": ac, "mac": _sum(s.analog_samples) * s.dense_per_step / n}


def fanout(a: Activity) -> Counts:
    snn = {s.name: _fanout_snn(a, s) for s in a.synapses}
    return Counts(snn, _dense_ann(a), (
        "Wang et al., ASGL (ICML 2023), appendix B.2: N_AC = Σ_t Σ_l Σ_i fanout_i·s_i[t], fanout counting every "
        "connection (zero weights included), bias not counted",
        "a step whose input is not in {−1, 0, 1} (analog, e.g. direct-coded first layer or after "
        "SumPool2d) costs Σ_i fanout_i MACs (dense, every step)",
        "SumPool2d: one addition per non-zero input element in a window, priced as an AC",
        "neuron updates and memory traffic are not counted in this convention",
    ))


def neurobench_metrics(a: Activity) -> dict[str, float]:
    """NeuroBench 2.3 SynapticOperations, ActivationSparsity and MembraneUpdates (per sample)."""
    n, t = a.n_samples, a.time_steps
    syn = [s for s in a.synapses if s.kind != "sumpool2d"]
    ac = sum(sum(s.eff_ac) for s in syn)
    mac = sum(sum(s.eff_mac) for s in syn)
    dense = sum(s.dense_per_step for s in syn) * t * n
    spiking = [nu for nu in a.neurons if nu.spiking]  # a non-spiking readout has no activations to be zero
    spikes = sum(sum(nu.spikes_per_step) for nu in spiking)
    total = sum(nu.neurons for nu in spiking) * t * n
    mem = sum(sum(nu.membrane_updates_per_step) for nu in a.neurons)
    return {"Effective_MACs": mac / n, "Effective_ACs": ac / n, "Dense": dense / n,
            "ActivationSparsity": (total - spikes) / total if total else 0.0,
            "MembraneUpdates": mem / n}


def neurobench(a: Activity) -> Counts:
    n = a.n_samples
    snn = {s.name: {"ac": _sum(s.eff_ac) / n, "mac": _sum(s.eff_mac) / n}
           for s in a.synapses if s.kind != "sumpool2d"}
    return Counts(snn, _dense_ann(a, include_pool=False), (
        "NeuroBench 2.3 SynapticOperations: per Linear/Conv2d/recurrent call, ops = Σ [x≠0]·[w≠0] "
        "(zero weights skipped, bias and pooling not counted); AC iff every input of the call is "
        "in {−1, 0, 1}, else MAC; per sample over all T",
        "NeuroBench decides AC/MAC per forward call (a whole batch at one step); here per sample "
        "and step — identical whenever a batch's inputs at a step are all binary or all analog",
        "energy prices synaptic operations only (NeuroBench itself reports no joules); membrane "
        "updates are given as a metric",
        "ANN baseline: NeuroBench Dense of one step (every connection, padding taps excluded)",
    ), neurobench_metrics(a))


def rate_flops(a: Activity) -> Counts:
    """Spikformer-style: E = E_MAC·FLOPs_first + E_AC·Σ_l fr_l·T·FLOPs_l."""
    n, t = a.n_samples, a.time_steps
    snn: LayerCounts = {}
    for i, s in enumerate(a.synapses):
        flops = float(s.dense_per_step)
        analog_steps = _sum(s.analog_samples) / n
        rate = _sum(s.events) / max(s.inputs * t * n, 1)
        if analog_steps and s.kind != "sumpool2d":
            once = i == 0 and a.static_input
            snn[s.name] = {"mac": flops * (1 if once else analog_steps), "ac": _sum(s.fan_ac) / n}
        else:
            snn[s.name] = {"ac": rate * t * flops}
    return Counts(snn, _dense_ann(a), (
        "Spikformer-style: SOP_l = fr_l · T · FLOPs_l with fr_l the mean fraction of non-zero "
        "inputs of layer l and FLOPs_l its dense MACs (zero weights included); priced as ACs",
        "a layer with analog input costs FLOPs_l MACs per analog step; the first layer with a "
        "static (direct-coded) input costs FLOPs_1 MACs once; binary steps of such a layer count "
        "Σ_i f_i·s_i[t] ACs",
    ))


def memory(a: Activity) -> Counts:
    """Lemaire et al. (ICONIP 2022)-style: operations plus memory words read and written."""
    base = fanout(a)
    t = a.time_steps
    snn: LayerCounts = {k: dict(v) for k, v in base.snn.items()}
    for s in a.synapses:
        ops = sum(snn[s.name].values())
        snn[s.name].update(weight_reads=ops, state_reads=ops, state_writes=ops)
    for nu in a.neurons:
        upd = float(nu.neurons * t)
        snn[nu.name] = {"neuron_update": upd, "state_reads": upd * nu.state_vars,
                        "state_writes": upd * nu.state_vars,
                        "spikes": _sum(nu.spikes_per_step) / a.n_samples}
    ann: LayerCounts = {k: dict(v) for k, v in _dense_ann(a).items()}
    for s in a.synapses:
        ops = sum(ann[s.name].values())
        outs = float(_prod(s.out_shape))
        ann[s.name].update(weight_reads=ops, act_reads=ops, act_writes=outs)
    return Counts(snn, ann, (
        "Lemaire-style memory model: each synaptic op reads its weight and reads and writes the "
        "target neuron's potential (event-driven, zero weights included as in 'fanout')",
        "every neuron is updated every step (clock-driven leak): one update plus a read and a "
        "write of each state variable (v; v and i for CubaLIF); each spike is routed once "
        "(priced with e_spike_route_pj)",
        "ANN: each MAC reads a weight and an input activation; each output activation is written "
        "once; ReLU and bias are free",
        "a word is the profile's weight_bits / state_bits wide, 32 bits where the profile gives none",
        "static power × latency is not included",
    ))


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for d in shape:
        out *= int(d)
    return out


for _name, _desc, _fn in (
    ("fanout", "fanout × spikes as accumulates (AC), analog input as dense multiply-accumulates (MAC); Wang et al., ASGL (ICML 2023), appendix B.2", fanout),
    ("neurobench", "NeuroBench 2.3 effective synaptic operations (zero weights skipped)", neurobench),
    ("rate-flops", "Spikformer-style: firing rate × T × dense FLOPs", rate_flops),
    ("memory", "Lemaire-style: fanout ops + neuron updates + weight/state memory words", memory),
):
    CONVENTIONS.register(_name, Convention(_name, _desc, _fn))
