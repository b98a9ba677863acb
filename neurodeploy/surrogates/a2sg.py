"""A2SG's asymmetric surrogate ASY (seed 003, ICML 2026).

``d(u) = max(0, u / (2β) + h)`` on ``−β ≤ u ≤ β`` (u = v − v_th), 0 outside. For the paper's
``h ≥ ½`` the ``max`` never acts; for ``h < ½`` it keeps the derivative non-negative at the left
edge (our reading of "lower h suppresses low-potential gradients"). The derivative rises
linearly towards the right edge: neurons with more accumulated potential get more gradient.
Default ``h = ½`` → 0 at the left edge, ½ at threshold, 1 at the right edge.

The width β is adapted per layer by the ``a2sg`` callback (SGV/TGC search,
:mod:`neurodeploy.train.callbacks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neurodeploy.surrogates.base import SURROGATES, Surrogate, positive


@SURROGATES.decorator("asy")
@dataclass(frozen=True)
class Asymmetric(Surrogate):
    """ASY. Live values: ``beta`` (half-width), ``h`` (bias)."""

    beta: float = 1.0
    h: float = 0.5
    name = "asy"
    compact = True
    live_names = ("beta", "h")

    def __post_init__(self):
        positive("beta", self.beta)
        if isinstance(self.h, bool) or not isinstance(self.h, (int, float)) or self.h < 0:
            raise ValueError(f"h must be a number >= 0, got {self.h!r}")

    def window(self) -> float:
        """The support ``|u| ≤ β``."""
        return float(self.current("beta"))

    def derivative(self, u):
        beta, h = self.current("beta"), self.current("h")
        inside = (u.abs() <= beta).to(u.dtype)
        return self._track(torch.clamp(u / (2.0 * beta) + h, min=0.0) * inside)

    def kernel_form(self):
        return "asy", (float(self.current("beta")), float(self.current("h")))
