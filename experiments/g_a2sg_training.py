"""(g) A2SG in training, ≥ 5 seeds: triangle vs ASY (fixed β) vs A2SG search with the paper's
objective J = ln SGV − w·TGC and with the scale-free J = ln(Var/Mean|δ|²) − w·TGC.

Same half-width β for every arm, same epochs, data and lr. Reported: final test accuracy and the
last epoch's gradient CV (std/mean|δ| of δ = ∂L/∂ input current, per spiking layer, every 5th
step), mean ± std over seeds, and two-sided paired t-tests against the triangle.
"""

from __future__ import annotations

import argparse

from _common import fmt_p, mean, mean_std, paired_p, train, write

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
p.add_argument("--beta", type=float, default=1.5)
a = p.parse_args()

diag = ["diagnostics.enabled=true", "diagnostics.every_n_steps=5", "model.hidden=[128]"]
asy = ['surrogate.name="asy"', f"surrogate.params={{beta={a.beta}}}"]
runs = {
    "triangle": ['surrogate.name="triangle"', f"surrogate.params={{width={a.beta}}}", *diag],
    "ASY (fixed β)": [*asy, 'surrogate.schedule="none"', *diag],
    "A2SG, J = ln SGV − TGC (paper)": [*asy, "surrogate.schedule_params={every_n_steps=20}", *diag],
    "A2SG, J = ln CV² − TGC (scale-free)": [*asy, 'surrogate.schedule_params={every_n_steps=20, objective="scale-free"}',
                                            *diag],
}
rows, base_acc, base_cv = [], None, None
for name, ov in runs.items():
    ms = [train(ov, s, a.epochs)[0] for s in a.seeds]
    acc = [m[-1]["test_accuracy"] for m in ms]
    cv = [[m[-1]["diag_grad_cv"][i] for m in ms] for i in range(2)]
    if base_acc is None:
        base_acc, base_cv = acc, cv
    beta = [mean([m[-1]["a2sg_beta"][i] for m in ms]) for i in range(2)] if "a2sg_beta" in ms[0][-1] else None
    rows.append([name, mean_std(acc), fmt_p(paired_p(acc, base_acc)), mean_std(cv[0]), mean_std(cv[1]),
                 fmt_p(paired_p(cv[0], base_cv[0])), fmt_p(paired_p(cv[1], base_cv[1])), beta])
    print(rows[-1], flush=True)
write("g_a2sg_training", f"(g) A2SG in training: CV and accuracy, β = {a.beta} ({a.epochs} epochs)", a.seeds,
      ["arm", "test acc", "p vs triangle", "CV hidden (last epoch)", "CV output", "p CV hid", "p CV out",
       "final β [hid, out] (mean)"], rows,
      notes="digits-events, 648-128-10 LIF MLP, T = 16, Adam lr 5e-3 constant, batch 64, default init, "
            "spike-count readout; search every 20 steps over β·{1/1.5, 1, 1.5}, w = 1. p: two-sided paired "
            "t-test over seeds against the triangle row.")
