"""Fine-tune a network given as a NIR file on digits-events, then export it back to NIR.

    python examples/finetune_nir.py [--nir model.nir --dialect norse --dt 1e-3] --out runs/example-ft [--smoke]

Without ``--nir`` a small 648-32-10 LIF network is written as NIR first (a stand-in for a file
from another tool). ``--smoke`` (or NEURODEPLOY_SMOKE=1): one short epoch (what the tests run).
"""

import argparse
import os
from pathlib import Path

import torch
from torch import nn

import neurodeploy as nd

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--nir", help="NIR file to fine-tune (default: write a small one)")
parser.add_argument("--dialect", default="neurodeploy", help="writer of the NIR file (docs/interop.md)")
parser.add_argument("--dt", type=float, default=0.0, help="time step in s, for files that do not record it")
parser.add_argument("--out", default="runs/example-ft")
parser.add_argument("--smoke", action="store_true", default=os.environ.get("NEURODEPLOY_SMOKE") == "1")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

source = args.nir
if source is None:
    torch.manual_seed(0)
    net = nd.SpikingSequential(nn.Flatten(), nn.Linear(648, 32, bias=False), nd.LIF(),
                               nn.Linear(32, 10, bias=False), nd.LIF())
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.weight.mul_(8.0)
    import nir

    source = out / "start.nir"
    nir.write(str(source), nd.to_nir(net, (2, 18, 18), time_steps=16))
    print(f"wrote {source}")

run = nd.train(out=out / "run", epochs=1 if args.smoke else 10, train__init=str(source),
               train__init_dialect=args.dialect, train__init_dt_s=args.dt,
               data__time_steps=8 if args.smoke else 16)
print(f"fine-tuned: test accuracy {run.last_accuracy:.2%} (best {run.best_accuracy:.2%})")
result = nd.export(run, "nir", out / "finetuned.nir")
print(f"wrote {result.path}")
