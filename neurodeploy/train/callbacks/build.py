"""Config → callbacks: schedule parameters, ``auto`` schedules, :func:`build_callbacks`."""

from __future__ import annotations

from neurodeploy.errors import ConfigError
from neurodeploy.train.callbacks.base import Callback, neuron_layers
from neurodeploy.train.callbacks.diagnostics import GradientDiagnostics
from neurodeploy.train.callbacks.schedules import (
    AdaLiSchedule,
    ASGLSchedule,
    SlopeSchedule,
    SurrogateMode,
)
from neurodeploy.train.callbacks.search import A2SGSearch
from neurodeploy.train.config import Field

# ----------------------------------------------------------------------------------------------
# config → callbacks

P = Field
SCHEDULE_PARAMS: dict[str, dict[str, Field]] = {
    "none": {},
    "adali_log": {"p": P(float, 0.2, "final boundary distance as a fraction of the initial", min=0.0, max=1.0),
                   "auto_coverage": P(float, 0.0, "> 0: initial boundaries from the membrane distribution at the "
                                      "start of training, covering this fraction of the membranes (0 = the "
                                      "surrogate's left/right)", min=0.0, max=1.0)},
    "adali_linear": {"p": P(float, 0.2, "final boundary distance as a fraction of the initial", min=0.0, max=1.0),
                   "auto_coverage": P(float, 0.0, "> 0: initial boundaries from the membrane distribution at the "
                                      "start of training, covering this fraction of the membranes (0 = the "
                                      "surrogate's left/right)", min=0.0, max=1.0)},
    "slope_interval": {
        "k_start": P(float, 1.0, "slope k = 1/width of the first interval", min=1e-6),
        "k_end": P(float, 100.0, "slope of the last interval", min=1e-6),
        "intervals": P(int, 5, "number of equal blocks of epochs", min=1),
        "spacing": P(str, "linear", "steps between slopes", choices=("linear", "log")),
    },
    "slope_adaptive": {
        "window": P(int, 10, "epochs in the weighted sum", min=1),
        "w_level": P(float, 0.5, "weight of the signal level"),
        "w_diff": P(float, 0.5, "weight of the signal difference"),
        "k_min": P(float, 1.0, "smallest slope", min=1e-6),
        "k_max": P(float, 100.0, "largest slope", min=1e-6),
        "signal": P(str, "train_accuracy", "signal in percent", choices=("train_accuracy", "test_accuracy")),
    },
    "asgl": {
        "zeta": P(float, 1.0, "p ← 1 − (1 − p)·zeta at each milestone", min=0.0, max=1.0),
        "milestones": P(list, [], "1-based epoch numbers at which p is raised"),
        "width_lr": P(float, 3e-4, "Adam learning rate of the widths α", min=0.0),
        "min_width": P(float, 1e-3, "smallest width α (set with a warning below)", min=1e-9),
    },
    "a2sg": {
        "every_n_steps": P(int, 50, "search every N training steps", min=1),
        "factor": P(float, 1.5, "candidate widths β/γ, β, β·γ", min=1.0 + 1e-9),
        "tgc_weight": P(float, 1.0, "weight w of TGC against ln SGV", min=0.0),
        "objective": P(str, "sgv", "J = ln f(δ[T]) − w·TGC with f = sgv (Var/Mean|δ|, the paper's; scales with "
                       "the gradient, so it partly minimises its size) or scale-free (Var/Mean|δ|²)",
                       choices=("sgv", "scale-free")),
        "beta_min": P(float, 0.05, "smallest β", min=1e-9),
        "beta_max": P(float, 5.0, "largest β", min=1e-9),
    },
}
AUTO_SCHEDULE = {"adali": "adali_log", "asgl": "asgl", "asy": "a2sg"}
NEEDS_SURROGATE = {"adali_log": "adali", "adali_linear": "adali", "asgl": "asgl", "a2sg": "asy"}


def schedule_params(schedule: str, given: dict) -> dict:
    """``given`` checked against ``SCHEDULE_PARAMS[schedule]``, defaults filled."""
    table = SCHEDULE_PARAMS[schedule]
    out = {}
    for key, value in given.items():
        if key not in table:
            raise ConfigError(f"[surrogate] schedule_params: unknown key {key!r} for schedule "
                              f"{schedule!r}; known: {', '.join(table) or 'none'}")
        f = table[key]
        if f.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, f.type):
            raise ConfigError(f"[surrogate] schedule_params.{key}: expected "
                              f"{f.type.__name__}, got {value!r}")
        if f.choices is not None and value not in f.choices:
            raise ConfigError(f"[surrogate] schedule_params.{key}: {value!r} is not one of "
                              f"{', '.join(f.choices)}")
        if f.min is not None and value < f.min or f.max is not None and value > f.max:
            raise ConfigError(f"[surrogate] schedule_params.{key}: {value!r} is outside "
                              f"[{f.min}, {f.max}]")
        if f.type is list and not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
            raise ConfigError(f"[surrogate] schedule_params.{key}: expected 1-based epoch numbers, got {value!r}")
        out[key] = value
    for key, f in table.items():
        out.setdefault(key, list(f.default) if isinstance(f.default, list) else f.default)
    return out


def resolve_schedule(surrogate_cfg: dict) -> str:
    schedule = surrogate_cfg.get("schedule", "auto")
    if schedule == "auto":
        schedule = AUTO_SCHEDULE.get(surrogate_cfg["name"], "none")
    return schedule


def build_callbacks(cfg: dict, model) -> list[Callback]:
    """Callbacks requested by ``cfg``: the surrogate's schedule and, if enabled, diagnostics."""
    s_cfg = cfg["surrogate"]
    schedule = resolve_schedule(s_cfg)
    params = schedule_params(schedule, s_cfg.get("schedule_params", {}))
    layers = neuron_layers(model)
    name = s_cfg["name"]
    need = NEEDS_SURROGATE.get(schedule)
    if need is not None and name != need:
        raise ConfigError(f"[surrogate] schedule = {schedule!r} needs name = {need!r}, got {name!r}")
    callbacks: list[Callback] = []
    if any(not layer.surrogate.fused for layer in layers):
        callbacks.append(SurrogateMode(model))
    if schedule in ("adali_log", "adali_linear"):
        callbacks.append(AdaLiSchedule(model, schedule.removeprefix("adali_"), params["p"],
                                       params["auto_coverage"]))
    elif schedule in ("slope_interval", "slope_adaptive"):
        bad = [layer.surrogate.name for layer in layers
               if "width" not in layer.surrogate.live_names or not layer.surrogate.fused]
        if bad:
            raise ConfigError(f"[surrogate] schedule = {schedule!r} needs a surrogate with a width "
                              f"(fast_sigmoid, sigmoid, arctan, triangle, rectangle, gaussian), got {bad[0]!r}")
        callbacks.append(SlopeSchedule(model, schedule.removeprefix("slope_"), params))
    elif schedule == "asgl":
        callbacks.append(ASGLSchedule(model, params))
    elif schedule == "a2sg":
        callbacks.append(A2SGSearch(model, params))
    elif name == "asgl" and any(layer.surrogate.learn_width for layer in layers):
        raise ConfigError("[surrogate] name = 'asgl' with schedule = 'none' cannot learn its width "
                          "(its optimiser lives in the asgl schedule); use schedule = 'asgl' or "
                          "params.learn_width = false")
    d = cfg.get("diagnostics") or {}
    if d.get("enabled"):
        callbacks.append(GradientDiagnostics(model, d.get("every_n_steps", 20),
                                             d.get("slope_cosine_every_n_steps", 0),
                                             d.get("reference_slope", 100.0)))
    return callbacks
