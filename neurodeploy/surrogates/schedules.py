"""Schedule values as pure functions of the epoch (or of a signal history).

Each returns a plain float; callbacks write it into a surrogate's live tensors. Epochs are
0-based indices ``k = 0 … N − 1`` of ``N`` training epochs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _progress(epoch: int, epochs: int) -> float:
    """k / (N − 1) clipped to [0, 1]; 0 for a single-epoch run."""
    if epochs <= 1:
        return 0.0
    return min(max(epoch / (epochs - 1), 0.0), 1.0)


def adali_distance(epoch: int, epochs: int, initial: float, p: float, kind: str = "log") -> float:
    """AdaLi update-boundary distance from threshold in epoch ``k`` (our reading, docs/surrogates.md).

    Starts at ``initial`` (= V_th − V⁻ or V⁺ − V_th) in epoch 0 and reaches ``p · initial`` in the
    last epoch N − 1 (Eq. 19: final boundary = p of the initial distance)::

        linear: d_k = d_1 · (1 − (1 − p) · k / (N − 1))
        log:    d_k = d_1 · (1 − (1 − p) · ln(1 + k) / ln(N))

    The log form shrinks fastest early (at 1/5 of training it has covered ~74 % of the way for
    N = 500, matching the paper's remark that it "has discarded nearly half of the gradient
    calculations by the 100th epoch").
    """
    if kind == "linear":
        frac = _progress(epoch, epochs)
    elif kind == "log":
        frac = 0.0 if epochs <= 1 else min(math.log1p(max(epoch, 0)) / math.log(epochs), 1.0)
    elif kind == "none":
        frac = 0.0
    else:
        raise ValueError(f"AdaLi schedule kind must be 'log', 'linear' or 'none', got {kind!r}")
    return initial * (1.0 - (1.0 - p) * frac)


def slope_interval(epoch: int, epochs: int, k_start: float = 1.0, k_end: float = 100.0,
                   intervals: int = 5, spacing: str = "linear") -> float:
    """Interval slope schedule: training is cut into ``intervals`` equal blocks of epochs; block
    ``i`` uses ``k_i = k_start + (k_end − k_start) · i / (intervals − 1)`` ("fixed steps";
    ``spacing = "log"`` makes the steps geometric instead)."""
    i = min(intervals - 1, (max(epoch, 0) * intervals) // max(epochs, 1))
    frac = i / (intervals - 1) if intervals > 1 else 1.0
    if spacing == "log":
        return k_start * (k_end / k_start) ** frac
    return k_start + (k_end - k_start) * frac


def slope_adaptive(history: Sequence[float], window: int = 10, w_level: float = 0.5,
                   w_diff: float = 0.5, k_min: float = 1.0, k_max: float = 100.0) -> float:
    """Adaptive slope from a training signal ``r`` (seed 002)::

        k_t = (1/window) · Σ_{i=0}^{window−1} [ w_level · r_{t−i} + w_diff · (r_{t−i} − r_{t−i−1}) ]

    read literally: values before the first recorded one count as 0 (so ``r'_0 = r_0`` and a
    short history gives a small, shallow k), the sum is always divided by ``window``. The
    result is kept in [k_min, k_max] (the slope range of the study). Empty history → k_min.
    """
    r = [0.0, *history]
    terms = [w_level * r[j] + w_diff * (r[j] - r[j - 1]) for j in range(1, len(r))][-window:]
    k = sum(terms) / window if terms else k_min
    return min(max(k, k_min), k_max)


def asgl_p(epoch: int, p0: float, zeta: float = 1.0, milestones: Sequence[int] = ()) -> float:
    """ASGL spike probability: ``p ← 1 − (1 − p) · ζ`` at each milestone.

    Milestones are 1-based epoch numbers as in the paper's Table 7 ("30-th, 70-th, …"): the
    update takes effect from the m-th epoch on (0-based index ``m − 1``).
    """
    n = sum(1 for m in milestones if m <= epoch + 1)
    return 1.0 - (1.0 - p0) * zeta ** n
