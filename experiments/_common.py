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
CLAIMS = "## Claims"  # a results file's hand-written claim-by-claim verdicts, kept when a script rewrites it
STALE = "_The table above was regenerated after these verdicts were written: re-check the numbers they quote._"
_DATA = None


def data():
    global _DATA
    if _DATA is None:
        from neurodeploy.data.registry import load_data
        from neurodeploy.train.config import load_config

        _DATA = load_data(load_config("configs/digits.toml")["data"])
    return _DATA


def mnist1d_data(n_train: int = 2000, n_test: int = 1000, levels: int = 16):
    """MNIST-1D (Greydanus 2020) generated locally with ``mnist1d.data.make_dataset`` (seed 42,
    never downloaded) as a temporal spiking task: each of the 40 sequence steps is one time step;
    its scalar value is one-hot coded into ``levels`` binary channels (bins = training-set
    quantiles). Returns LoadedData with input_shape (levels,), 10 classes."""
    import numpy as np
    from mnist1d.data import get_dataset_args, make_dataset

    from neurodeploy.data.digits_events import EventDataset
    from neurodeploy.data.registry import LoadedData

    args = get_dataset_args()
    args.num_samples = int((n_train + n_test) / 0.8) + 1
    d = make_dataset(args)
    edges = np.quantile(d["x"], np.linspace(0, 1, levels + 1)[1:-1])

    def code(x):
        idx = np.digitize(x, edges)  # (N, 40) in 0..levels-1
        return torch.from_numpy(np.eye(levels, dtype=np.uint8)[idx])  # (N, T, levels)

    tr = EventDataset(code(d["x"][:n_train]), torch.as_tensor(d["y"][:n_train], dtype=torch.int64))
    te = EventDataset(code(d["x_test"][:n_test]), torch.as_tensor(d["y_test"][:n_test], dtype=torch.int64))
    return LoadedData(tr, te, (levels,), 10, "mnist1d")


_MNIST1D = None


def task(name: str):
    """(config file, LoadedData, extra overrides) of a task: digits (MLP), digits-conv, mnist1d."""
    global _MNIST1D
    if name == "digits":
        return "configs/digits.toml", data(), []
    if name == "digits-conv":
        return "configs/digits.toml", data(), ['model.kind="conv"', "model.channels=[8, 16]"]
    if name == "mnist1d":
        if _MNIST1D is None:
            _MNIST1D = mnist1d_data()
        return "configs/digits.toml", _MNIST1D, ["model.tau_mem_s=0.02"]
    raise ValueError(name)


def alive(task_name: str) -> list[str]:
    """Overrides that make ``task_name`` trainable at all: on MNIST-1D the default init leaves every
    membrane below the surrogate window (0 % in-window, one class predicted: f_readout_init_mnist1d.md),
    so the second-task runs use the near-threshold init and a membrane-mean (LI) readout there (and on
    the conv net, dead from the default init too: f_readout_init_digits-conv.md). The
    init targets the window |u| ≤ 0.5 whatever the arm's surrogate, so every arm of a seed starts
    from the same weights (targeting a wide triangle/ASY window of 1.5 instead left it silent)."""
    return (['model.init="near-threshold"', 'model.readout="membrane-mean"', "model.init_window_width=0.5"]
            if task_name in ("mnist1d", "digits-conv") else [])


TASK_DESC = {
    "digits": "digits-events (embedded, 1442 train / 355 test samples)",
    "digits-conv": "digits-events, conv 2×18×18 → 8 → 16 channels (3×3 stride 2) → LI(10), near-threshold "
                   "init (20 % of membranes within |u| ≤ 0.5), membrane-mean (LI) readout",
    "mnist1d": "MNIST-1D (generated locally, 2000 train / 1000 test, 40 steps, 16-level one-hot input), "
               "τ_mem 20 ms, near-threshold init (20 % of membranes within |u| ≤ 0.5), membrane-mean (LI) readout",
}


def train(overrides: list[str], seed: int, epochs: int, task_name: str = "digits") -> tuple[list[dict], float]:
    """Train ``task_name`` (configs/digits.toml + the task's overrides) with ``overrides`` (constant
    lr, no augmentation); returns the per-epoch metrics and the wall-clock seconds of ``fit``."""
    from neurodeploy.train.config import load_config
    from neurodeploy.train.trainer import Trainer

    config, loaded, extra = task(task_name)
    cfg = load_config(config, [
        'train.lr_schedule="constant"', "train.augment_shift_px=0", f"train.seed={seed}",
        f"train.epochs={epochs}", *extra, *overrides])
    with tempfile.TemporaryDirectory() as d:
        trainer = Trainer(cfg, d, progress=False, data=loaded)
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
    old = path.read_text() if path.exists() else ""
    if CLAIMS in old:  # the hand-written verdicts survive a rerun, flagged for re-checking
        lines += ["", CLAIMS + old.split(CLAIMS, 1)[1].rstrip()]
        if STALE not in old:
            lines += ["", STALE]
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


def mean_std(values) -> str:
    """``mean ± std`` (sample std, n − 1) of ``values``."""
    import statistics

    values = [v for v in values if v is not None]
    if not values:
        return "—"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


def paired_p(a, b) -> float | None:
    """Two-sided paired t-test p-value of a vs b (same seeds). Wilcoxon's signed-rank test cannot
    go below p = 0.0625 with 5 pairs, so the t-test is the one reported (normality assumed)."""
    from scipy import stats

    if len(a) != len(b) or len(a) < 2:
        return None
    diffs = [x - y for x, y in zip(a, b)]
    if all(d == diffs[0] for d in diffs):
        return 1.0 if diffs[0] == 0 else 0.0
    return float(stats.ttest_rel(a, b).pvalue)


def fmt_p(p) -> str:
    return "—" if p is None else f"{p:.3f}"
