"""Fidelity criteria shared by every target's ``verify``: thresholds read from a profile's
``[fidelity]`` table (with command-line overrides) and the exact McNemar test that guards the
accuracy criterion against sampling noise."""

from __future__ import annotations

import math

from neurodeploy.errors import ConfigError


def profile_thresholds(profile: str, keys: tuple[str, ...], overrides: dict | None = None) -> dict[str, dict]:
    """``{key: {"value", "source"}}`` for ``keys`` from profile ``profile``'s ``[fidelity]`` (a missing
    key is refused); ``overrides`` (key → value, None = keep) win and are marked ``command line``."""
    from neurodeploy.hw_profiles.schema import load_profile

    prof = load_profile(profile)
    out = {}
    for key in keys:
        q = prof.fidelity.get(key)
        if q is None:
            raise ConfigError(f"profile {prof.name!r} has no [fidelity.{key}]; add it (value, source, kind)")
        out[key] = {"value": q.value, "source": f"profile {prof.name}"}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in out:
            raise ConfigError(f"unknown fidelity criterion {key!r}; known: {', '.join(out)}")
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ConfigError(f"fidelity threshold {key} must be a finite number >= 0, got {value!r}")
        out[key] = {"value": float(value), "source": "command line"}
    return out


def mcnemar_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for b vs c discordant pairs (binomial, p = 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2 ** n
    return min(1.0, 2 * tail)
