"""Run the float simulation of a NIR graph in batches and count what an energy model needs.

Counts are totals over all samples (divide by ``n_samples`` for per-inference values) and are
kept per time step, so that every convention in :mod:`neurodeploy.energy.conventions` can be
derived from one :class:`Activity` without re-running the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nir
import torch
from torch import nn

from neurodeploy.energy import instrumented
from neurodeploy.energy.counting import (
    fanout_map,
    input_stats,
    membrane_updates,
    neuron_counts,
    recurrent_fanout,
    reset_coefficient,
    spike_matrix,
)
from neurodeploy.errors import DataError
from neurodeploy.ir.from_nir import from_nir
from neurodeploy.ir.graph import chain
from neurodeploy.neurons.modules import SpikingNeuron, SumPool2d
from neurodeploy.sim.float_sim import prepare_input

#: neurons per layer kept in the one-sample spike raster
RASTER_MAX_NEURONS = 1024


@dataclass(frozen=True)
class SynapseActivity:
    """One synaptic layer. Lists have one entry per time step, summed over samples.

    ``kind``: linear | conv2d | sumpool2d | recurrent. ``source``: the node feeding it (``input``
    for the network input). ``dense_per_step``: NeuroBench ``Dense`` ops of one sample at one
    step (all inputs and weights taken as ones, padding excluded) = Σ_i f_i, the seed-004 fanout
    sum and the ANN layer's MACs.
    """

    name: str
    kind: str
    source: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    weights: int
    nonzero_weights: int
    dense_per_step: int
    eff_ac: list[float]
    eff_mac: list[float]
    fan_ac: list[float]
    fan_mac: list[float]
    events: list[float]
    analog_samples: list[float]

    @property
    def inputs(self) -> int:
        return int(torch.tensor(self.in_shape).prod()) if self.in_shape else 1


@dataclass(frozen=True)
class NeuronActivity:
    """One neuron layer: spike and membrane-update counts summed over samples.

    ``raster``: for sample 0, per step, the indices of the neurons (< ``raster_neurons``) that fired.
    ``spiking``: False for a non-spiking readout (NIR ``LI``/``CubaLI``): its output is the
    membrane, so it has no spikes (all counts 0) and no firing rate, but its membrane updates
    and state count like any neuron's.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    neurons: int
    state_vars: int
    recurrent: str | None
    spikes_per_step: list[float]
    spikes_per_neuron: list[float]
    membrane_updates_per_step: list[float]
    raster: list[list[int]]
    raster_neurons: int
    spiking: bool = True

    def rate(self, n_samples: int) -> float:
        """Mean firing rate in spikes per neuron per step."""
        steps = len(self.spikes_per_step)
        return sum(self.spikes_per_step) / max(self.neurons * steps * n_samples, 1)


@dataclass(frozen=True)
class Activity:
    """Everything counted on ``n_samples`` inferences of ``time_steps`` steps of ``dt_s`` seconds.

    ``input_binary``: every network input was in {−1, 0, 1}; ``static_input``: the input was the
    same at every step of every sample (direct coding of a static image; checked for analog input
    only, ``False`` for binary input).
    """

    n_samples: int
    time_steps: int
    dt_s: float
    input_shape: tuple[int, ...]
    input_binary: bool
    static_input: bool
    synapses: tuple[SynapseActivity, ...]
    neurons: tuple[NeuronActivity, ...]
    graph_metadata: dict = field(default_factory=dict)


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(d) for d in t.shape[2:])


def _add(acc: dict[tuple[str, str], torch.Tensor], key: tuple[str, str], value: torch.Tensor) -> None:
    """Sum float64 counts over batches."""
    acc[key] = value if key not in acc else acc[key] + value


def _synapse_kind(layer: nn.Module) -> str | None:
    if isinstance(layer, nn.Linear):
        return "linear"
    if isinstance(layer, nn.Conv2d):
        return "conv2d"
    if isinstance(layer, SumPool2d):
        return "sumpool2d"
    return None


@torch.no_grad()
def count_activity(graph: nir.NIRGraph, x: torch.Tensor, dt_s: float | None = None,
                   batch_size: int = 256, *, conventions=None) -> Activity:
    """Simulate ``graph`` on ``x`` and count synaptic ops, spikes and membrane updates.

    ``x``: (N, T, …) batch-first, as datasets yield it (NeuroBench's layout too), any dtype
    (uint8 event frames are converted to float32); one step's features ``…`` are the graph's
    input shape or reshape to it. Runs in batches of ``batch_size`` samples through the float
    reference (:mod:`neurodeploy.sim.float_sim`), zero state per sample. dt and reset come from
    ``conventions`` (the source's :class:`neurodeploy.ir.conventions.Conventions`), else the
    graph's metadata; ``dt_s`` overrides (seconds per step).
    """
    if x.dim() < 3:
        raise DataError(f"count_activity: x must be (N, T, …) with at least 3 dims, got {tuple(x.shape)}")
    if batch_size < 1:
        raise DataError(f"count_activity: batch_size must be ≥ 1, got {batch_size}")
    model, conv = from_nir(graph, dt_s, conventions=conventions)
    layers, names = list(model), list(model.node_names)
    rec_of = chain(graph)[1] if any(getattr(m, "w_rec", None) is not None for m in layers) else {}
    sources = [_spike_source(model, k) for k in range(len(layers))]
    first_syn = next((k for k, m in enumerate(layers) if not isinstance(m, nn.Flatten)), None)
    n, steps = int(x.shape[0]), int(x.shape[1])
    # (layer, "ops"): (T, 6) sums of StepStats columns; (layer, "spikes"): (T, N); (layer, "mem"): (T,)
    acc: dict[tuple[str, str], torch.Tensor] = {}
    fan, ops, uniform, meta, coefs = {}, {}, {}, {}, {}
    raster: dict[str, list[list[int]]] = {}
    input_binary = static_input = True
    for start in range(0, n, batch_size):
        xb = prepare_input(x[start:start + batch_size].transpose(0, 1).float(), conv.input_shape)
        outs, csr, vpre = instrumented.run(model, xb)
        counts: dict[int, torch.Tensor] = {}  # neuron layer → (T, N) spikes summed over the batch
        ins = [xb, *outs[:-1]]
        for k, layer in enumerate(layers):
            name, xin, out = names[k], ins[k], outs[k]
            kind = _synapse_kind(layer)
            if kind is not None:
                if name not in fan:
                    fan[name] = torch.stack([fanout_map(layer, _shape(xin), False),
                                             fanout_map(layer, _shape(xin), True)], 1)
                    ops[name] = spike_matrix(fan[name])
                    # same fanout for every input: binary input's stats are events × one row
                    uniform[name] = ops[name].shape[0] > 0 and bool((ops[name] == ops[name][:1]).all())
                    w = getattr(layer, "weight", None)
                    nonzero = (0 if w is None else int(fan[name][:, 0].sum()) if kind == "linear"
                               else int(torch.count_nonzero(w)))  # Linear: Σ column non-zeros
                    meta[name] = (kind, names[k - 1] if k else "input", _shape(xin), _shape(out),
                                  0 if w is None else w.numel(), nonzero)
                src = sources[k]
                if src is not None:  # spikes: every call AC, one product gives all six columns
                    st = counts[src] @ ops[name]
                elif k == 0 and csr is not None and uniform[name]:  # binary input, all AC
                    st = csr[0][::xin.shape[1]].diff().double()[:, None] * ops[name][0]
                else:
                    st = torch.stack(input_stats(xin, fan[name], csr=csr if k == 0 else None), 1)
                    if k == first_syn and bool(st[:, 5].any()):
                        input_binary = False  # static-ness matters (and is checked) for analog input only
                        static_input = static_input and _static(xb)
                _add(acc, (name, "ops"), st)
            elif isinstance(layer, SpikingNeuron):
                if k in vpre:
                    if k not in coefs:  # constant over batches
                        coefs[k] = reset_coefficient(layer, out.shape[2:], vpre[k].dtype)
                    mem, counts[k] = neuron_counts(vpre[k], out, layer, coefs[k])
                else:
                    mem = membrane_updates(layer, xin, out)
                    counts[k] = out.reshape(steps, out.shape[1], -1).sum(1).double()  # exact: ≤ B
                if not layer.spiking:  # a readout's output is its membrane: no spikes to count
                    counts[k] = torch.zeros(steps, out[0, 0].numel(), dtype=torch.float64)
                _add(acc, (name, "spikes"), counts[k])
                _add(acc, (name, "mem"), mem)
                if name not in raster:
                    raster[name] = (_raster(out[:, 0].reshape(steps, -1)[:, :RASTER_MAX_NEURONS]) if layer.spiking
                                    else [[] for _ in range(steps)])
                    meta[name] = (layer.kind, _shape(out))
                if layer.w_rec is not None:
                    rname = rec_of.get(name, f"{name}_rec")
                    if rname not in fan:
                        fan[rname] = torch.stack([recurrent_fanout(layer.w_rec, False),
                                                  recurrent_fanout(layer.w_rec, True)], 1)
                        ops[rname] = spike_matrix(fan[rname])
                        w = layer.w_rec
                        meta[rname] = ("recurrent", name, _shape(out), _shape(out), w.numel(),
                                       int(torch.count_nonzero(w)))
                    prev = torch.cat([torch.zeros_like(counts[k][:1]), counts[k][:-1]])
                    _add(acc, (rname, "ops"), prev @ ops[rname])
    synapses, neurons = [], []
    for name, layer in zip(names, layers):
        if name in fan:
            synapses.append(_synapse(name, meta[name], fan[name], acc[(name, "ops")]))
        if isinstance(layer, SpikingNeuron):
            kind, shape = meta[name]
            rname = rec_of.get(name, f"{name}_rec") if layer.w_rec is not None else None
            nn_ = int(torch.tensor(shape).prod()) if shape else 1
            spikes = acc[(name, "spikes")]
            neurons.append(NeuronActivity(
                name, kind, shape, nn_, 2 if kind in ("cuba_lif", "cuba_li") else 1, rname,
                spikes.sum(1).tolist(), spikes.sum(0).tolist(), acc[(name, "mem")].tolist(),
                raster[name], min(nn_, RASTER_MAX_NEURONS), bool(layer.spiking)))
            if rname is not None:
                synapses.append(_synapse(rname, meta[rname], fan[rname], acc[(rname, "ops")]))
    static_input = static_input and not input_binary
    return Activity(n, steps, conv.dt_s, tuple(conv.input_shape), input_binary, static_input, tuple(synapses),
                    tuple(neurons), dict(getattr(graph, "metadata", {}) or {}))


def _raster(flat: torch.Tensor) -> list[list[int]]:
    """Per row of ``flat`` (T, n), the indices of its non-zero entries."""
    ends = torch.count_nonzero(flat, dim=1).cumsum(0).tolist()
    cols = torch.nonzero(flat)[:, 1].tolist()  # row-major: row 0's columns first
    return [cols[a:b] for a, b in zip([0, *ends[:-1]], ends)]


def _static(xb: torch.Tensor) -> bool:
    """Is the input the same at every step (direct coding)?"""
    return xb.shape[0] == 1 or (torch.equal(xb[0], xb[1]) and bool((xb == xb[:1]).all()))


def _spike_source(model, k: int) -> int | None:
    """Index of the spiking layer whose output is layer ``k``'s input (through Flatten only)."""
    for j in range(k - 1, -1, -1):
        if isinstance(model[j], SpikingNeuron):
            return j
        if not isinstance(model[j], nn.Flatten):
            return None
    return None


def _synapse(name: str, meta: tuple, fan: torch.Tensor, sums: torch.Tensor) -> SynapseActivity:
    kind, source, in_shape, out_shape, weights, nonzero = meta
    eff_ac, eff_mac, fan_ac, fan_mac, events, analog = sums.t().tolist()  # StepStats' order
    return SynapseActivity(name, kind, source, in_shape, out_shape, weights, nonzero,
                           int(fan[:, 1].sum()), eff_ac, eff_mac, fan_ac, fan_mac, events, analog)
