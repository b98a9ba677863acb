"""The search space of ``neurodeploy sweep``: a TOML file validated like a training config.

Format (every key is checked; unknown keys and bad ranges are errors naming the key)::

    [sweep]                        # optional
    seed = 0                       # sampler seed (TPE)
    energy_samples = 64            # test samples the energy counter runs per trial (0 = all)
    fit_target = "loihi"           # optional constraint: the trial's network must export to this
                                   # target (export --check-only)
    fit_profile = "loihi2"         # profile of that check (default: the sweep's --profile)

    [params."train.lr"]            # a config key SECTION.KEY (see `neurodeploy train --help-config`)
    type = "float"                 # float | int | categorical
    low = 1e-3
    high = 1e-2
    log = true                     # float/int: sample on a log scale (low > 0)
    # step = 0.5                   # float/int: grid step (not with log)

    [params."model.hidden"]
    type = "categorical"
    choices = [[16], [32]]         # any TOML values the config key accepts

Both ends of a range and every choice are checked against the config schema before any trial runs.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurodeploy.errors import ConfigError

SWEEP_KEYS = {
    "seed": (int, 0, "sampler seed"),
    "energy_samples": (int, 64, "test samples counted for the energy objective (0 = all)"),
    "fit_target": (str, "", "target the network must fit (export --check-only); '' = none"),
    "fit_profile": (str, "", "hardware profile of the fit check ('' = the sweep's --profile)"),
}
PARAM_KEYS = {
    "type": "float, int or categorical",
    "low": "lower end of the range (float/int)",
    "high": "upper end of the range (float/int)",
    "log": "sample on a log scale (float/int, low > 0)",
    "step": "grid step (float/int, not with log)",
    "choices": "list of values (categorical)",
}
KINDS = ("float", "int", "categorical")


@dataclass(frozen=True)
class Param:
    """One searched config key ``section.key``."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    def labels(self) -> list[str]:
        """Categorical choices as the strings Optuna stores (JSON of each value)."""
        return [json.dumps(c) for c in self.choices]


@dataclass(frozen=True)
class Space:
    path: str
    params: tuple[Param, ...]
    seed: int = 0
    energy_samples: int = 64
    fit_target: str = ""
    fit_profile: str = ""

    def suggest(self, trial) -> dict[str, Any]:
        """The trial's values ``{section.key: value}`` (Optuna's ``suggest_*``)."""
        out = {}
        for p in self.params:
            if p.kind == "float":
                out[p.key] = trial.suggest_float(p.key, p.low, p.high, log=p.log, step=p.step)
            elif p.kind == "int":
                out[p.key] = trial.suggest_int(p.key, int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
            else:
                out[p.key] = json.loads(trial.suggest_categorical(p.key, p.labels()))
        return out


def apply(cfg: dict, values: dict[str, Any], where: str) -> dict:
    """``cfg`` with ``values`` set and validated (a ConfigError names ``where`` and the key)."""
    from neurodeploy.train.config import validate

    out = copy.deepcopy(cfg)
    for key, value in values.items():
        section, _, name = key.partition(".")
        out[section][name] = value
    return validate(out, where)


def _unknown(where: str, name: str, known) -> ConfigError:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{where}: unknown key {name!r}{hint}; known: {', '.join(known)}")


def _number(where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return value


def load_space(path: str | Path, base_cfg: dict) -> Space:
    """Read and check a space file against the training config ``base_cfg``."""
    from neurodeploy.tomlio import load_toml
    from neurodeploy.train.config import SCHEMA

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"space file {p} does not exist")
    raw = load_toml(p)
    for section in raw:
        if section not in ("sweep", "params"):
            raise _unknown(str(p), section, ("sweep", "params"))
    sweep = raw.get("sweep", {})
    if not isinstance(sweep, dict):
        raise ConfigError(f"{p}: [sweep] must be a table")
    settings = {}
    for key, value in sweep.items():
        if key not in SWEEP_KEYS:
            raise _unknown(f"{p}: [sweep]", key, SWEEP_KEYS)
        kind = SWEEP_KEYS[key][0]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ConfigError(f"{p}: [sweep] {key}: expected {kind.__name__}, got {value!r}")
        if kind is int and not 0 <= value <= 2**32 - 1:
            raise ConfigError(f"{p}: [sweep] {key}: {value} is out of range (0 … 2^32 − 1)")
        settings[key] = value
    if settings.get("fit_target"):
        from neurodeploy.exporters import get_target

        get_target(settings["fit_target"])  # unknown target: the registry's error with the known names
    if settings.get("fit_profile"):
        if not settings.get("fit_target"):
            raise ConfigError(f"{p}: [sweep] fit_profile needs fit_target (the target the check exports to)")
        from neurodeploy.hw_profiles import load_profile

        load_profile(settings["fit_profile"])
    params_raw = raw.get("params")
    if not isinstance(params_raw, dict) or not params_raw:
        raise ConfigError(f"{p}: no [params.\"SECTION.KEY\"] table: name at least one config key to search")
    params = []
    for key, spec in params_raw.items():
        where = f'{p}: [params."{key}"]'
        section, dot, name = key.partition(".")
        if not dot or section not in SCHEMA:
            raise _unknown(f"{p}: [params]", key, [f"{s}.{k}" for s in SCHEMA for k in SCHEMA[s]])
        if name not in SCHEMA[section]:
            raise _unknown(f"{p}: [params]", key, [f"{section}.{k}" for k in SCHEMA[section]])
        if not isinstance(spec, dict):
            raise ConfigError(f"{where} must be a table with type = float, int or categorical")
        for k in spec:
            if k not in PARAM_KEYS:
                raise _unknown(where, k, PARAM_KEYS)
        kind = spec.get("type")
        if kind not in KINDS:
            close = difflib.get_close_matches(str(kind), KINDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: type = {kind!r} is not one of {', '.join(KINDS)}{hint}")
        params.append(_param(where, key, kind, spec, base_cfg))
    return Space(str(p), tuple(params), **settings)


def _param(where: str, key: str, kind: str, spec: dict, base_cfg: dict) -> Param:
    if kind == "categorical":
        extra = [k for k in spec if k not in ("type", "choices")]
        if extra:
            raise ConfigError(f"{where}: {extra[0]!r} does not apply to a categorical parameter (only choices)")
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: choices must be a non-empty list of values, got {choices!r}")
        labels = [json.dumps(c) for c in choices]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"{where}: choices repeat a value: {choices!r}")
        for c in choices:
            apply(base_cfg, {key: c}, f"{where} choice {json.dumps(c)}")
        return Param(key, kind, choices=tuple(choices))
    if "choices" in spec:
        raise ConfigError(f"{where}: choices apply to type = categorical only")
    for k in ("low", "high"):
        if k not in spec:
            raise ConfigError(f"{where}: {k} is missing (a {kind} range needs low and high)")
    low, high = _number(f"{where} low", spec["low"]), _number(f"{where} high", spec["high"])
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log must be true or false, got {log!r}")
    step = spec.get("step")
    if kind == "int":
        for k, v in (("low", low), ("high", high), ("step", step)):
            if v is not None and not isinstance(v, int):
                raise ConfigError(f"{where}: {k} = {v!r}: an int parameter needs integers")
    if not low < high:
        raise ConfigError(f"{where}: low = {low!r} must be below high = {high!r}")
    if log and low <= 0:
        raise ConfigError(f"{where}: log = true needs low > 0, got {low!r}")
    if step is not None:
        _number(f"{where} step", step)
        if step <= 0 or step > high - low:
            raise ConfigError(f"{where}: step = {step!r} must be in (0, high − low]")
        if log:
            raise ConfigError(f"{where}: step and log = true exclude each other")
    for v in (low, high):
        apply(base_cfg, {key: float(v) if kind == "float" else int(v)}, where)
    return Param(key, kind, low, high, log, step)


def _param_to_json(p: Param) -> dict:
    return {"key": p.key, "kind": p.kind, "low": p.low, "high": p.high, "log": p.log, "step": p.step,
            "choices": list(p.choices)}


def _param_from_json(d: dict) -> Param:
    return Param(**{**d, "choices": tuple(d["choices"])})
