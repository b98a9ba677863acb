"""The one place numbers from users are checked: finite, in range, of the right kind.

Readers declare their constraints as data (:class:`Range` entries in a schema table: the
training config, hardware profiles, CLI options) and call :func:`check_number`; it refuses NaN
and ±inf everywhere (``value < min`` is false for NaN, so a bare range check lets NaN through)
and names the field, what was expected and what was given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from neurodeploy.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """A finite number in ``[min, max]``; ``min_open``: ``> min`` instead of ``>= min``."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        lo = "" if self.min is None else f"{'>' if self.min_open else '≥'} {self.min:g}"
        hi = "" if self.max is None else f"≤ {self.max:g}"
        kind = "an integer" if self.integer else "a finite number"
        return " ".join(x for x in (kind, lo, "and" if lo and hi else "", hi) if x)


def check_number(at: str, value: Any, rng: Range) -> float | int:
    """``value`` if it satisfies ``rng``, else :class:`ConfigError` naming ``at``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{at}: expected {rng.describe()}, got {value!r}")
    if rng.integer and not isinstance(value, int):
        raise ConfigError(f"{at}: expected an integer, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):  # ints are finite (and may not fit a float)
        raise ConfigError(f"{at}: {value!r} is not a finite number; expected {rng.describe()}")
    if rng.min is not None and (value <= rng.min if rng.min_open else value < rng.min):
        word = "must be greater than" if rng.min_open else "is below the minimum"
        raise ConfigError(f"{at}: {value!r} {word} {rng.min:g}")
    if rng.max is not None and value > rng.max:
        raise ConfigError(f"{at}: {value!r} is above the maximum {rng.max:g}")
    return value


def check_finite_tree(at: str, value: Any) -> Any:
    """Every number inside ``value`` (nested dicts/lists) is finite; returns ``value``."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_finite_tree(f"{at}.{k}", v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_finite_tree(f"{at}[{i}]", v)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{at}: {value!r} is not a finite number")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2 ** 63:
        raise ConfigError(f"{at}: {value} is too large")
    return value
