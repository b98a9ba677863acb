"""(a) ASGL vs the fixed surrogate it replaces, across initial widths α ∈ {0.5, 1, 2.5, 5, 10}.

Fixed: rectangle surrogate of full width α, height 1/α (= ASGL's h_α, ``rectangle`` with
width = α/2, height = 1/α). ASGL: same α as initial learnable width (Adam lr width_lr), noisy
spikes with p = 0.8 (paper default for most datasets), ζ = 1. Final test accuracy after E epochs.
"""

from __future__ import annotations

import argparse

from _common import mean, train, write

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=4)
p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
p.add_argument("--width-lr", type=float, default=1e-2)
a = p.parse_args()

rows = []
for alpha in (0.5, 1.0, 2.5, 5.0, 10.0):
    fixed, asgl, widths = [], [], []
    for seed in a.seeds:
        m, _ = train(['surrogate.name="rectangle"', f"surrogate.params={{width={alpha / 2}, height={1 / alpha}}}"],
                     seed, a.epochs)
        fixed.append(m[-1]["test_accuracy"])
        m, _ = train(['surrogate.name="asgl"', f"surrogate.params={{width={alpha}, p=0.8}}",
                      f"surrogate.schedule_params={{width_lr={a.width_lr}}}"], seed, a.epochs)
        asgl.append(m[-1]["test_accuracy"])
        widths.append(mean(m[-1]["asgl_width"]))
    rows.append([alpha, mean(fixed), min(fixed), mean(asgl), min(asgl), mean(widths)])
    print(rows[-1], flush=True)

write("a_asgl_widths", f"(a) ASGL vs fixed rectangle surrogate across widths ({a.epochs} epochs)", a.seeds,
      ["α (full width)", "fixed SG acc (mean)", "fixed SG acc (min)", "ASGL acc (mean)",
       "ASGL acc (min)", "ASGL final α (mean of layers, seeds)"], rows,
      notes=f"Embedded digits-events, 648-256-10 LIF MLP, T = 16, Adam lr 5e-3 (constant), batch 64. "
            f"ASGL width optimiser: Adam lr {a.width_lr}. Chance = 0.10.")
