"""Loihi emulator (batched) vs Lava: seconds per sample on a 784-512-256-10 dense net and a small
conv net (2x16x16 → conv 8 → sumpool → flatten → dense 10). Run with the Lava env:

    .venv-full/bin/python bench/loihi_emulator.py [--samples 4] [--steps 50]

Lava runs each sample in a fresh network (start-up included, as verify_loihi does); the emulator
runs all samples as one batch. Spikes are also checked for equality.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nir
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from neurodeploy.targets.loihi.emulator import LoihiEmulator  # noqa: E402
from neurodeploy.targets.loihi.export import export  # noqa: E402
from neurodeploy.targets.loihi.lava_runner import lava_available, run_lava  # noqa: E402

DT = 1e-3


def lif(shape):
    return nir.LIF(tau=np.full(shape, 2e-2), r=np.ones(shape), v_leak=np.zeros(shape),
                   v_threshold=np.ones(shape))


def graph(nodes: dict, in_shape, out_n) -> nir.NIRGraph:
    names = list(nodes)
    all_nodes = {"input": nir.Input(input_type={"input": np.array(in_shape)}), **nodes,
                 "output": nir.Output(output_type={"output": np.array([out_n])})}
    return nir.NIRGraph(nodes=all_nodes, edges=list(zip(["input", *names], [*names, "output"])),
                        metadata={"dt_s": DT})


def dense_784(rng):
    nodes = {}
    for i, ((a, b), mu, sd) in enumerate([((784, 512), 0.02, 0.3), ((512, 256), 0.1, 0.5),
                                          ((256, 10), 0.3, 1.0)]):
        nodes[f"{2 * i}_affine"] = nir.Affine(weight=rng.normal(mu, sd, (b, a)), bias=np.zeros(b))
        nodes[f"{2 * i + 1}_lif"] = lif((b,))
    return graph(nodes, [784], 10)


def small_conv(rng):
    nodes = {"0_conv": nir.Conv2d(input_shape=(16, 16), weight=rng.normal(1.0, 1.5, (8, 2, 3, 3)),
                                  stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(8)),
             "1_lif": lif((8, 16, 16)),
             "2_pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                     padding=np.array([0, 0])),
             "3_if": nir.IF(r=np.full((8, 8, 8), 1 / DT), v_threshold=np.full((8, 8, 8), 2.0)),
             "4_flat": nir.Flatten(input_type={"input": np.array([8, 8, 8])}, start_dim=0),
             "5_affine": nir.Affine(weight=rng.normal(0.1, 0.5, (10, 512)), bias=np.zeros(10)),
             "6_lif": lif((10,))}
    return graph(nodes, [2, 16, 16], 10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"T={args.steps} steps, {args.samples} samples, torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, g, shape in (("dense 784-512-256-10", dense_784(rng), (784,)),
                               ("conv 2x16x16-c8-pool-10", small_conv(rng), (2, 16, 16))):
            path = export(g, Path(tmp) / "n.net" if "dense" in name else Path(tmp) / "c.net",
                      {"allow_lossy": True}).path  # random weights: speed, not fidelity, is measured
            emu = LoihiEmulator(path)
            x = torch.from_numpy((rng.random((args.steps, args.samples, *shape)) < 0.1).astype(np.int8))
            emu.run(x[:2])                                   # warm-up
            t0 = time.perf_counter()
            res = emu.run(x)
            t_emu = (time.perf_counter() - t0) / args.samples
            big = x[:, :1].expand(-1, 256, *shape).contiguous()
            t0 = time.perf_counter()
            emu.run(big)
            t_emu256 = (time.perf_counter() - t0) / 256
            line = (f"{name}: emulator {t_emu * 1e3:.2f} ms/sample (batch {args.samples}), "
                    f"{t_emu256 * 1e3:.3f} ms/sample (batch 256), "
                    f"{int(res.output_spikes.sum())} output spikes")
            if lava_available():
                t0 = time.perf_counter()
                lava = run_lava(path, x)
                t_lava = (time.perf_counter() - t0) / args.samples
                same = torch.equal(lava.output_spikes, res.output_spikes)
                line += (f"; Lava {t_lava * 1e3:.0f} ms/sample; ratio Lava/emulator "
                         f"{t_lava / t_emu:.0f}x (batch {args.samples}), {t_lava / t_emu256:.0f}x "
                         f"(batch 256); output spikes identical: {same}")
            print(line, flush=True)


if __name__ == "__main__":
    main()
