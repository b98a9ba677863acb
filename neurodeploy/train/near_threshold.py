"""Near-threshold initialisation and the in-window diagnostic.

A surrogate gradient flows only where a membrane lies near the threshold: for a compact
surrogate (rectangle, triangle, ASGL's box) exactly where ``|v' − v_th| ≤ width``, for the
others mostly there. ``v'`` is the membrane after leak and input, before the reset (the value
the spike function sees). A network whose membranes all sit far below threshold at
initialisation is dead: no spikes, no gradient (seed 004's α ∈ {0.5, 1} rows in
experiments/results/a_asgl_widths.md were that).

:func:`in_window` measures, per spiking layer, the fraction of (t, sample, neuron) entries of
one batch with ``|v' − v_th| ≤ width`` (``width``: the surrogate's half-width, :meth:`~neurodeploy.surrogates.base.Surrogate.window`:
``width``, ASGL's α/2, ASY's β).

:func:`near_threshold_init` is data-driven weight scaling (layer-sequential, in the spirit of
LSUV): for each spiking layer in order, the weights (and bias) of the synaptic layer before it
are kept (s = 1) if a fraction ``target`` of that layer's membranes is already in the window, else
multiplied by the smallest factor s on a log grid (2^(k/4), s ∈ [2^-6, 2^8]) that reaches it,
given the already scaled layers before it (the input current is linear in s, the membrane recurrence is not: each s is
simulated). Where no s reaches ``target`` the s with the largest fraction is taken. The model
runs in eval mode (Heaviside forward; no RNG is drawn).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from neurodeploy.neurons.modules import SpikingNeuron

SCALES = tuple(2.0 ** (k / 4) for k in range(-24, 33))


@dataclass(frozen=True)
class LayerWindow:
    """One spiking layer: index in the model, surrogate half-width, in-window fraction, rate."""

    index: int
    width: float
    in_window: float
    firing_rate: float
    scale: float = 1.0  # factor applied to the preceding weights by near_threshold_init

    def as_dict(self) -> dict:
        return {"layer": self.index, "width": self.width, "in_window": self.in_window,
                "firing_rate": self.firing_rate, "scale": self.scale}


def surrogate_width(layer: SpikingNeuron) -> float:
    """The half-width of the layer's surrogate window (:meth:`Surrogate.window`)."""
    return layer.surrogate.window()


@torch.no_grad()
def membranes(layer: SpikingNeuron, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre-reset membrane minus threshold ``v' − v_th`` (T, B, …) and spikes of ``layer`` on
    input currents ``x`` (T, B, …), from zero state (the step of neurons.functional)."""
    c = layer.coefficients()
    v = torch.zeros_like(x[0])
    i = torch.zeros_like(x[0])
    z = torch.zeros_like(x[0])
    us, zs = [], []
    for t in range(x.shape[0]):
        xt = x[t] if layer.w_rec is None else x[t] + z @ layer.w_rec.t()
        i = c.decay_i * i + c.gain_i * xt if c.decay_i is not None else xt
        v = c.decay_v * v + c.leak_v + c.gain_v * i
        u = v - c.v_th
        z = (u > 0).to(x.dtype)
        v = v - z * (v - c.v_reset) if layer.reset == "zero" else v - z * c.v_th
        us.append(u)
        zs.append(z)
    return torch.stack(us), torch.stack(zs)


def _spiking(model) -> list[int]:
    return [k for k, m in enumerate(model) if isinstance(m, SpikingNeuron) and m.spiking]


def _stats(layer, current, scale=1.0, width=None) -> tuple[float, float]:
    u, z = membranes(layer, current * scale)
    w = surrogate_width(layer) if width is None else width
    return float((u.abs() <= w).float().mean()), float(z.mean())


@torch.no_grad()
def in_window(model, x: torch.Tensor) -> list[LayerWindow]:
    """Per spiking layer of ``model`` on batch ``x`` (T, B, …): the in-window fraction."""
    was = model.training
    model.eval()
    try:
        _, outs = model(x, record=True)
        return [LayerWindow(k, surrogate_width(model[k]), *_stats(model[k], outs[k - 1] if k else x))
                for k in _spiking(model)]
    finally:
        model.train(was)


@torch.no_grad()
def near_threshold_init(model, x: torch.Tensor, target: float = 0.2, width: float | None = None) -> list[LayerWindow]:
    """Scale each spiking layer's preceding weights so that ``target`` of its membranes on ``x``
    lie in the surrogate window (see module docstring), or in ``|v' − v_th| ≤ width`` when
    ``width`` is given (the same initial weights for different surrogates); returns the per-layer
    result."""
    was = model.training
    model.eval()
    found = []
    try:
        for k in _spiking(model):
            syn = next((model[j] for j in range(k - 1, -1, -1) if isinstance(model[j], (nn.Linear, nn.Conv2d))), None)
            _, outs = model(x, record=True)
            current = outs[k - 1] if k else x
            w = surrogate_width(model[k]) if width is None else width
            if syn is None:
                found.append(LayerWindow(k, w, *_stats(model[k], current, 1.0, width)))
                continue
            at_one = (1.0, *_stats(model[k], current, 1.0, width))
            if at_one[1] >= target:  # already there: never shrink (a window holding v = 0 is always
                s, frac, rate = at_one  # "reached" by s → 0, a dead network)
            else:
                stats = [(s, *_stats(model[k], current, s, width)) for s in SCALES]
                reached = [r for r in stats if r[1] >= target]
                s, frac, rate = reached[0] if reached else max(stats, key=lambda r: r[1])
            syn.weight.mul_(s)
            if syn.bias is not None:
                syn.bias.mul_(s)
            found.append(LayerWindow(k, w, frac, rate, s))
    finally:
        model.train(was)
    return found
