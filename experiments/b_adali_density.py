"""(b) AdaLi compute density over training (log and linear boundary schedules) next to a fixed
triangle of the initial half-width 1.5 (density from the gradient diagnostics)."""

from __future__ import annotations

import argparse

from _common import mean, train, write

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=8)
p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
a = p.parse_args()

runs = {
    "adali_log": ['surrogate.name="adali"', "surrogate.params={}", 'surrogate.schedule="adali_log"'],
    "adali_linear": ['surrogate.name="adali"', "surrogate.params={}", 'surrogate.schedule="adali_linear"'],
    "triangle w=1.5": ['surrogate.name="triangle"', "surrogate.params={width=1.5}",
                       "diagnostics.enabled=true", "diagnostics.every_n_steps=5"],
}
res = {k: [train(v, s, a.epochs)[0] for s in a.seeds] for k, v in runs.items()}
rows = []
for e in range(a.epochs):
    row = [e + 1]
    for k, ms in res.items():
        if k.startswith("adali"):
            row += [ms[0][e]["adali_left"], mean([m[e]["adali_compute_density"] for m in ms])]
        else:
            row += [mean([mean(m[e]["diag_compute_density"]) for m in ms])]
        row += [mean([m[e]["test_accuracy"] for m in ms])]
    rows.append(row)
write("b_adali_density", f"(b) AdaLi compute density per epoch ({a.epochs} epochs)", a.seeds,
      ["epoch", "log: distance", "log: density", "log: test acc", "linear: distance",
       "linear: density", "linear: test acc", "triangle 1.5: density", "triangle 1.5: test acc"], rows,
      notes="Density = fraction of surrogate-derivative entries (neurons × steps × samples, all "
            "spiking layers) that are non-zero in the epoch's training backward passes. AdaLi: "
            "α = β = 0.5, initial distance 1.5 (V⁻ = −0.5, V⁺ = 2.5 for V_th = 1), p = 0.2. "
            "Triangle density: measured on every 5th step.")
