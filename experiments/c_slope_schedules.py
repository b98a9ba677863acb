"""(c) Slope schedules vs fixed slopes on a deep net (4 hidden LIF layers): epochs to a target
test accuracy, final accuracy (mean ± std, paired t-test against k = 10), per-layer weight-gradient
norms and the cosine to the k = 100 gradient.

Surrogate: fast sigmoid ``1/(1 + k|u|)²`` (SuperSpike, the seed's slope k = 1/width). Compiled
kernels (backend auto): they read the live width at every backward, so the schedules act on them
(``check_live_honoured`` probes it at the start of a scheduled run).
"""

from __future__ import annotations

import argparse

from _common import TASK_DESC, alive, fmt_p, mean, mean_std, paired_p, train, write

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
p.add_argument("--target", type=float, default=0.80)
p.add_argument("--hidden", type=int, nargs="+", default=[128, 128, 128, 128])
p.add_argument("--arms", nargs="+", default=None, help="run only these arms (names as in the table)")
p.add_argument("--task", default="digits", choices=sorted(TASK_DESC))
p.add_argument("--out", default="c_slope_schedules", help="results file name (without .md)")
a = p.parse_args()

net = [*alive(a.task), f"model.hidden=[{', '.join(map(str, a.hidden))}]", "diagnostics.enabled=true",
       "diagnostics.every_n_steps=10", 'model.init="near-threshold"',
       "model.init_window_width=0.1"]
cos = ["diagnostics.slope_cosine_every_n_steps=20"]
runs = {f"fixed k={k}": ['surrogate.name="fast_sigmoid"', f"surrogate.params={{width={1 / k}}}", *net, *cos]
        for k in (1, 10, 25, 100)}
runs["interval 1→100 (4 steps)"] = ['surrogate.name="fast_sigmoid"', "surrogate.params={}", *net,
                                   'surrogate.schedule="slope_interval"',
                                   "surrogate.schedule_params={intervals=4}"]
runs["adaptive (train acc %)"] = ['surrogate.name="fast_sigmoid"', "surrogate.params={}", *net,
                                  'surrogate.schedule="slope_adaptive"']
REF = "fixed k=10"
if a.arms:
    runs = {k: v for k, v in runs.items() if k in a.arms or k == REF}
res = {}
for name, ov in runs.items():
    res[name] = []
    for s in a.seeds:
        m, sec = train(ov, s, a.epochs, a.task)
        res[name].append(m)
        print(name, s, m[-1]["test_accuracy"], round(sec, 1), flush=True)

acc = {k: [m[-1]["test_accuracy"] for m in v] for k, v in res.items()}


def norms(ms, e):
    """Per-layer ‖∂L/∂W‖ of epoch e, mean over seeds (input layer first)."""
    return [mean([m[e]["diag_grad_norm"][i] for m in ms]) for i in range(len(ms[0][e]["diag_grad_norm"]))]


rows, grad_rows = [], []
for name, ms in res.items():
    reach = [next((x["epoch"] + 1 for x in m if x["test_accuracy"] >= a.target), None) for m in ms]
    reached = [r for r in reach if r is not None]
    c = [mean([mean(x["diag_cosine_ref"]) for x in m]) for m in ms if "diag_cosine_ref" in m[0]]
    ks = [round(x.get("slope_k") or 0, 1) for x in ms[0]] if "slope_k" in ms[0][0] else None
    rows.append([name, f"{len(reached)}/{len(reach)}", mean(reached), mean_std(acc[name]),
                 "—" if name == REF else fmt_p(paired_p(acc[name], acc[REF])), mean(c) if c else None, ks])
    first, last = norms(ms, 0), norms(ms, -1)
    grad_rows.append(f"| {name} | " + ", ".join(f"{v:.3g}" for v in first) + " | "
                     + ", ".join(f"{v:.3g}" for v in last) + f" | {first[0] / first[-1]:.3g} | {last[0] / last[-1]:.3g} |")
    print(rows[-1], flush=True)
layers = " → ".join(["648" if a.task == "digits" else "16", *map(str, a.hidden), "10"])
write(a.out, f"(c) slope schedules vs fixed slopes, {a.task}, {len(a.hidden)} hidden layers, epochs to "
      f"{a.target:.0%} test accuracy ({a.epochs} epochs, {len(a.seeds)} seeds)", a.seeds,
      ["slope", "seeds reaching target", "epochs to target (mean of those)", "final test acc",
       f"p vs {REF} (paired t)", "cos(∇W at k, ∇W at k=100), mean", "k per epoch (seed 0)"], rows,
      notes=f"""Budget: {TASK_DESC[a.task]}, {layers} LIF MLP, Adam lr 5e-3
constant, batch 64, {a.epochs} epochs per run for every arm; compiled kernels (backend auto), nice 19
on a shared 2-core machine. Init: near-threshold with `model.init_window_width = 0.1` (20 % of each
layer's membranes within |u| ≤ 0.1 on the first batch), so every arm starts from the same weights per
seed (the default init leaves this deep net silent: chance accuracy after 2 epochs at k = 1). Diagnostics on every 10th training step in every arm; the cosine to the
k = 100 gradient (fixed slopes only) per layer on every 20th step, averaged over layers and epochs.

Per-layer weight-gradient norm ‖∂L/∂W‖ (layer 1 = input weights … layer {len(a.hidden) + 1} = output
weights), mean over the measured steps of the epoch and over seeds; the ratio layer 1 / last layer
shows whether the gradient shrinks (≪ 1) or grows (≫ 1) on its way down.

| slope | epoch 1, per layer | last epoch, per layer | ratio 1/last, epoch 1 | ratio 1/last, last epoch |
|---|---|---|---|---|
""" + "\n".join(grad_rows))
