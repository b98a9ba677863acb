"""Shared helpers of the experiment scripts: run one small training, write a Markdown table."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
_DATA = None


def data():
    global _DATA
    if _DATA is None:
        from neurodeploy.data.registry import load_data
        from neurodeploy.train.config import load_config

        _DATA = load_data(load_config("configs/digits.toml")["data"])
    return _DATA


def train(overrides: list[str], seed: int, epochs: int) -> tuple[list[dict], float]:
    """Train configs/digits.toml with ``overrides`` (constant lr, no augmentation); returns the
    per-epoch metrics and the wall-clock seconds of ``fit``."""
    from neurodeploy.train.config import load_config
    from neurodeploy.train.trainer import Trainer

    cfg = load_config("configs/digits.toml", [
        'train.lr_schedule="constant"', "train.augment_shift_px=0", f"train.seed={seed}",
        f"train.epochs={epochs}", *overrides])
    with tempfile.TemporaryDirectory() as d:
        trainer = Trainer(cfg, d, progress=False, data=data())
        t0 = time.perf_counter()
        trainer.fit()
        seconds = time.perf_counter() - t0
        metrics = [json.loads(x) for x in (Path(d) / "metrics.jsonl").read_text().splitlines()]
    return metrics, seconds


def machine() -> str:
    return (f"{platform.node()} · {platform.processor() or platform.machine()} · "
            f"{os.cpu_count()} CPUs visible, torch threads {torch.get_num_threads()} · "
            f"Python {platform.python_version()} · torch {torch.__version__} · "
            f"kernel backend {os.environ.get('NEURODEPLOY_KERNEL', 'auto')}")


def write(name: str, title: str, seeds, header: list[str], rows: list[list], notes: str = "") -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    lines = [f"# {title}", "", f"- command: `PYTHONPATH=. {cmd}`", f"- seeds: {list(seeds)}",
             f"- machine: {machine()}", f"- date: {time.strftime('%Y-%m-%d %H:%M')}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    if notes:
        lines += ["", notes.strip()]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())
    return path


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-2 and v != 0 else f"{v:.3f}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return "—" if v is None else str(v)


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None
