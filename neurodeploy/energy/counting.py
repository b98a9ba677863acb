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

from neurodeploy.neurons.functional import neuron_step, zero_state
from neurodeploy.neurons.modules import SpikingNeuron

#: sums of integers are exact in float32 below this (2**24)
_F32_EXACT = 2 ** 24


def fanout_map(layer: nn.Module, in_shape: tuple[int, ...], dense: bool) -> torch.Tensor:
    """Fanout ``F`` (flattened input of one sample, float64) of ``layer`` for inputs ``in_shape``.

    ``dense=False``: only non-zero weights count (NeuroBench effective ops). ``dense=True``: every
    connection counts, zero weights included (NeuroBench ``Dense``, seed 004's fanout ``f_i``).
    """
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
    """Fanout of the inputs of a recurrent ``(out, in)`` weight: column counts of non-zeros."""
    w = torch.ones_like(w_rec) if dense else (w_rec != 0).to(w_rec.dtype)
    return w.double().sum(0)


class StepStats(NamedTuple):
    """Per time step, summed over the batch (all float64 tensors of shape (T,))."""

    eff_ac: torch.Tensor     # effective ops (non-zero input × non-zero weight) in AC calls
    eff_mac: torch.Tensor    # … in MAC calls (some input outside {−1, 0, 1})
    fan_ac: torch.Tensor     # Σ [x≠0]·fanout (zero weights counted) in AC calls
    fan_mac: torch.Tensor    # … in MAC calls
    events: torch.Tensor     # non-zero inputs
    analog: torch.Tensor     # samples whose input at this step is outside {−1, 0, 1}


def input_stats(x: torch.Tensor, fanouts: torch.Tensor) -> StepStats:
    """Statistics of one synaptic layer's input ``x`` (T, B, …) given ``fanouts`` (in, 2):
    column 0 the effective fanout map, column 1 the dense one.

    A call (one step of one sample) is an AC call iff all its inputs are in {−1, 0, 1}
    (NeuroBench's rule; NeuroBench applies it per forward call, i.e. to a whole batch at once).
    """
    t, b = x.shape[:2]
    flat = x.reshape(t * b, -1)
    mag = flat.abs()
    ind = mag != 0
    analog = (mag != ind).any(dim=1)        # |x| ∉ {0, 1} somewhere in the row
    bound = float(fanouts.sum(0).max()) if fanouts.numel() else 0.0
    dtype = torch.float32 if bound < _F32_EXACT else torch.float64
    ops = (ind.to(dtype) @ fanouts.to(dtype)).double()  # (T·B, 2)
    is_mac = analog.double()
    ac = ops * (1 - is_mac)[:, None]
    mac = ops * is_mac[:, None]
    per_t = torch.stack([ac[:, 0], mac[:, 0], ac[:, 1], mac[:, 1],
                         ind.sum(1).double(), is_mac], 1).reshape(t, b, 6).sum(1)
    return StepStats(*per_t.unbind(1))


def membrane_updates(module: SpikingNeuron, current: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
    """NeuroBench ``MembraneUpdates`` of one spiking layer per step (T,), summed over the batch.

    ``current``: (T, B, …) input of the layer (output of the preceding synapse); ``spikes``: its
    recorded output. Step 0 counts every neuron; a later step counts the neurons whose membrane
    potential after reset differs from the previous step's (the state NeuroBench compares in
    snnTorch with ``reset_delay=False``). The synaptic current of a CubaLIF is not counted.
    """
    c = module.coefficients()
    state = zero_state(current[0])
    counts = []
    for t in range(current.shape[0]):
        xt = current[t]
        if module.w_rec is not None and t > 0:
            xt = xt + (spikes[t - 1].reshape(xt.shape[0], -1) @ module.w_rec.t()).reshape(xt.shape)
        _, new = neuron_step(xt, state, c, module.surrogate, module.reset)
        counts.append(torch.tensor(float(xt[0].numel() * xt.shape[0])) if t == 0
                      else (new.v != state.v).sum().double())
        state = new
    return torch.stack(counts).double()
