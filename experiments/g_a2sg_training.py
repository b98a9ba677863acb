"""(g) A2SG in training, ≥ 5 seeds: triangle vs ASY (fixed β) vs A2SG search with the paper's
objective J = ln SGV − w·TGC and with the scale-free J = ln(Var/Mean|δ|²) − w·TGC.

Same half-width β for every arm, same epochs, data and lr. Reported: final test accuracy and the
last epoch's gradient CV (std/mean|δ| of δ = ∂L/∂ input current, per spiking layer, every 5th
step), mean ± std over seeds, and two-sided paired t-tests against the triangle.
"""

from __future__ import annotations

import argparse

from _common import TASK_DESC, alive, fmt_p, mean, mean_std, paired_p, train, write

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
p.add_argument("--beta", type=float, default=1.5)
p.add_argument("--task", default="digits", choices=sorted(TASK_DESC))
p.add_argument("--out", default="g_a2sg_training", help="results file name (without .md)")
a = p.parse_args()

diag = ["diagnostics.enabled=true", "diagnostics.every_n_steps=5", "model.hidden=[128]", *alive(a.task)]
asy = ['surrogate.name="asy"', f"surrogate.params={{beta={a.beta}}}"]
runs = {
    "triangle": ['surrogate.name="triangle"', f"surrogate.params={{width={a.beta}}}", *diag],
    "ASY (fixed β)": [*asy, 'surrogate.schedule="none"', *diag],
    "A2SG, J = ln SGV − TGC (paper)": [*asy, "surrogate.schedule_params={every_n_steps=20}", *diag],
    "A2SG, J = ln CV² − TGC (scale-free)": [*asy, 'surrogate.schedule_params={every_n_steps=20, objective="scale-free"}',
                                            *diag],
}
rows, accs, cvs = [], {}, {}
for name, ov in runs.items():
    ms = [train(ov, s, a.epochs, a.task)[0] for s in a.seeds]
    acc = accs[name] = [m[-1]["test_accuracy"] for m in ms]
    n_layers = len(ms[0][-1]["diag_grad_cv"])  # spiking layers (an LI readout has none)
    cv = cvs[name] = [[m[-1]["diag_grad_cv"][i] for m in ms] for i in range(n_layers)]
    base_acc, base_cv = accs["triangle"], cvs["triangle"]
    asy_acc = accs.get("ASY (fixed β)")
    beta = ([mean([m[-1]["a2sg_beta"][i] for m in ms]) for i in range(len(ms[0][-1]["a2sg_beta"]))]
            if "a2sg_beta" in ms[0][-1] else None)
    rows.append([name, mean_std(acc), fmt_p(paired_p(acc, base_acc)),
                 "—" if asy_acc is None or acc is asy_acc else fmt_p(paired_p(acc, asy_acc)),
                 ", ".join(mean_std(c) for c in cv), ", ".join(fmt_p(paired_p(c, b)) for c, b in zip(cv, base_cv)),
                 beta])
    print(rows[-1], flush=True)
write(a.out, f"(g) A2SG in training: CV and accuracy, {a.task}, β = {a.beta} ({a.epochs} epochs)", a.seeds,
      ["arm", "test acc", "p vs triangle", "p vs ASY", "CV per spiking layer (last epoch)", "p CV vs triangle",
       "final β per spiking layer (mean)"], rows,
      notes=f"{TASK_DESC[a.task]}" + ("" if a.task == "digits-conv" else ", 128 hidden LIF, 10 outputs")
            + ", Adam lr 5e-3 constant, batch 64"
            + (", default init, spike-count readout" if a.task == "digits" else "") +
            "; search every 20 steps over β·{1/1.5, 1, 1.5}, w = 1. p: two-sided paired t-test over seeds "
            "(accuracy against the triangle and against ASY with fixed β; CV against the triangle).")
