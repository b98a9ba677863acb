"""Hardware profiles: per-target energy costs and limits, one TOML data file per target.

Schema (every number carries its provenance)::

    name = "loihi2"
    description = "…"
    [costs.e_ac_pj]            # one table per cost, keys from COST_KEYS
    value = 23.6
    source = "Davies et al., IEEE Micro 2018, Table 1"
    kind = "unverified"        # measured | simulated | derived | datasheet | unverified
    [limits.neurons_per_core]  # one table per limit, keys from LIMIT_KEYS
    value = 8192
    source = "…"
    kind = "unverified"

Costs and limits absent from a profile are unknown, not zero: reports say so.
"""

from neurodeploy.hw_profiles.schema import (
    COST_KEYS,
    LIMIT_KEYS,
    Profile,
    Quantity,
    list_profiles,
    load_profile,
)

__all__ = ["COST_KEYS", "LIMIT_KEYS", "Profile", "Quantity", "list_profiles", "load_profile"]
