"""Hardware check of a mapped Xylo network: every limit at once, each with its fix.

samna's final configuration validation is unavailable here, so this check covers every limit of
the profile itself: the Rockpool mapper's design rules (inputs, outputs, hidden neurons, at least
two neuron layers, no two consecutive weight layers, output neurons not recurrent — the last two
are graph-structure errors raised while mapping) and the integer ranges of the specification
(weights, thresholds, dashes). Limits come from the profile (``neurodeploy/hw_profiles/xylo-*.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurodeploy.hw_profiles.schema import Profile


@dataclass(frozen=True)
class Violation:
    what: str
    got: str
    limit: str
    fix: str

    def text(self) -> str:
        return f"{self.what}: {self.got} (limit {self.limit}); fix: {self.fix}"


@dataclass
class CheckReport:
    profile: str
    violations: list[Violation] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_text(self) -> str:
        head = f"Xylo check against profile {self.profile!r}: " + ", ".join(
            f"{k} {v}" for k, v in self.usage.items())
        if self.ok:
            return head + "\n  all limits met"
        return "\n".join([head] + [f"  VIOLATION {v.text()}" for v in self.violations])

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "ok": self.ok, "usage": dict(self.usage),
                "violations": [v.__dict__ for v in self.violations]}


def _lim(profile: Profile, key: str) -> int | None:
    v = profile.limit(key)
    return None if v is None else int(v)


def check_spec(spec: dict[str, Any], n_layers: int, profile: Profile) -> CheckReport:
    """Check a specification (from_specification kwargs, integer arrays) with ``n_layers`` neuron layers."""
    rep = CheckReport(profile.name)
    w_in, w_out = np.asarray(spec["weights_in"]), np.asarray(spec["weights_out"])
    n_in, n_hidden, n_out = int(w_in.shape[0]), int(w_in.shape[1]), int(w_out.shape[1])
    rep.usage = {"inputs": n_in, "hidden": n_hidden, "outputs": n_out, "neuron layers": n_layers}
    v = rep.violations

    def count(key, got, what, fix):
        lim = _lim(profile, key)
        if lim is not None and got > lim:
            v.append(Violation(what, str(got), f"≤ {lim}", fix))

    count("max_inputs", n_in, "input channels", "reduce the input channels (e.g. pool the input: "
          "[data] input_pool in the config) or add a first layer off-chip")
    count("max_outputs", n_out, "output neurons", "use fewer classes/outputs (one output neuron per class)")
    count("max_hidden_neurons", n_hidden, "hidden neurons", "make the hidden layers narrower ([model] hidden)")
    low = _lim(profile, "min_neuron_layers")
    if low is not None and n_layers < low:
        v.append(Violation("neuron layers", str(n_layers), f"≥ {low}",
                           "add a hidden layer: Xylo needs input → hidden neurons → output neurons"))
    wmax = _lim(profile, "weight_max")
    wmin = -_lim(profile, "weight_min") if profile.limit("weight_min") is not None else None
    for key in ("weights_in", "weights_rec", "weights_out", "bias", "bias_out"):
        a = spec.get(key)
        if a is None or np.asarray(a).size == 0:
            continue
        a = np.asarray(a)
        if wmax is not None and a.max() > wmax or wmin is not None and a.min() < wmin:
            v.append(Violation(key, f"range [{a.min()}, {a.max()}]", f"[{wmin}, {wmax}]",
                               "re-export: the quantiser scales each neuron's inputs into 8 bits"))
    tmax = _lim(profile, "threshold_mant_max")
    for key in ("threshold", "threshold_out"):
        a = np.asarray(spec[key])
        if a.size and (a.min() < 1 or (tmax is not None and a.max() > tmax)):
            v.append(Violation(key, f"range [{a.min()}, {a.max()}]", f"[1, {tmax}]",
                               "a threshold rounds to 0 when it is tiny against the neuron's largest "
                               "weight: retrain with a larger v_threshold or smaller weights"))
    dmax = _lim(profile, "dash_max")
    for key in ("dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2", "dash_syn_out"):
        a = spec.get(key)
        if a is None or np.asarray(a).size == 0:
            continue
        a = np.asarray(a)
        if a.min() < 0 or (dmax is not None and a.max() > dmax):
            v.append(Violation(key, f"range [{a.min()}, {a.max()}]", f"[0, {dmax}]",
                               f"use time constants 2^dash·dt with dash ≤ {dmax} (shorter tau or a longer dt)"))
    return rep
