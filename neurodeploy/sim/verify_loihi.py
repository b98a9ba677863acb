"""Compare a Loihi ``.net`` export with its source NIR graph: float model, emulator and Lava.

Public API::

    verify_loihi(net_path, nir_graph, inputs, labels=None, use_lava="auto", dt_s=None,
                 strict=False) -> dict
    float_reference(graph, spikes, dt_s) -> (output (T,B,N), [layer spikes])

``inputs`` is (N samples, T, *input_shape) with binary values; ``labels`` (N,) ints. The
fixed-point network answers late: layer ``j`` (0-based) at emulator step ``t + j + 1`` corresponds to
float step ``t``, so the emulator/Lava run T + L steps (L = number of dense/conv layers) with zero
padding and the comparison uses the aligned window. Result keys: ``latency_steps``,
``layers`` (per layer: float and fixed spike totals, per-neuron spike-count correlation, identical
spike-time fraction), ``accuracy`` (float / emulator / lava, when labels are given) and
``emulator_vs_lava`` (per-layer agreement over every step; must be 1.0). ``strict=True`` raises
VerificationError when the emulator and Lava disagree anywhere.
"""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import torch

from neurodeploy.errors import ConfigError, VerificationError
from neurodeploy.sim.float_sim import simulate
from neurodeploy.sim.lava_runner import lava_available, run_lava
from neurodeploy.sim.loihi_emulator import LoihiEmulator


def float_reference(graph: nir.NIRGraph, spikes: torch.Tensor, dt_s: float):
    """The float model of ``graph`` (:func:`neurodeploy.sim.float_sim.simulate`).

    spikes (T, B, *input_shape) → output (T, B, N) and one (T, B, *shape) tensor per neuron layer.
    """
    res = simulate(graph, spikes, dt_s=dt_s, record=True)
    layers = [out for name, out in res.layers.items()
              if isinstance(graph.nodes[name], (nir.LIF, nir.CubaLIF, nir.IF))]
    T, B = spikes.shape[:2]
    return res.output.reshape(T, B, -1), layers


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def verify_loihi(net_path: str | Path, nir_graph: nir.NIRGraph, inputs, labels=None,
                 use_lava: bool | str = "auto", dt_s: float | None = None,
                 strict: bool = False) -> dict:
    """Float model vs emulator vs Lava on ``inputs`` (N, T, …); see module docstring."""
    dt = dt_s if dt_s is not None else nir_graph.metadata.get("dt_s")
    if dt is None:
        raise ConfigError("verify_loihi: the NIR graph has no 'dt_s' metadata: pass dt_s (--dt)")
    x = torch.as_tensor(np.asarray(inputs)).transpose(0, 1).contiguous()   # (T, N, …)
    emu = LoihiEmulator(net_path)
    L, T = emu.latency, x.shape[0]
    padded = torch.cat([x, torch.zeros((L, *x.shape[1:]), dtype=x.dtype)])
    fixed = emu.run(padded.to(torch.int8), record=True)
    f_out, f_layers = float_reference(nir_graph, x, float(dt))
    report: dict = {"latency_steps": L, "time_steps": T, "samples": int(x.shape[1]), "layers": []}
    for j, (fl, ql) in enumerate(zip(f_layers, fixed.layers)):
        q = ql[j + 1:j + 1 + T].to(torch.float64)
        fc = fl.sum(0).reshape(-1).numpy()
        qc = q.sum(0).reshape(-1).numpy()
        report["layers"].append({
            "index": j, "float_spikes": int(fc.sum()), "fixed_spikes": int(qc.sum()),
            "count_correlation": _corr(fc, qc),
            "identical_spike_fraction": float((fl == q).to(torch.float64).mean())})
    counts = {"float": f_out.sum(0), "emulator": fixed.output_spikes[L:].sum(0, dtype=torch.int64)}
    if use_lava is True or (use_lava == "auto" and lava_available()):
        lava = run_lava(net_path, padded.to(torch.int8), record=True)
        agree = [float((a == b).to(torch.float64).mean()) for a, b in zip(lava.layers, fixed.layers)]
        report["emulator_vs_lava"] = {"agreement_per_layer": agree, "exact": all(a == 1.0 for a in agree)}
        counts["lava"] = lava.output_spikes[L:].sum(0, dtype=torch.int64)
        if strict and not report["emulator_vs_lava"]["exact"]:
            raise VerificationError(f"{net_path}: emulator and Lava disagree: per-layer spike "
                                    f"agreement {agree}; report this as an emulator bug")
    else:
        report["emulator_vs_lava"] = None
    if labels is not None:
        y = torch.as_tensor(np.asarray(labels)).reshape(-1)
        report["accuracy"] = {k: float((c.argmax(-1) == y).to(torch.float64).mean())
                              for k, c in counts.items()}
    return report
