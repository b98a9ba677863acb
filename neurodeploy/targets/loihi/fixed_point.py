"""The Loihi fixed-point number format, read from the target's hardware profile (never from code).

    FixedPoint.from_profile(profile) -> FixedPoint
    fixed_point(name_or_profile=None) -> FixedPoint     # None: the target's default profile
    profile_of(net_path) -> str                          # the profile an export was made for

Format fields (required: without them no integer can be computed, so a profile lacking one is
refused naming the key): ``weight_max`` (largest integer weight; the even grid is
[-(weight_max + 2), weight_max]), ``decay_bits`` (decays are d / 2**decay_bits, so 4096 for 12
bits), ``state_bits`` (u and v wrap/clip to this many bits, 24), ``state_shift_bits`` (weights,
biases and thresholds enter the state shifted left by this, 6 in lava-dl netx).
Range limits (optional: absent means "not checked", said once by the export as a warning and in
its manifest): ``threshold_mant_max``, ``bias_mant_max``, ``delay_max``, ``refractory_max``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from neurodeploy.errors import ConfigError
from neurodeploy.hw_profiles.schema import Profile, load_profile

#: the profile a Loihi export uses unless told otherwise (Target.default_profile)
DEFAULT_PROFILE = "loihi2"
FORMAT_KEYS = ("weight_max", "decay_bits", "state_bits", "state_shift_bits")
RANGE_KEYS = ("threshold_mant_max", "bias_mant_max", "delay_max", "refractory_max")


@dataclass(frozen=True)
class FixedPoint:
    """Integer format of one Loihi profile; ``None`` range limits are not checked."""

    profile: str
    weight_max: int
    decay_bits: int
    state_bits: int
    state_shift_bits: int
    threshold_mant_max: int | None = None
    bias_mant_max: int | None = None
    delay_max: int | None = None
    refractory_max: int | None = None

    @property
    def decay_one(self) -> int:
        """The decay of a fully leaky (iDecay) or the scale of a decay: 2**decay_bits (4096)."""
        return 1 << self.decay_bits

    @property
    def state_half(self) -> int:
        """2**(state_bits - 1): u wraps to [-state_half, state_half), v clips to ±(state_half - 1)."""
        return 1 << (self.state_bits - 1)

    @property
    def state_scale(self) -> int:
        """2**state_shift_bits (64): v_fixed = state_scale · k · v_float."""
        return 1 << self.state_shift_bits

    @property
    def not_checked(self) -> tuple[str, ...]:
        """Range limits the export uses that are absent from the profile (reported once, never
        replaced by a constant); ``refractory_max`` only bounds ``refDelay`` in a file check."""
        return tuple(k for k in RANGE_KEYS if k != "refractory_max" and getattr(self, k) is None)

    @classmethod
    def from_profile(cls, profile: Profile) -> FixedPoint:
        values = {}
        for key in FORMAT_KEYS:
            v = profile.limit(key)
            if v is None:
                raise ConfigError(f"profile {profile.name!r} has no [limits.{key}]: the Loihi number format "
                                  f"needs it (see hw_profiles/{DEFAULT_PROFILE}.toml); add it with value, "
                                  "source and kind")
            values[key] = int(v)
        for key in RANGE_KEYS:
            v = profile.limit(key)
            values[key] = None if v is None else int(v)
        return cls(profile.name, **values)


@lru_cache(maxsize=16)
def _cached(name: str) -> FixedPoint:
    return FixedPoint.from_profile(load_profile(name))


def fixed_point(profile: str | Profile | FixedPoint | None = None) -> FixedPoint:
    """The format of ``profile`` (name, path, :class:`Profile`), default :data:`DEFAULT_PROFILE`."""
    if isinstance(profile, FixedPoint):
        return profile
    if isinstance(profile, Profile):
        return FixedPoint.from_profile(profile)
    return _cached(str(profile or DEFAULT_PROFILE))


def profile_of(net_path: str | Path) -> str:
    """The profile a ``.net`` file was exported for (its manifest's ``profile``), else
    :data:`DEFAULT_PROFILE` (a file from lava-dl itself has no manifest)."""
    manifest = Path(str(net_path) + ".manifest.json")
    if manifest.is_file():
        try:
            return str(json.loads(manifest.read_text()).get("profile", DEFAULT_PROFILE))
        except ValueError:
            raise ConfigError(f"{manifest}: not valid JSON; export the network again") from None
    return DEFAULT_PROFILE
