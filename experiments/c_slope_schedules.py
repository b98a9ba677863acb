"""(c) Slope schedules vs fixed slopes: epochs to reach a target test accuracy.

Surrogate: fast sigmoid ``1/(1 + k|u|)²`` (SuperSpike, the seed's slope k = 1/width). Runs with
``NEURODEPLOY_KERNEL=torch`` because the compiled backend evaluates fast_sigmoid from its
construction fields, not its live width (see the report). Also the diagnostic cosine between the
weight gradient at the current slope and at k = 100 (fixed-slope runs).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("NEURODEPLOY_KERNEL", "torch")

from _common import mean, train, write  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=8)
p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
p.add_argument("--target", type=float, default=0.80)
a = p.parse_args()

diag = ["diagnostics.enabled=true", "diagnostics.every_n_steps=10", "diagnostics.slope_cosine_every_n_steps=10"]
runs = {f"fixed k={k}": ['surrogate.name="fast_sigmoid"', f"surrogate.params={{width={1 / k}}}", *diag]
        for k in (1, 10, 25, 100)}
runs["interval 1→100 (4 steps)"] = ['surrogate.name="fast_sigmoid"', "surrogate.params={}",
                                   'surrogate.schedule="slope_interval"',
                                   "surrogate.schedule_params={intervals=4}"]
runs["adaptive (train acc %)"] = ['surrogate.name="fast_sigmoid"', "surrogate.params={}",
                                  'surrogate.schedule="slope_adaptive"']
rows = []
for name, ov in runs.items():
    reach, final, ks, cos = [], [], [], []
    for s in a.seeds:
        m, _ = train(ov, s, a.epochs)
        hit = [x["epoch"] + 1 for x in m if x["test_accuracy"] >= a.target]
        reach.append(hit[0] if hit else None)
        final.append(m[-1]["test_accuracy"])
        ks.append([round(x.get("slope_k") or 0, 1) for x in m] if "slope_k" in m[0] else None)
        if "diag_cosine_ref" in m[0]:
            cos.append(mean([mean(x["diag_cosine_ref"]) for x in m]))
    reached = [r for r in reach if r is not None]
    rows.append([name, f"{len(reached)}/{len(reach)}", mean(reached), mean(final),
                 mean(cos) if cos else None, ks[0]])
    print(rows[-1], flush=True)
write("c_slope_schedules", f"(c) slope schedules vs fixed slopes, epochs to {a.target:.0%} test accuracy "
      f"({a.epochs} epochs)", a.seeds,
      ["slope", "seeds reaching target", "epochs to target (mean of those)", "final test acc",
       "cos(∇W at k, ∇W at k=100), mean", "k per epoch (seed 0)"], rows,
      notes="Embedded digits-events, 648-256-10 LIF MLP, T = 16, Adam lr 5e-3 constant. "
            "Cosine: per layer on every 10th step, averaged over layers and epochs.")
