"""Readouts: how the output layer's (T, B, C) sequence becomes class scores (B, C).

=================  ===================================  ==========================================
readout            output layer                         scores (logits of the cross-entropy)
=================  ===================================  ==========================================
``spike-count``    spiking neuron (LIF/CubaLIF/IF)       Σ_t z[t]   (the class that fires most)
``membrane-mean``  non-spiking ``LI`` (NIR ``LI``)       (1/T)·Σ_t v[t]  (ASGL's Eq. 5 reading)
``membrane-max``   non-spiking ``LI`` (NIR ``LI``)       max_t v[t]
``membrane-sum``   non-spiking ``CubaLI`` (Norse bridge) Σ_t v[t]
=================  ===================================  ==========================================

The prediction is the argmax of the scores (ties: lowest index). A model names its readout in
``model.readout`` (set by the model builder, :func:`neurodeploy.ir.from_nir` from the graph's
metadata, or the checkpoint's spec); without one it follows from the last layer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def _max(out: torch.Tensor) -> torch.Tensor:
    return out.max(dim=0).values


READOUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "spike-count": lambda out: out.sum(0),
    "membrane-mean": lambda out: out.mean(0),
    "membrane-max": _max,
    "membrane-sum": lambda out: out.sum(0),
}
"""Readout name → (T, B, C) output sequence to (B, C) scores."""

CONFIG_READOUTS = ("spike-count", "membrane-mean", "membrane-max")
"""The readouts a ``[model] readout`` config chooses (``membrane-sum`` is the Norse bridge's)."""


def readout_name(model) -> str:
    """The model's readout: its ``readout`` attribute, else inferred from its last layer."""
    name = getattr(model, "readout", None)
    if name:
        return name
    from neurodeploy.neurons.modules import LI, CubaLI

    last = list(model)[-1] if len(model) else None
    if isinstance(last, CubaLI):
        return "membrane-sum"
    if isinstance(last, LI):
        return "membrane-mean"
    return "spike-count"


def readout_logits(model, out: torch.Tensor) -> torch.Tensor:
    """Class scores (B, C) of ``model``'s output sequence ``out`` (T, B, C)."""
    return READOUTS[readout_name(model)](out)
