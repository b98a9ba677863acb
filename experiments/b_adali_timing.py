"""(b') Wall-clock of one training step (forward + backward, compiled kernels) for AdaLi at its
first and last boundaries, both readings, next to the triangle (w = 1.5) and the fast sigmoid:
does a sparser surrogate derivative make the backward faster here? Interleaved rounds, the
fastest round per surrogate (robust against other jobs on the machine)."""

from __future__ import annotations

import argparse
import time

import torch
from _common import data, write

p = argparse.ArgumentParser()
p.add_argument("--rounds", type=int, default=15)
p.add_argument("--steps", type=int, default=10)
p.add_argument("--batch", type=int, default=64)
a = p.parse_args()

from neurodeploy.neurons import readout_logits  # noqa: E402
from neurodeploy.train.config import load_config  # noqa: E402
from neurodeploy.train.models import build_model  # noqa: E402

arms = {
    "adali normalised, L = R = 1.5 (epoch 1)": ('"adali"', "{normalise=true}"),
    "adali normalised, L = R = 0.3 (last epoch)": ('"adali"', "{normalise=true, left=0.3, right=0.3}"),
    "adali constant height, L = R = 1.5": ('"adali"', "{normalise=false}"),
    "adali constant height, L = R = 0.3": ('"adali"', "{normalise=false, left=0.3, right=0.3}"),
    "triangle w = 1.5": ('"triangle"', "{width=1.5}"),
    "fast_sigmoid k = 10": ('"fast_sigmoid"', "{width=0.1}"),
}
d = data()
x = torch.stack([d.train[i][0] for i in range(a.batch)]).transpose(0, 1).float()
y = torch.stack([torch.as_tensor(d.train[i][1]) for i in range(a.batch)])
models = {}
for name, (sur, params) in arms.items():
    cfg = load_config("configs/digits.toml", [f"surrogate.name={sur}", f"surrogate.params={params}"])
    torch.manual_seed(0)
    models[name] = build_model(cfg, d.input_shape, d.classes)


def step(model):
    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(readout_logits(model, model(x)), y)
    loss.backward()


best = {k: float("inf") for k in arms}
for _ in range(a.rounds):
    for name, model in models.items():
        step(model)  # warm-up of this model's kernels
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step(model)
        best[name] = min(best[name], (time.perf_counter() - t0) / a.steps)
ref = best["triangle w = 1.5"]
rows = [[k, 1e3 * v, v / ref] for k, v in best.items()]
write("b_adali_timing", "(b') AdaLi: wall-clock of one training step vs the triangle", [0],
      ["surrogate", "ms / step (fastest round)", "relative to triangle"], rows,
      notes=f"""One training step = forward + cross-entropy + backward (no optimiser step) of the
digits-events 648-256-10 LIF MLP on a fixed batch of {a.batch}, T = 16, compiled kernels (backend auto),
weights as built (same seed for every arm). {a.rounds} interleaved rounds of {a.steps} steps per
surrogate after a warm-up step; the fastest round is reported (nice 19, shared 2-core machine).""")
