"""Gradient statistics of local gradients δ (T, B, …) = ∂L/∂(neuron input) per time step.

Pure functions on tensors; used by A2SG's width search and by the gradient diagnostics.
"""

from __future__ import annotations

import torch


def sgv(delta_t: torch.Tensor) -> float:
    """Spatial gradient variation (A2SG): ``Var(δ[T]) / Mean(|δ[T]|)`` over all entries of one
    time step (population variance). ``inf`` when δ[T] is all zero (no gradient at all)."""
    d = delta_t.detach().double().reshape(-1)
    mean_abs = float(d.abs().mean())
    if mean_abs == 0.0:
        return float("inf")
    return float(d.var(correction=0)) / mean_abs


def scale_free_sgv(delta_t: torch.Tensor) -> float:
    """``Var(δ[T]) / Mean(|δ[T]|)²`` (a squared coefficient of variation): unchanged when δ is
    multiplied by a constant, unlike :func:`sgv` (which scales with it). ``inf`` when δ[T] = 0."""
    d = delta_t.detach().double().reshape(-1)
    mean_abs = float(d.abs().mean())
    if mean_abs == 0.0:
        return float("inf")
    return float(d.var(correction=0)) / mean_abs ** 2


SGV_OBJECTIVES = {"sgv": sgv, "scale-free": scale_free_sgv}
"""A2SG search objectives ``J = ln f(δ[T]) − w·TGC``: the paper's SGV, or its scale-free form."""


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().reshape(-1), b.detach().double().reshape(-1)
    na, nb = float(a.norm()), float(b.norm())
    if na == 0.0 or nb == 0.0:
        return 0.0  # a zero gradient has no direction: counted as orthogonal
    return float(a @ b) / (na * nb)


def tgc(delta: torch.Tensor) -> list[float]:
    """Temporal gradient consistency ``cos(δ[t], δ[t+1])`` for t = 0 … T−2 (``delta``: (T, …))."""
    return [_cos(delta[t], delta[t + 1]) for t in range(delta.shape[0] - 1)]


def mean_tgc(delta: torch.Tensor) -> float:
    values = tgc(delta)
    return sum(values) / len(values) if values else 0.0


def cv(delta: torch.Tensor) -> float:
    """Coefficient of variation ``std(δ) / mean(|δ|)`` over all entries (inf if all zero)."""
    d = delta.detach().double().reshape(-1)
    mean_abs = float(d.abs().mean())
    return float(d.std(correction=0)) / mean_abs if mean_abs else float("inf")


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two gradients (flattened); 0 if either is zero."""
    return _cos(a, b)
