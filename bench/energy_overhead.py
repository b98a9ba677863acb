"""Overhead of energy counting over plain inference on the demo network.

Usage: ``PYTHONPATH=. python bench/energy_overhead.py [RUN_DIR] [--samples N] [--repeats R]``

RUN_DIR is a trained run (default: trains the digits demo for 3 epochs into a temp folder).
Plain inference = the float reference (``from_nir`` once, batches of 256, no recording);
counting = :func:`neurodeploy.energy.count_activity` (same simulation with recording plus all
counts). Prints the best-of-R time of each (runs interleaved) and the ratio; exits 1 if counting adds > 30 %.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import torch

from neurodeploy.energy import count_activity
from neurodeploy.ir.from_nir import from_nir
from neurodeploy.pipeline import eval_samples, load_source
from neurodeploy.sim.float_sim import prepare_input

LIMIT = 1.30


def plain(graph, x: torch.Tensor, batch_size: int = 256) -> None:
    model, conv = from_nir(graph)
    with torch.no_grad():
        for s in range(0, x.shape[0], batch_size):
            model(prepare_input(x[s:s + batch_size].transpose(0, 1).float(), conv.input_shape))


def best_interleaved(fns, repeats: int) -> list[float]:
    """Best time of each function, alternating them so that load drift hits both alike."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for ts, fn in zip(times, fns):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [min(ts) for ts in times]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", nargs="?")
    ap.add_argument("--samples", type=int, default=0, help="test samples (0 = all)")
    ap.add_argument("--repeats", type=int, default=21)
    args = ap.parse_args()
    torch.set_num_threads(2)
    run = args.run
    if run is None:
        from neurodeploy.train.config import load_config
        from neurodeploy.train.trainer import Trainer

        run = tempfile.mkdtemp(prefix="energy_bench_")
        Trainer(load_config("configs/digits.toml", ["train.epochs=3"]), run, progress=False).fit()
    src = load_source(run, "last", "neurodeploy", None)
    x, _ = eval_samples(src.data_cfg, None, None, args.samples)
    plain(src.graph, x)  # warm-up (extension load, allocator)
    count_activity(src.graph, x)
    t_plain, t_count = best_interleaved([lambda: plain(src.graph, x), lambda: count_activity(src.graph, x)],
                                        args.repeats)
    ratio = t_count / t_plain
    print(f"{x.shape[0]} samples x T={x.shape[1]}, input {tuple(x.shape[2:])}, torch threads "
          f"{torch.get_num_threads()}, best of {args.repeats}")
    print(f"plain inference {t_plain * 1e3:.1f} ms, counting {t_count * 1e3:.1f} ms, "
          f"ratio {ratio:.3f} (overhead {100 * (ratio - 1):+.1f} %, limit +{100 * (LIMIT - 1):.0f} %)")
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
