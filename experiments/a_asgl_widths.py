"""(a) ASGL ablation in the shape of the paper's Tables 2/3: fixed vs learnable width × p ∈ {1, 0.8}
× initial width α, with the width learning rate of the paper's code (3e-4) and ours (1e-2).

All arms: ``asgl`` surrogate (rectangle h_α of full width α, height 1/α), membrane-mean readout of
a non-spiking LI layer (the mean output current of ASGL's Eq. 5), near-threshold init (so that no
arm starts dead; in-window at init reported with ASGL's window |u| ≤ α/2). p = probability of a
spike in the noisy forward (paper convention; p = 1 is the plain surrogate).
"""

from __future__ import annotations

import argparse

from _common import TASK_DESC, fmt_p, mean, mean_std, paired_p, train, write

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
p.add_argument("--widths", type=float, nargs="+", default=[0.5, 2.5])
p.add_argument("--task", default="digits", choices=sorted(TASK_DESC))
p.add_argument("--out", default="a_asgl_widths", help="results file name (without .md)")
p.add_argument("--arms", nargs="+", default=None, help="run only these arms (labels as in the table; 'fixed, p=1' always)")
a = p.parse_args()

ARMS = [  # (label, learn_width, p, width_lr)
    ("fixed, p=1", False, 1.0, 0.0), ("fixed, p=0.8", False, 0.8, 0.0),
    ("learn (lr 3e-4), p=1", True, 1.0, 3e-4), ("learn (lr 3e-4), p=0.8", True, 0.8, 3e-4),
    ("learn (lr 1e-2), p=1", True, 1.0, 1e-2), ("learn (lr 1e-2), p=0.8", True, 0.8, 1e-2),
]
if a.arms:
    ARMS = [arm for arm in ARMS if arm[0] in a.arms or arm[0] == "fixed, p=1"]
rows = []
for alpha in a.widths:
    base = None
    for label, learn, prob, wlr in ARMS:
        accs, widths, win = [], [], []
        for seed in a.seeds:
            m, _ = train(['surrogate.name="asgl"', 'surrogate.schedule="asgl"',
                          f"surrogate.params={{width={alpha}, p={prob}, learn_width={str(learn).lower()}}}",
                          f"surrogate.schedule_params={{width_lr={wlr}}}", 'model.readout="membrane-mean"',
                          'model.init="near-threshold"', "model.hidden=[128]"], seed, a.epochs, a.task)
            accs.append(m[-1]["test_accuracy"])
            widths.append(mean(m[-1].get("asgl_width") or [alpha]))
            win.append(mean([w["in_window"] for w in m[0]["init_in_window"]]))
        if base is None:
            base = accs
        rows.append([alpha, label, mean_std(accs), mean(accs) - mean(base), fmt_p(paired_p(accs, base)),
                     mean(widths), mean(win)])
        print(rows[-1], flush=True)

write(a.out, f"(a) ASGL ablation: fixed/learnable width × p × α ({a.epochs} epochs, {a.task})", a.seeds,
      ["α (full width, initial)", "arm", "test acc (mean ± std)", "Δ vs fixed p=1", "p (paired t)",
       "final α (mean of layers, seeds)", "in-window at init"], rows,
      notes=f"{TASK_DESC[a.task]}, 128 hidden LIF, LI(10) readout, Adam lr 5e-3 "
            "(constant), batch 64, readout membrane-mean, model.init = near-threshold (target 0.2). Equal "
            "budget in every arm. p (paired t): two-sided paired t-test over seeds against 'fixed, p=1' at the "
            "same α. Chance = 0.10.")
