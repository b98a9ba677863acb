"""Checkpoints: atomic writes, a format version, and clear errors for missing or corrupt files.

A run directory holds ``last.pt`` and ``best.pt`` (dicts, see :func:`save_checkpoint`),
``config.json`` (the resolved config) and ``metrics.jsonl`` (one JSON object per epoch).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from neurodeploy import __version__
from neurodeploy.atomic import write_bytes
from neurodeploy.errors import CheckpointError

FORMAT = "neurodeploy-checkpoint"
FORMAT_VERSION = 1


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
    return ckpt


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
