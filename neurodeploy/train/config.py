"""Training configuration: a TOML file, validated against a schema declared as data.

Unknown sections or keys are errors (with the closest known name), every value is type- and
range-checked in one place, and defaults fill what the file leaves out. CLI overrides use the
same path syntax: ``--set model.hidden=[256,128]`` (the value is parsed as a TOML value).
"""

from __future__ import annotations

import copy
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurodeploy.constraints import Range, check_finite_tree, check_number
from neurodeploy.errors import ConfigError
from neurodeploy.tomlio import load_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Field:
    """One config key: its type, default, allowed values or range, and meaning (with units).

    Numbers (int/float) are always checked finite, then against ``min``/``max`` (``min_open``:
    strictly greater). ``pattern``: a regular expression a string must match in full (besides
    ``choices``; ``choices_doc`` then lists what is valid)."""

    type: type | tuple[type, ...]
    default: Any
    doc: str
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    list_of: type | None = None
    min_open: bool = False
    pattern: str | None = None
    choices_doc: str | None = None


F = Field
LIST_MAX = 100_000  # largest layer size / channel count in a list
SCHEMA: dict[str, dict[str, Field]] = {
    "data": {
        "dataset": F(str, "digits-events", "dataset name", choices=("digits-events", "shd", "nmnist", "dvsgesture")),
        "data_dir": F(str, "", "folder holding a real dataset's files (never downloaded)"),
        "time_steps": F(int, 16, "time steps T per sample", min=1, max=10000),
        "seed": F(int, 0, "seed of the digits-events generator", min=0, max=2**32 - 1),
        "cache_dir": F(str, "", "where generated data is cached (default ~/.cache/neurodeploy)"),
        "input_pool": F(list, [], "sum-pool each time step over blocks of these sizes, one per feature "
                        "dimension (e.g. [2, 5, 5]: digits-events 2x18x18 -> 1x4x4 = 16 channels); [] = off "
                        "(checked against the data's shape in neurodeploy.data.pooling)"),
        "input_clip": F(int, 0, "clip every input value to at most this many events per channel and step "
                        "(after input_pool; Xylo takes at most 15); 0 = off", min=0, max=1_000_000),
        "classes": F(int, 0, "keep only the samples of classes 0..classes-1 (e.g. 8 for Xylo Audio 2's "
                     "8 outputs); 0 = all", min=0, max=100_000),
    },
    "model": {
        "kind": F(str, "mlp", "architecture", choices=("mlp", "conv")),
        "hidden": F(list, [256], "hidden layer sizes (mlp)", list_of=int),
        "channels": F(list, [16, 32], "conv channels, each a 3×3 stride-2 conv (conv)", list_of=int),
        "neuron": F(str, "lif", "neuron model", choices=("lif", "cuba_lif", "if")),
        "tau_mem_s": F(float, 0.01, "membrane time constant in seconds", min=1e-6, max=1e6),
        "tau_syn_s": F(float, 0.005, "synaptic time constant in seconds (cuba_lif)", min=1e-6, max=1e6),
        "v_th": F(float, 1.0, "firing threshold", min=1e-6, max=1e6),
        "reset": F(str, "zero", "reset after a spike", choices=("zero", "subtract")),
        "dt_s": F(float, 1e-3, "simulation time step in seconds", min=1e-9, max=1e3),
        "recurrent": F(bool, False, "add recurrent weights to hidden layers (mlp)"),
        "bias": F(bool, False, "Linear/Conv layers with bias"),
        "learn_tau": F(bool, False, "learn time constants"),
        "learn_threshold": F(bool, False, "learn thresholds"),
        "readout": F(str, "spike-count", "class scores: spike-count (spiking output layer, Σ_t spikes), "
                     "membrane-mean / membrane-max (non-spiking LI output layer, mean / max over t of its "
                     "membrane; NIR LI)", choices=("spike-count", "membrane-mean", "membrane-max")),
        "init": F(str, "default", "weight initialisation: default (Kaiming ×2) or near-threshold (scale each "
                  "layer's weights on one training batch so that a fraction init_in_window of its membranes "
                  "lies in the surrogate's window |v − v_th| ≤ width)", choices=("default", "near-threshold")),
        "init_in_window": F(float, 0.2, "near-threshold init: target fraction of (t, sample, neuron) membranes "
                            "in the surrogate window", min=0.0, max=1.0, min_open=True),
        "init_window_width": F(float, 0.0, "near-threshold init: half-width of the window it targets "
                               "(0 = each layer's surrogate window; set it to compare surrogates from "
                               "the same initial weights)", min=0.0),
    },
    "surrogate": {
        "name": F(str, "fast_sigmoid", "surrogate derivative (see `neurodeploy inspect --surrogates`)"),
        "params": F(dict, {}, "surrogate parameters, e.g. {width = 0.5}"),
        "schedule": F(str, "auto", "training-time schedule or search of the surrogate (docs/surrogates.md); "
                      "auto = the seed method's own (adali → adali_log, asgl → asgl, asy → a2sg, else none)",
                      choices=("auto", "none", "adali_log", "adali_linear", "slope_interval",
                               "slope_adaptive", "asgl", "a2sg")),
        "schedule_params": F(dict, {}, "parameters of the schedule, e.g. {p = 0.2} for adali_log "
                             "(see `neurodeploy.train.callbacks.SCHEDULE_PARAMS`)"),
    },
    "diagnostics": {
        "enabled": F(bool, False, "per-layer gradient diagnostics (SGV, TGC, CV, gradient norm, compute "
                     "density, firing rate) added to metrics as diag_*"),
        "every_n_steps": F(int, 20, "measure on every N-th training step", min=1),
        "slope_cosine_every_n_steps": F(int, 0, "cosine similarity of the weight gradient to the one at "
                                        "reference_slope, every N steps (0 = off; one extra forward+backward)", min=0),
        "reference_slope": F(float, 100.0, "slope k = 1/width of the reference gradient", min=1e-6),
    },
    "train": {
        "epochs": F(int, 10, "training epochs", min=1, max=1_000_000),
        "batch_size": F(int, 64, "samples per batch", min=1, max=1_000_000),
        "lr": F(float, 2e-3, "learning rate", min=0.0, max=1e3),
        "lr_schedule": F(str, "constant", "learning-rate schedule over epochs", choices=("constant", "cosine")),
        "weight_decay": F(float, 0.0, "decoupled weight decay (AdamW)", min=0.0),
        "optimizer": F(str, "adam", "optimiser", choices=("adam", "adamw", "sgd")),
        "seed": F(int, 0, "seed for initialisation and shuffling", min=0, max=2**32 - 1),
        "threads": F(int, 2, "torch CPU threads (0 = torch default)", min=0, max=4096),
        "rate_target": F(float, 0.0, "firing-rate regulariser target per hidden layer (0 = off)", min=0.0, max=1.0),
        "rate_weight": F(float, 0.0, "firing-rate regulariser weight", min=0.0),
        "augment_shift_px": F(int, 0, "random shift of event frames by up to ±N pixels in training", min=0, max=8),
        "target": F(str, "none", "hardware-aware fine-tuning: train through this target's quantisation "
                    "('none' or a target with a training transform: `neurodeploy inspect --targets`)"),
        "init": F(str, "", "start from this run directory, .pt checkpoint or .nir graph (fine-tuning)"),
        "init_dialect": F(str, "neurodeploy", "writer of a train.init NIR file (docs/interop.md; CLI --dialect)"),
        "init_dt_s": F(float, 0.0, "time step in seconds of a train.init NIR file that does not record it "
                       "(0 = from its metadata; CLI --dt)", min=0.0, max=10.0),
        "init_reset": F(str, "", "reset mode of a train.init NIR file that does not record it "
                        "('' = metadata, else zero; CLI --reset)", choices=("", "zero", "subtract")),
        "init_input_scale": F(float, 1.0, "input scale folded into a train.init NIR file's first layer "
                              "(CLI --input-scale)", min=0.0, max=1e6),
        "device": F(str, "cpu", "torch device (cpu, cuda, auto)", choices=("cpu", "cuda", "auto"),
                    pattern=r"cuda:\d+", choices_doc="cpu, cuda, cuda:N, auto"),
    },
}


def _where(source: str, section: str, key: str) -> str:
    return f"{source}: [{section}] {key}"


def _check(source: str, section: str, key: str, value: Any) -> Any:
    field = SCHEMA[section][key]
    at = _where(source, section, key)
    expected = field.type
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            raise ConfigError(f"{at}: {value} is too large for a number") from None
    if isinstance(value, bool) and expected is not bool:
        raise ConfigError(f"{at}: expected {getattr(expected, '__name__', expected)}, got a boolean")
    if not isinstance(value, expected):
        raise ConfigError(f"{at}: expected {getattr(expected, '__name__', expected)}, got {value!r} ({type(value).__name__})")
    if field.choices is not None and value not in field.choices and not (
            field.pattern and isinstance(value, str) and re.fullmatch(field.pattern, value)):
        close = difflib.get_close_matches(str(value), [str(c) for c in field.choices], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        valid = field.choices_doc or ", ".join(map(str, field.choices))
        raise ConfigError(f"{at}: {value!r} is not one of {valid}{hint}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        check_number(at, value, Range(field.min, field.max, field.min_open))
    if isinstance(value, (dict, list)):
        check_finite_tree(at, value)
    if field.list_of is not None:
        if not value or not all(isinstance(v, field.list_of) and not isinstance(v, bool) and 0 < v <= LIST_MAX
                                for v in value):
            raise ConfigError(f"{at}: expected a non-empty list of positive {field.list_of.__name__}s "
                              f"(each ≤ {LIST_MAX}), got {value!r}")
    return value


def _unknown(what: str, name: str, known) -> ConfigError:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{what}: unknown key {name!r}{hint}; known: {', '.join(known)}")


def validate(raw: dict, source: str = "config") -> dict:
    """Return a complete config (defaults filled) or raise ConfigError naming the bad key."""
    out = defaults()
    for section, table in raw.items():
        if section not in SCHEMA:
            raise _unknown(source, section, SCHEMA)
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        for key, value in table.items():
            if key not in SCHEMA[section]:
                raise _unknown(f"{source}: [{section}]", key, SCHEMA[section])
            out[section][key] = _check(source, section, key, value)
    from neurodeploy.surrogates import make_surrogate
    make_surrogate(out["surrogate"]["name"], **out["surrogate"]["params"])  # validates the surrogate
    return out


def defaults() -> dict:
    return {s: {k: copy.deepcopy(f.default) for k, f in fields.items()} for s, fields in SCHEMA.items()}


def parse_override(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` → (section, key, value); the value is parsed as TOML."""
    path, sep, raw = text.partition("=")
    section, dot, key = path.strip().partition(".")
    if not sep or not dot:
        raise ConfigError(f"override {text!r}: expected section.key=value, e.g. train.epochs=5")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # bare words are strings: model.neuron=cuba_lif
    return section, key.strip(), value


def load_config(path: str | Path | None, overrides: list[str] = ()) -> dict:
    """Read a TOML config (or the defaults when ``path`` is None) and apply ``section.key=value``
    overrides; validate everything."""
    raw: dict = {}
    source = "defaults"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        raw = load_toml(p)
        source = str(p)
    if overrides:
        source = "command line" if path is None else f"{source} + command line"
    for text in overrides:
        section, key, value = parse_override(text)
        raw.setdefault(section, {})
        if not isinstance(raw[section], dict):
            raise ConfigError(f"override {text!r}: [{section}] is not a table")
        raw[section][key] = value
    return validate(raw, source)


def describe() -> str:
    """All keys with defaults and meaning (used by ``neurodeploy train --help-config``)."""
    lines = []
    for section, fields in SCHEMA.items():
        lines.append(f"[{section}]")
        for key, f in fields.items():
            extra = f" one of {f.choices_doc or ', '.join(map(str, f.choices))}" if f.choices else ""
            lines.append(f"  {key} = {f.default!r}  # {f.doc}{extra}")
    return "\n".join(lines)
