"""The standard surrogate derivatives, each with an explicit peak ``height`` and ``width``.

``u = v - v_th``. ``width`` is a scale in membrane-potential units: the half-width of the support
for compact shapes (triangle, rectangle), the standard deviation for the Gaussian, the scale of
the argument otherwise. The slope of the slope-schedule literature is ``k = 1 / width``. All
values read by ``derivative`` are live (see :class:`~neurodeploy.surrogates.base.Live`).

=================  =====================================================  =========
name               derivative ``d(u)``                                     support
=================  =====================================================  =========
straight_through   ``height``                                              all u
fast_sigmoid       ``height / (1 + |u|/width)²``                           all u
sigmoid            ``4·height·σ(u/width)·(1 − σ(u/width))``               all u
arctan             ``height / (1 + (u/width)²)``                           all u
triangle           ``height · max(0, 1 − |u|/width)``                      |u| < width
rectangle          ``height · 1[|u| ≤ width]``                             |u| ≤ width
gaussian           ``height · exp(−u² / (2·width²))``                      all u
=================  =====================================================  =========
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neurodeploy.surrogates.base import SURROGATES, Surrogate, positive


@dataclass(frozen=True)
class _HeightWidth(Surrogate):
    height: float = 1.0
    width: float = 0.5
    live_names = ("height", "width")

    def __post_init__(self):
        positive("height", self.height)
        positive("width", self.width)

    def _hw(self):
        return self.current("height"), self.current("width")

    def kernel_form(self):
        return self.name, tuple(float(v) for v in self._hw())


@SURROGATES.decorator("straight_through")
@dataclass(frozen=True)
class StraightThrough(Surrogate):
    """Straight-through estimator (Bengio et al. 2013): ``d(u) = height`` for every u."""

    height: float = 1.0
    name = "straight_through"
    live_names = ("height",)

    def __post_init__(self):
        positive("height", self.height)

    def derivative(self, u):
        return torch.ones_like(u) * self.current("height")

    def kernel_form(self):
        return "straight_through", (float(self.current("height")),)


@SURROGATES.decorator("sigmoid")
@dataclass(frozen=True)
class Sigmoid(_HeightWidth):
    """Derivative of a logistic sigmoid of ``u / width`` scaled to peak ``height`` at u = 0."""

    name = "sigmoid"

    kernel_form = _HeightWidth.kernel_form  # describes this class's derivative

    def derivative(self, u):
        h, w = self._hw()
        s = torch.sigmoid(u / w)
        return 4.0 * h * s * (1.0 - s)


@SURROGATES.decorator("arctan")
@dataclass(frozen=True)
class Arctan(_HeightWidth):
    """Derivative of ``atan(u / width)`` scaled to peak ``height``: ``h / (1 + (u/w)²)``."""

    name = "arctan"

    kernel_form = _HeightWidth.kernel_form  # describes this class's derivative

    def derivative(self, u):
        h, w = self._hw()
        return h / (1.0 + (u / w) ** 2)


@SURROGATES.decorator("triangle")
@dataclass(frozen=True)
class Triangle(_HeightWidth):
    """Triangle (Bellec et al. 2018): ``h · max(0, 1 − |u|/w)``; zero for |u| ≥ w."""

    name = "triangle"
    compact = True

    kernel_form = _HeightWidth.kernel_form  # describes this class's derivative

    def derivative(self, u):
        h, w = self._hw()
        return self._track(h * torch.clamp(1.0 - u.abs() / w, min=0.0))


@SURROGATES.decorator("rectangle")
@dataclass(frozen=True)
class Rectangle(_HeightWidth):
    """Rectangle / box (Wu et al. 2018): ``h`` on ``|u| ≤ w``, else 0."""

    name = "rectangle"
    compact = True

    kernel_form = _HeightWidth.kernel_form  # describes this class's derivative

    def derivative(self, u):
        h, w = self._hw()
        return self._track(h * (u.abs() <= w).to(u.dtype))


@SURROGATES.decorator("gaussian")
@dataclass(frozen=True)
class Gaussian(_HeightWidth):
    """Gaussian: ``h · exp(−u² / (2 w²))`` (``w`` is the standard deviation)."""

    name = "gaussian"

    kernel_form = _HeightWidth.kernel_form  # describes this class's derivative

    def derivative(self, u):
        h, w = self._hw()
        return h * torch.exp(-0.5 * (u / w) ** 2)
