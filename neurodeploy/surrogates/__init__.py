"""Spike functions: Heaviside forward, surrogate derivative backward.

A surrogate is a small frozen dataclass with ``derivative(u)`` where ``u = v - v_th`` (the
membrane potential relative to threshold). The forward pass is the strict Heaviside step
``u > 0`` except in training for surrogates with ``fused = False`` (ASGL's noisy spikes).
Surrogates are looked up by name in ``SURROGATES``; schedule values live in ``surrogate.live``.
See docs/surrogates.md for the catalogue and the seed methods.
"""

from neurodeploy.surrogates import a2sg, adali, asgl, catalogue  # noqa: F401  (registers)
from neurodeploy.surrogates.base import (
    SURROGATES,
    FastSigmoid,
    Live,
    Surrogate,
    is_training,
    make_surrogate,
    spike,
)

__all__ = ["SURROGATES", "FastSigmoid", "Live", "Surrogate", "is_training", "make_surrogate", "spike"]
