"""Checkpoints: atomic writes, a format version, and clear errors for missing or corrupt files.

A run directory holds ``last.pt`` and ``best.pt`` (dicts, see :func:`save_checkpoint`),
``config.json`` (the resolved config) and ``metrics.jsonl`` (one JSON object per epoch).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from neurodeploy import __version__
from neurodeploy.atomic import write_bytes
from neurodeploy.errors import CheckpointError

FORMAT = "neurodeploy-checkpoint"
FORMAT_VERSION = 1
MAX_CLASSES = 100_000  # sanity bounds of a checkpoint's fields (a damaged file must not allocate TBs)
MAX_INPUT = 10**8


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Save ``payload`` (model_state, optimizer_state, config, epoch, rng, metrics, …)."""
    import io

    buf = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION,
                "neurodeploy_version": __version__, **payload}, buf)
    write_bytes(path, buf.getvalue())


def resolve_checkpoint(run_or_file: str | Path, which: str = "best") -> Path:
    """A run directory → its ``best.pt`` (or ``last.pt``); a file path is returned as is."""
    p = Path(run_or_file)
    if p.is_dir():
        ckpt = p / f"{which}.pt"
        if not ckpt.is_file():
            raise CheckpointError(f"{p} has no {which}.pt: is it a neurodeploy run directory? "
                                  "Train one with `neurodeploy train`")
        return ckpt
    if not p.exists():
        raise CheckpointError(f"{p} does not exist: pass a run directory or a .pt checkpoint")
    return p


def load_checkpoint(path: str | Path, which: str = "best") -> dict[str, Any]:
    """Load and check a checkpoint (a file, or a run directory's ``best.pt``/``last.pt``)."""
    p = resolve_checkpoint(path, which)
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise CheckpointError(f"{p} is not a readable checkpoint ({type(exc).__name__}); "
                              "it may be truncated: use the run's other checkpoint or retrain") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not a neurodeploy checkpoint (no '{FORMAT}' marker)")
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{p} has checkpoint format version {ckpt.get('format_version')}; "
                              f"this neurodeploy reads version {FORMAT_VERSION}")
    check_contents(ckpt, str(p))
    return ckpt


#: what every checkpoint holds: key → (accepted types, what it is)
REQUIRED: dict[str, tuple[tuple[type, ...], str]] = {
    "config": ((dict,), "the resolved config"),
    "model_state": ((dict,), "the model's state dict"),
    "epoch": ((int,), "the last finished epoch (0-based)"),
    "input_shape": ((list, tuple), "one sample's shape per step"),
    "classes": ((int,), "number of classes"),
}


def check_contents(ckpt: dict, where: str) -> None:
    """Required keys of the right type and finite weights, else :class:`CheckpointError`."""
    for key, (types, what) in REQUIRED.items():
        value = ckpt.get(key)
        if not isinstance(value, types) or isinstance(value, bool):
            raise CheckpointError(f"{where}: field {key!r} ({what}) is missing or has the wrong type "
                                  f"({type(value).__name__}); the file is damaged: retrain or use the "
                                  "run's other checkpoint")
    shape = ckpt["input_shape"]
    if not 0 <= ckpt["epoch"] <= 10**7 or not 1 <= ckpt["classes"] <= MAX_CLASSES or not shape or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 < d <= MAX_INPUT for d in shape) or \
            math.prod(shape) > MAX_INPUT:
        raise CheckpointError(f"{where}: epoch {ckpt['epoch']}, classes {ckpt['classes']} or input_shape "
                              f"{ckpt['input_shape']} is out of range; the file is damaged")
    for name, tensor in ckpt["model_state"].items():
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{where}: model_state[{name!r}] is not a tensor; the file is damaged")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(f"{where}: model_state[{name!r}] has {bad} NaN/inf values (the training "
                                  "diverged): retrain with a lower train.lr, or use the run's best.pt")


def read_metrics(run_dir: Path) -> list[dict]:
    """The per-epoch rows of ``run_dir/metrics.jsonl`` ([] when there is none)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot read the metrics ({type(exc).__name__})") from None
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict) or not isinstance(row.get("epoch"), int) or not all(
                isinstance(row.get(k), (int, float)) for k in ("train_loss", "test_accuracy")):
            raise CheckpointError(f"{path}: line {i} is not a metrics row; the file is damaged "
                                  "(delete the line or the file)")
        rows.append(row)
    return rows
