"""ASGL: noisy spikes with a learnable width (Wang et al., ICML 2023, seed 004).

Training forward (``u = v − v_th``, element-wise, a fresh mask per element and time step)::

    ŝ = H_α(u) + m ⊙ detach(Θ(u) − H_α(u)),     m ~ Bernoulli(p)

``m = 1`` (probability ``p``) gives the spike Θ(u) (no gradient through the detached part),
``m = 0`` the analog ``H_α(u)``; the gradient always flows through ``H_α`` to u and to α. We
follow the paper's convention (p = probability of a spike, "noise probability"); the public
code's CLI ``p`` is the analog fraction, i.e. ``1 − p`` here. Milestones raise p by
``p ← 1 − (1 − p)·ζ`` (callback ``asgl``).

``H_α``: ``forward = "clip"``: ``clip(u/α + ½, 0, 1)`` (Eq. 8, derivative ``1/α`` on
``|u| ≤ α/2``, edges included as in ``torch.clamp``'s gradient); ``forward = "sigmoid"``:
``σ(4u/α)`` (the paper's sigmoid variant, scaled so that α is a width with the same peak slope
``1/α``).

Evaluation and export (``spike`` outside training, see base): pure Θ(u); the backward is then
``dH_α/du`` at the current α. ``fused = False``: the training forward is not Heaviside; the C++
scan computes it from :meth:`ASGL.noisy_form` (its own counter-based Bernoulli mask, drawn from a
seed taken from torch's generator), other kernels run the per-step reference loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neurodeploy.surrogates.base import SURROGATES, Surrogate, positive

FORWARDS = ("clip", "sigmoid")


@SURROGATES.decorator("asgl")
@dataclass(frozen=True)
class ASGL(Surrogate):
    """ASGL. Live values: ``width`` (α, a leaf tensor with ``requires_grad = learn_width``), ``p``."""

    width: float = 1.0
    p: float = 0.8
    forward: str = "clip"
    learn_width: bool = True
    name = "asgl"
    fused = False
    compact = True
    live_names = ("width", "p")

    def window(self) -> float:
        """α is ASGL's full width: the window is ``|u| ≤ α/2``."""
        return float(self.current("width")) / 2

    def __post_init__(self):
        positive("width", self.width)
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0 <= self.p <= 1:
            raise ValueError(f"p must be a probability in [0, 1], got {self.p!r}")
        if self.forward not in FORWARDS:
            raise ValueError(f"forward must be one of {', '.join(FORWARDS)}, got {self.forward!r}")
        if not isinstance(self.learn_width, bool):
            raise ValueError(f"learn_width must be true or false, got {self.learn_width!r}")

    @property
    def alpha(self) -> torch.Tensor:
        """The width α (0-dim leaf tensor, learnable when ``learn_width``)."""
        a = self.current("width")
        if self.learn_width and not a.requires_grad:
            a.requires_grad_(True)
        return a

    def analog(self, u: torch.Tensor, alpha: torch.Tensor | None = None) -> torch.Tensor:
        """``H_α(u)`` (differentiable in u and α)."""
        a = self.alpha if alpha is None else alpha
        if self.forward == "clip":
            return torch.clamp(u / a + 0.5, 0.0, 1.0)
        return torch.sigmoid(4.0 * u / a)

    def spike_train(self, u: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """ŝ = H_α(u) + m ⊙ detach(Θ(u) − H_α(u)); ``mask`` (0/1, u's shape) fixes m."""
        analog = self.analog(u)
        theta = (u > 0).to(u.dtype)
        if mask is None:
            mask = (torch.rand_like(u) < self.current("p").to(u.device)).to(u.dtype)
        if self.live.track or self.live.track_diag:
            self._track(self.derivative(u.detach()))
        return analog + mask * (theta - analog).detach()

    def noisy_form(self) -> tuple[str, torch.Tensor, float]:
        """For kernels computing the training forward: (H_α form, α (the leaf tensor), p)."""
        return self.forward, self.alpha, float(self.current("p"))

    def kernel_form(self):
        return f"asgl_{self.forward}", (float(self.current("width")),)

    def derivative(self, u):
        a = self.current("width").detach()
        if self.forward == "clip":
            return (u.abs() <= a / 2).to(u.dtype) / a
        s = torch.sigmoid(4.0 * u / a)
        return 4.0 / a * s * (1.0 - s)
