"""Pure counting functions: fanout maps, per-step input statistics, membrane-update counts.

Every effective synaptic-operation count is a weighted sum of input indicators: for a stateless
synaptic layer ``y = f(x)`` (Linear, Conv2d, SumPool2d; bias excluded)

    ops(x) = Σ_out Σ_taps [x_tap ≠ 0]·[w_tap ≠ 0] = Σ_i [x_i ≠ 0] · F_i

where ``F_i`` (the *fanout map*) is the number of (output, tap) pairs input ``i`` reaches through
a non-zero weight. Padding taps reach no input and are therefore excluded. ``F`` is computed once
per layer as the gradient of ``Σ f_bin(1)`` with respect to the all-ones input, ``f_bin`` being
the layer with weights replaced by ``[w ≠ 0]`` (effective) or by ones (dense) and no bias. This
is exactly NeuroBench 2.3's ``single_layer_MACs`` (binarised input through a binarised copy of
the layer, outputs summed) without materialising the layer's output.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import torch
from torch import nn

from neurodeploy.energy import _count_cpp
from neurodeploy.neurons.functional import neuron_step, zero_state
from neurodeploy.neurons.kernels import broadcasts_to, get_backend, trace_pre_reset
from neurodeploy.neurons.modules import SpikingNeuron
from neurodeploy.neurons.sequential import binary_csr

#: sums of integers are exact in float32 below this (2**24)
_F32_EXACT = 2 ** 24


def fanout_map(layer: nn.Module, in_shape: tuple[int, ...], dense: bool) -> torch.Tensor:
    """Fanout ``F`` (flattened input of one sample, float64) of ``layer`` for inputs ``in_shape``.

    ``dense=False``: only non-zero weights count (NeuroBench effective ops). ``dense=True``: every
    connection counts, zero weights included (NeuroBench ``Dense``, seed 004's fanout ``f_i``).
    """
    if isinstance(layer, nn.Linear):  # closed form: non-zeros (or all entries) per input column
        return recurrent_fanout(layer.weight.detach(), dense)
    binary = copy.deepcopy(layer).double()
    with torch.no_grad():
        weight = getattr(binary, "weight", None)
        if weight is not None:
            weight.copy_(torch.ones_like(weight) if dense else (weight != 0).double())
        if getattr(binary, "bias", None) is not None:
            binary.bias.zero_()
    with torch.enable_grad():
        ones = torch.ones(1, *in_shape, dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(binary(ones).sum(), ones)
    return grad.reshape(-1).round()


def recurrent_fanout(w_rec: torch.Tensor, dense: bool) -> torch.Tensor:
    """Fanout of the inputs of an ``(out, in)`` weight: column counts of non-zeros (or ``out``)."""
    if dense:
        return torch.full((w_rec.shape[1],), float(w_rec.shape[0]), dtype=torch.float64)
    w = w_rec.detach()
    lib = _count_cpp.load() if _compiled_ok(w) and w.dim() == 2 and w.is_contiguous() else None
    return lib.column_nonzeros(w) if lib is not None else torch.count_nonzero(w, dim=0).double()


def _compiled_ok(*tensors: torch.Tensor) -> bool:
    """May the compiled counters take these tensors? (CPU float32/float64 of one dtype, and the
    backend not forced to PyTorch: ``NEURODEPLOY_KERNEL=torch|reference`` runs no compiled code.)"""
    dtype = tensors[0].dtype
    return (dtype in (torch.float32, torch.float64)
            and all(t.device.type == "cpu" and t.dtype == dtype for t in tensors)
            and get_backend() in ("auto", "cpp"))


class StepStats(NamedTuple):
    """Per time step, summed over the batch (all float64 tensors of shape (T,))."""

    eff_ac: torch.Tensor     # effective ops (non-zero input × non-zero weight) in AC calls
    eff_mac: torch.Tensor    # … in MAC calls (some input outside {−1, 0, 1})
    fan_ac: torch.Tensor     # Σ [x≠0]·fanout (zero weights counted) in AC calls
    fan_mac: torch.Tensor    # … in MAC calls
    events: torch.Tensor     # non-zero inputs
    analog: torch.Tensor     # samples whose input at this step is outside {−1, 0, 1}


def _per_step(t: int, b: int, ops: torch.Tensor, events: torch.Tensor,
              analog: torch.Tensor | None) -> StepStats:
    """Split per-row ``ops`` (T·B, 2) into AC/MAC and sum over the batch."""
    zero = torch.zeros(t, dtype=torch.float64)
    ev = events.reshape(t, b).sum(1, dtype=torch.float64)
    if analog is None:
        tot = ops.reshape(t, b, 2).sum(1, dtype=torch.float64)
        return StepStats(tot[:, 0], zero, tot[:, 1], zero, ev, zero)
    mac = analog.to(ops.dtype)[:, None]
    macs = (ops * mac).reshape(t, b, 2).sum(1, dtype=torch.float64)
    tot = ops.reshape(t, b, 2).sum(1, dtype=torch.float64)
    return StepStats(tot[:, 0] - macs[:, 0], macs[:, 0], tot[:, 1] - macs[:, 1], macs[:, 1], ev,
                     analog.reshape(t, b).sum(1, dtype=torch.float64))


def _csr_stats(t: int, b: int, csr: tuple[torch.Tensor, torch.Tensor], fanouts: torch.Tensor) -> StepStats:
    """Per-step stats of binary rows given as CSR (rows ordered step-major, ``b`` per step)."""
    crow, cols = csr
    bounds = crow[::b].to(torch.int64)  # T + 1 offsets: the first non-zero of each step
    events = bounds.diff().double()
    f = fanouts.double()
    sums = []
    for col in (f[:, 0], f[:, 1]):
        if col.numel() == 0 or bool((col == col[0]).all()):  # same fanout everywhere: count × it
            sums.append(events * (col[0] if col.numel() else 0.0))
        else:  # one gather, then per-step segment sums from a cumulative sum (exact: integers)
            cum = torch.cat([col.new_zeros(1), torch.cumsum(col.index_select(0, cols.to(torch.int64)), 0)])
            sums.append(cum[bounds[1:]] - cum[bounds[:-1]])
    zero = torch.zeros(t, dtype=torch.float64)
    return StepStats(sums[0], zero, sums[1], zero, events, zero)


def spike_matrix(fanouts: torch.Tensor) -> torch.Tensor:
    """(in, 6) float64 matrix ``S`` such that ``counts @ S`` is the :class:`StepStats` of a layer
    fed by spikes, as a (T, 6) tensor in field order: columns effective fanout, 0, dense fanout,
    0, 1 (events), 0 (spikes are 0/1: every call is AC). Integer sums: exact in float64."""
    s = torch.zeros(fanouts.shape[0], 6, dtype=torch.float64)
    s[:, 0], s[:, 2], s[:, 4] = fanouts[:, 0], fanouts[:, 1], 1.0
    return s


def input_stats(x: torch.Tensor, fanouts: torch.Tensor,
                csr: tuple[torch.Tensor, torch.Tensor] | None = None) -> StepStats:
    """Statistics of one synaptic layer's input ``x`` (T, B, …) given ``fanouts`` (in, 2):
    column 0 the effective fanout map, column 1 the dense one.

    A call (one step of one sample) is an AC call iff all its inputs are in {−1, 0, 1}
    (NeuroBench's rule; NeuroBench applies it per forward call, i.e. to a whole batch at once).
    Binary float32 input on CPU is counted from its CSR indices (cost ∝ non-zeros); ``csr``:
    (crow, cols) of ``x`` as (T·B, in) rows when already known to be binary.
    """
    t, b = x.shape[:2]
    if csr is not None:
        return _csr_stats(t, b, csr, fanouts)
    flat = x.reshape(t * b, -1)
    bound = float(fanouts.sum(0).max()) if fanouts.numel() else 0.0
    dtype = torch.float32 if bound < _F32_EXACT else torch.float64
    found = binary_csr(flat)
    if found is not None:
        return input_stats(x, fanouts, csr=found)
    mag = flat.abs()
    ind = mag != 0
    analog = (mag != ind).any(dim=1)        # |x| ∉ {0, 1} somewhere in the row
    ops = ind.to(dtype) @ fanouts.to(dtype)
    return _per_step(t, b, ops, ind.sum(1), analog)


def neuron_counts(vpre: torch.Tensor, spikes: torch.Tensor, module: SpikingNeuron,
                  coef: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """NeuroBench membrane updates per step (T,) and spikes per step and neuron (T, N), both
    float64 and summed over the batch, from a scan's pre-reset potentials ``vpre`` (T, M),
    M = B·N (may be overwritten), and its spikes (T, B, …) (0/1). ``coef``: the layer's
    :func:`reset_coefficient` when already known (it is constant over batches).

    One pass over both in C++ (:mod:`neurodeploy.energy._count_cpp`) on CPU float32/float64,
    else :func:`updates_from_vpre` and a sum over the batch (identical counts)."""
    t, m = vpre.shape
    b = spikes.shape[1]
    n = m // b
    if coef is None:
        coef = reset_coefficient(module, spikes.shape[2:], vpre.dtype)
    compiled = (coef is not None and _compiled_ok(vpre, spikes, coef) and vpre.is_contiguous()
                and spikes.is_contiguous() and spikes.shape[0] == t and spikes[0].numel() == m)
    lib = _count_cpp.load() if compiled else None
    if lib is None:
        return updates_from_vpre(vpre, spikes, module), spikes.reshape(t, b, n).sum(1).double()
    mem, per_neuron = lib.neuron_counts(vpre, spikes.reshape(t, m), coef, module.reset != "zero", n)
    return mem, per_neuron


def reset_coefficient(module: SpikingNeuron, neuron_shape: torch.Size, dtype: torch.dtype
                      ) -> torch.Tensor | None:
    """The coefficient of the reset, v_th (subtract reset) or v_reset (zero reset), in ``dtype``:
    one value (1,), or one per neuron of ``neuron_shape`` (flattened, contiguous); ``None`` if it
    does not broadcast to one sample's neurons (then :func:`neuron_counts` counts in PyTorch)."""
    c = module.coefficients()
    k = (c.v_th if module.reset != "zero" else c.v_reset).detach().to(dtype)
    if k.numel() == 1:
        return k.reshape(1)
    if not broadcasts_to(k.shape, neuron_shape):
        return None
    return torch.broadcast_to(k, neuron_shape).reshape(-1).contiguous()


def updates_from_vpre(vpre: torch.Tensor, spikes: torch.Tensor, module: SpikingNeuron) -> torch.Tensor:
    """Membrane updates per step (T,) from the pre-reset potentials ``vpre`` (T, M) of a scan
    (overwritten); the pure-PyTorch path of :func:`neuron_counts`."""
    t, m = vpre.shape
    c = module.coefficients()
    shape = spikes.shape[1:]
    z = spikes.reshape(t, m)
    vr = c.v_reset
    if module.reset != "zero":  # in place: vpre is ours
        post = vpre.addcmul_(z, torch.broadcast_to(c.v_th.to(vpre.dtype), shape).reshape(m), value=-1.0)
    elif vr.numel() == 1 and float(vr) == 0.0:  # the scan's v' − z·(v' − 0), in place
        post = vpre.addcmul_(vpre, z, value=-1.0)
    else:  # same arithmetic as the scan: v' − z·(v' − v_reset)
        post = vpre.addcmul_(z, vpre - torch.broadcast_to(vr.to(vpre.dtype), shape).reshape(m), value=-1.0)
    changed = (post[1:] != post[:-1]).sum(1).double()
    return torch.cat([torch.tensor([float(m)], dtype=torch.float64), changed])


def membrane_updates(module: SpikingNeuron, current: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
    """NeuroBench ``MembraneUpdates`` of one spiking layer per step (T,), summed over the batch.

    ``current``: (T, B, …) input of the layer (output of the preceding synapse); ``spikes``: its
    recorded output. Step 0 counts every neuron; a later step counts the neurons whose membrane
    potential after reset differs from the previous step's (the state NeuroBench compares in
    snnTorch with ``reset_delay=False``). The synaptic current of a CubaLIF is not counted.
    The recurrent input is rebuilt from the recorded spikes, so the scan runs without recurrence.
    """
    if module.w_rec is not None:
        prev = torch.cat([torch.zeros_like(spikes[:1]), spikes[:-1]])
        rec = prev.reshape(-1, module.w_rec.shape[1]) @ module.w_rec.t()
        current = current + rec.reshape(current.shape)
    c = module.coefficients()
    traced = trace_pre_reset(current, c, module.reset)
    if traced is None:  # reference backend, or coefficients of another dtype/device
        return _membrane_updates_loop(module, current, c)
    z, vpre = traced
    return updates_from_vpre(vpre, z, module)


def _membrane_updates_loop(module: SpikingNeuron, current: torch.Tensor, c) -> torch.Tensor:
    state = zero_state(current[0])
    counts = []
    for t in range(current.shape[0]):
        _, new = neuron_step(current[t], state, c, module.surrogate, module.reset)
        counts.append(torch.tensor(float(current[0].numel())) if t == 0
                      else (new.v != state.v).sum().double())
        state = new
    return torch.stack(counts).double()
