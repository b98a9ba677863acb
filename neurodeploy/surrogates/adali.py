"""AdaLi (Hou, Wu, Zhou 2026, seed 000 §3.3): asymmetric piecewise-constant surrogate.

Our reading of the (equation-less) text, with ``u = v − v_th``, left distance ``L = V_th − V⁻``
and right distance ``R = V⁺ − V_th``::

    d(u) = α / L   for −L ≤ u < 0        ([V⁻, V_th): rise 0 → 1 over L, intensity α)
    d(u) = β / R   for  0 ≤ u ≤ R        ([V_th, V⁺]: the right side, intensity β)
    d(u) = 0       otherwise

"reconstructed rate of change" = 1 / distance, scaled by the intensity factors α, β (so the area
of each side stays α resp. β while the boundaries shrink). ``normalise = False`` gives the other
reading, constant heights α and β. The paper's defaults for V_th = 1: V⁻ = −0.5, V⁺ = 2.5
(L = R = 1.5), α = β = 0.5. The boundaries shrink over epochs (``schedules.adali_distance``,
log or linear, to ``p · L`` and ``p · R`` with p = 0.2), driven by the ``adali_*`` callback.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neurodeploy.surrogates.base import SURROGATES, Surrogate, positive


@SURROGATES.decorator("adali")
@dataclass(frozen=True)
class AdaLi(Surrogate):
    """AdaLi. Live values: ``left``, ``right`` (current distances from threshold)."""

    alpha: float = 0.5
    beta: float = 0.5
    left: float = 1.5
    right: float = 1.5
    normalise: bool = True
    name = "adali"
    compact = True
    live_names = ("alpha", "beta", "left", "right")

    def __post_init__(self):
        for n in ("alpha", "beta", "left", "right"):
            positive(n, getattr(self, n))
        if not isinstance(self.normalise, bool):
            raise ValueError(f"normalise must be true or false, got {self.normalise!r}")

    def derivative(self, u):
        a, b = self.current("alpha"), self.current("beta")
        left, right = self.current("left"), self.current("right")
        if self.normalise:
            a, b = a / left, b / right
        inside = (u >= -left) & (u <= right)  # 5 passes over u instead of 11: AdaLi is the hot path
        return self._track(torch.where(u < 0, a, b).to(u.dtype) * inside)

    def kernel_form(self):
        a, b = self.current("alpha"), self.current("beta")
        left, right = self.current("left"), self.current("right")
        if self.normalise:  # float32 division, exactly as derivative() does it
            a, b = a / left, b / right
        return "adali", (float(a), float(b), float(left), float(right))
