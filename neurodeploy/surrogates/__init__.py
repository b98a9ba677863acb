"""Spike functions: Heaviside forward, surrogate derivative backward.

A surrogate is a small frozen dataclass with ``derivative(u)`` where ``u = v - v_th`` (the
membrane potential relative to threshold, in threshold units when v_th = 1). The forward pass is
always the strict Heaviside step ``u > 0``. Surrogates are looked up by name in ``SURROGATES``.
"""

from neurodeploy.surrogates.base import SURROGATES, Surrogate, make_surrogate, spike

__all__ = ["SURROGATES", "Surrogate", "make_surrogate", "spike"]
