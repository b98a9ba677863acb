"""(d) Gradient CV of ASY vs triangle at the same half-width β, plus the A2SG search's overhead
vs a fixed ASY and the diagnostics' overhead."""

from __future__ import annotations

import argparse

from _common import mean, train, write

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=4)
p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
p.add_argument("--beta", type=float, default=1.5)
a = p.parse_args()

diag = ["diagnostics.enabled=true", "diagnostics.every_n_steps=5"]
runs = {
    "triangle": ['surrogate.name="triangle"', f"surrogate.params={{width={a.beta}}}", *diag],
    "ASY (fixed β)": ['surrogate.name="asy"', f"surrogate.params={{beta={a.beta}}}", 'surrogate.schedule="none"', *diag],
    "A2SG (ASY + search)": ['surrogate.name="asy"', f"surrogate.params={{beta={a.beta}}}",
                            "surrogate.schedule_params={every_n_steps=20}", *diag],
}
rows, secs = [], {}
for name, ov in runs.items():
    out = [train(ov, s, a.epochs) for s in a.seeds]
    ms = [m for m, _ in out]
    secs[name] = mean([t for _, t in out])
    for e in range(a.epochs):
        layer_cv = [mean([m[e]["diag_grad_cv"][i] for m in ms]) for i in range(2)]
        layer_sgv = [mean([m[e]["diag_sgv"][i] for m in ms]) for i in range(2)]
        layer_tgc = [mean([m[e]["diag_tgc"][i] for m in ms]) for i in range(2)]
        beta = [round(b, 3) for b in ms[0][e]["a2sg_beta"]] if "a2sg_beta" in ms[0][e] else None
        rows.append([name, e + 1, layer_cv, layer_sgv, layer_tgc,
                     mean([m[e]["test_accuracy"] for m in ms]), beta])
    print(rows[-1], flush=True)

# overhead: same fixed ASY without diagnostics, and A2SG search seconds
plain = [train(['surrogate.name="asy"', f"surrogate.params={{beta={a.beta}}}", 'surrogate.schedule="none"'], s, a.epochs)
         for s in a.seeds]
plain_s = mean([t for _, t in plain])
search = [train(['surrogate.name="asy"', f"surrogate.params={{beta={a.beta}}}",
                 "surrogate.schedule_params={every_n_steps=20}"], s, a.epochs) for s in a.seeds]
search_s = mean([t for _, t in search])
search_in = mean([m[-1]["a2sg_search_seconds"] for m, _ in search])
notes = (f"Gradient statistics of δ = ∂L/∂(input current of each spiking layer) "
         f"[hidden, output], measured on every 5th step and averaged per epoch; CV = std/mean|δ| over "
         f"all entries; SGV = Var(δ[T])/Mean|δ[T]|; TGC = mean_t cos(δ[t], δ[t+1]).\n\n"
         f"Wall-clock fit time (mean over seeds, {a.epochs} epochs incl. evaluation): fixed ASY "
         f"without diagnostics {plain_s:.2f} s; with diagnostics every 5 steps "
         f"{secs['ASY (fixed β)']:.2f} s ({100 * (secs['ASY (fixed β)'] / plain_s - 1):+.1f} %); "
         f"A2SG search every 20 steps without diagnostics {search_s:.2f} s "
         f"({100 * (search_s / plain_s - 1):+.1f} %), of which {search_in:.2f} s inside the search "
         f"({100 * search_in / plain_s:.1f} % of the fixed run). Shared 2-core machine: timings "
         f"are noisy (±10 %).")
write("d_asy_vs_triangle", f"(d) gradient CV: ASY vs triangle, half-width β = {a.beta} ({a.epochs} epochs)",
      a.seeds, ["surrogate", "epoch", "CV [hid, out]", "SGV [hid, out]", "TGC [hid, out]",
                "test acc", "β (A2SG, seed 0)"], rows, notes=notes)
