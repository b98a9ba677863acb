"""Train a Norse model with an adaptive surrogate on digits-events, get it back as a Norse model,
export it to Loihi 2 with an energy report.

    python examples/norse_to_loihi.py --out runs/example-norse [--smoke]

``--smoke`` (or NEURODEPLOY_SMOKE=1): one short epoch, few samples (what the tests run).
"""

import argparse
import os
from pathlib import Path

import norse.torch as norse
import torch
from torch import nn

import neurodeploy as nd

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="runs/example-norse", help="folder for the run and the exports")
parser.add_argument("--smoke", action="store_true", default=os.environ.get("NEURODEPLOY_SMOKE") == "1")
args = parser.parse_args()
out = Path(args.out)

# 1. A plain Norse network: per step (B, 2, 18, 18) event frames -> 10 output neurons.
torch.manual_seed(0)
model = norse.SequentialState(
    nn.Flatten(),
    nn.Linear(2 * 18 * 18, 64, bias=False),
    norse.LIFCell(),
    nn.Linear(64, 10, bias=False),
    norse.LIFCell(),
)
with torch.no_grad():  # Norse's LIFCell integrates slowly at dt = 1 ms: start with larger weights
    for layer in model:
        if isinstance(layer, nn.Linear):
            layer.weight.mul_(8.0)

# 2. Train it with our kernels and the AdaLi adaptive surrogate (schedule adali_log).
run = nd.train(model=model, data="digits-events", out=out / "run", epochs=1 if args.smoke else 15,
               surrogate__name="adali", data__time_steps=8 if args.smoke else 16)
print(f"trained: test accuracy {run.last_accuracy:.2%} (best {run.best_accuracy:.2%})")

# 3. Back to Norse: same classes, trained weights, same spikes as our model.
trained = run.to_norse()
print(trained)

# 4. Export to Loihi 2 (bit-exact emulator checks it) and estimate energy.
exported = nd.export(run, "loihi", out / "model.net")
print(f"wrote {exported.path}")
report = nd.verify(exported, samples=8 if args.smoke else 64, lava=False)
print(f"verify: passed={report.passed}")
energy = nd.energy(run, samples=16 if args.smoke else 256, profiles=("loihi1", "cmos45-int8"),
                   out=out / "energy", formats=("json",))
for name in energy.profiles:
    print(f"{name}: {energy.snn_pj(name)} pJ per inference")
