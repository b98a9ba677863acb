"""Compare the estimated energy per inference of one trained network on two hardware profiles.

    python examples/compare_profiles.py [--run RUN_DIR] --out runs/example-profiles [--smoke]

Without ``--run`` a small network is trained first. ``--smoke`` (or NEURODEPLOY_SMOKE=1): one
short epoch and few samples (what the tests run). Every cost comes from the profile files
(``neurodeploy profiles show NAME`` lists each constant with its source).
"""

import argparse
import os
from pathlib import Path

import neurodeploy as nd

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--run", help="trained run directory (default: train a small one)")
parser.add_argument("--profiles", nargs=2, default=["cmos45-fp32", "cmos45-int8"])
parser.add_argument("--convention", default="fanout")
parser.add_argument("--out", default="runs/example-profiles")
parser.add_argument("--smoke", action="store_true", default=os.environ.get("NEURODEPLOY_SMOKE") == "1")
args = parser.parse_args()
out = Path(args.out)

run = nd.load(args.run) if args.run else nd.train(
    {"model": {"hidden": [32]}}, out=out / "run", epochs=1 if args.smoke else 10,
    data__time_steps=8 if args.smoke else 16)
report = nd.energy(run, samples=32 if args.smoke else 256, profiles=args.profiles, convention=args.convention,
                   out=out / "energy", formats=("json", "md"))
a, b = args.profiles
ea, eb = report.snn_pj(a), report.snn_pj(b)
for name, e in ((a, ea), (b, eb)):
    ann = (report.totals.get(name) or {}).get("ann_pj")
    print(f"{name:14s} SNN {e} pJ per inference, ANN baseline {ann} pJ")
if ea and eb:
    print(f"{a} / {b} = {ea / eb:.2f}")
print("wrote " + ", ".join(map(str, report.paths)))
