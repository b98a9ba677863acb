"""Xylo accuracy run (docs/xylo.md, "Accuracy"): float vs bit-exact emulator vs XyloSim on digits-events.

Usage: PYTHON scripts/xylo_accuracy.py OUT_DIR [SEEDS]   (default seeds: 0)

Per seed: train configs/xylo-digits.toml twice — plain float (train.target = "none") and through
the Xylo transform (train.target = "xylo") — export each with `--target xylo`, and verify the
file against its model on the whole test split (float vs emulator vs XyloSim). Prints one line
per run and writes OUT_DIR/xylo_accuracy.tsv. Runs that finished are reused (RETRAIN=1 redoes).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch


def main(out: Path, seeds: list[int]) -> None:
    from neurodeploy.data.registry import load_data
    from neurodeploy.ir import to_nir
    from neurodeploy.targets.base import VerifyRequest, get_target
    from neurodeploy.train.checkpoint import load_checkpoint
    from neurodeploy.train.config import load_config
    from neurodeploy.train.models import build_model

    out.mkdir(parents=True, exist_ok=True)
    xylo = get_target("xylo")
    data = load_data(load_config("configs/xylo-digits.toml", [])["data"])
    x = data.test.frames.float().reshape(len(data.test), data.test.frames.shape[1], -1)
    y = data.test.labels
    lines = ["seed\ttrain_target\tfloat\temulator\txylosim\tmin_spike_agreement\tpassed"]
    for seed in seeds:
        for target in ("none", "xylo"):
            run = out / f"s{seed}-{target}"
            if not (run / "last.pt").exists() or os.environ.get("RETRAIN"):
                subprocess.run([sys.executable, "-m", "neurodeploy.cli", "train", "configs/xylo-digits.toml",
                                "--target", target, "--seed", str(seed), "--out", str(run), "-q"],
                               check=True, stdout=subprocess.DEVNULL)
            ck = load_checkpoint(run, "last")
            model = build_model(ck["config"], tuple(ck["input_shape"]), ck["classes"])
            model.load_state_dict(ck["model_state"])
            graph = to_nir(model, tuple(ck["input_shape"]), time_steps=int(x.shape[1]))
            path = run / "model.xylo.json"
            xylo.export(graph, path, {})
            rep = xylo.verify(VerifyRequest(path, graph, x, y))
            acc = rep["accuracy"]
            agree = min(lay["identical_spike_fraction"] for lay in rep["layers"])
            lines.append(f"{seed}\t{target}\t{acc['float']:.4f}\t{acc['emulator']:.4f}\t{acc['xylosim']:.4f}"
                         f"\t{agree:.4f}\t{rep['passed']}")
            print(lines[-1], flush=True)
    (out / "xylo_accuracy.tsv").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main(Path(sys.argv[1]), [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "0").split()])
