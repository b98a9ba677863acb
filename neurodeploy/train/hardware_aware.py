"""Hardware-aware fine-tuning for Loihi: train through the quantisation the exporter applies.

In the forward pass every synaptic weight is replaced by its Loihi-representable value and every
membrane/current decay by its 12-bit value; the backward pass is straight-through (the gradient
of the float weight is the gradient of the quantised one). This mirrors
:mod:`neurodeploy.exporters.loihi`: per layer the integer weights are even values
``2·round(k·g·W / 2)`` with ``k = 254 / max|g·W|`` (g the neuron's input gain), so the float grid
step is ``2·max|W| / 254``; decays are ``round(4096·α) / 4096``.
Not modelled: the truncation of the decay products (``>> 12``), 24-bit state wrap-around, and the
one-step-per-layer latency (it does not change spike counts over a padded window).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from neurodeploy.neurons import SpikingNeuron, SpikingSequential

WEIGHT_MAX = 254


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return x + (q - x).detach()


def quantise_weight(w: torch.Tensor, w_rec: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Weights on the exporter's grid (shared scale with the recurrent weights), straight-through."""
    m = w.detach().abs().max()
    if w_rec is not None:
        m = torch.maximum(m, w_rec.detach().abs().max())
    step = 2 * m / WEIGHT_MAX
    if not bool(step > 0):
        return w, w_rec
    q = _ste(w, torch.round(w / step) * step)
    qr = None if w_rec is None else _ste(w_rec, torch.round(w_rec / step) * step)
    return q, qr


def _quantise_rate(rate_inv: torch.Tensor, dt_s: float) -> torch.Tensor:
    """τ⁻¹ such that dt·τ⁻¹ is on the 12-bit decay grid."""
    return _ste(rate_inv, torch.round(4096 * dt_s * rate_inv) / (4096 * dt_s))


def loihi_tensors(model: SpikingSequential) -> dict[str, torch.Tensor]:
    """Replacement parameters/buffers for ``functional_call``: Loihi-quantised weights and decays."""
    out: dict[str, torch.Tensor] = {}
    layers = list(model)
    for i, layer in enumerate(layers):
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nxt = next((m for m in layers[i + 1:] if isinstance(m, SpikingNeuron)), None)
            w_rec = nxt.w_rec if nxt is not None else None
            q, qr = quantise_weight(layer.weight, w_rec)
            out[f"{i}.weight"] = q
            if qr is not None:
                j = layers.index(nxt)
                out[f"{j}.w_rec"] = qr
        elif isinstance(layer, SpikingNeuron):
            for name in ("tau_mem_inv", "tau_syn_inv"):
                if hasattr(layer, name):
                    out[f"{i}.{name}"] = _quantise_rate(getattr(layer, name), layer.dt_s)
    return out


def forward_quantised(model: SpikingSequential, x: torch.Tensor, record: bool = False):
    """``model(x, record)`` with Loihi-quantised weights and decays (gradients straight through)."""
    return functional_call(model, loihi_tensors(model), (x,), {"record": record}, strict=False)
