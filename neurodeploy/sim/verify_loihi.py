"""Compare a Loihi ``.net`` export with its source NIR graph: float model, emulator and Lava.

Public API::

    verify_loihi(net_path, nir_graph, inputs, labels=None, use_lava="auto", dt_s=None,
                 norse_tau_fix=False, strict=False) -> dict
    float_reference(graph, spikes, dt_s, norse_tau_fix=False) -> (output (T,B,N), [layer spikes])

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
import torch.nn.functional as F

from neurodeploy.errors import ConfigError, VerificationError
from neurodeploy.exporters.loihi import _arr, _chain, _pair
from neurodeploy.sim.lava_runner import lava_available, run_lava
from neurodeploy.sim.loihi_emulator import LoihiEmulator


def _t(x) -> torch.Tensor:
    return torch.as_tensor(_arr(x), dtype=torch.float64)


def _syn(node, s: torch.Tensor) -> torch.Tensor:
    if isinstance(node, nir.Flatten):
        return s.reshape(s.shape[0], -1)
    if isinstance(node, (nir.Affine, nir.Linear)):
        b = _t(node.bias) if isinstance(node, nir.Affine) and node.bias is not None else None
        return F.linear(s.reshape(s.shape[0], -1), _t(node.weight), b)
    if isinstance(node, nir.Conv2d):
        pad = node.padding if isinstance(node.padding, str) else _pair(node.padding, "", node)
        b = _t(node.bias) if node.bias is not None else None
        return F.conv2d(s, _t(node.weight), b, _pair(node.stride, "", node), pad,
                        _pair(node.dilation, "", node), int(node.groups))
    k = _pair(node.kernel_size, "", node)
    out = F.avg_pool2d(s, k, _pair(node.stride, "", node), _pair(node.padding, "", node),
                       count_include_pad=True)
    return out * (k[0] * k[1]) if isinstance(node, nir.SumPool2d) else out


def float_reference(graph: nir.NIRGraph, spikes: torch.Tensor, dt_s: float,
                    norse_tau_fix: bool = False):
    """Exact float step of docs/nir-conventions.md (forward Euler, zero reset, state from zero).

    spikes (T, B, *input_shape) → output (T, B, N) and one (T, B, *shape) tensor per neuron layer.
    """
    # TODO: switch to neurodeploy.sim.float_sim.simulate once it has settled; this reference
    # implements the same documented step and is kept as the Loihi verifier's own oracle.
    stages = _chain(graph)
    nodes = graph.nodes
    T, B = spikes.shape[:2]
    state: dict[str, list] = {}
    outs: list[list[torch.Tensor]] = [[] for _ in stages]
    for t in range(T):
        s = spikes[t].to(torch.float64)
        for j, (syn_names, nname, rname) in enumerate(stages):
            for sname in syn_names:
                s = _syn(nodes[sname], s)
            node = nodes[nname]
            st = state.setdefault(nname, [torch.zeros_like(s), torch.zeros_like(s), torch.zeros_like(s)])
            i, v, z = st
            if rname is not None:
                s = s + F.linear(z, _t(nodes[rname].weight))

            def p(attr, default=0.0, node=node, like=s):
                val = getattr(node, attr, None)
                return torch.broadcast_to(_t(default if val is None else val), like.shape[1:])
            r = p("r", 1.0)
            if isinstance(node, nir.IF):
                v = v + dt_s * r * s
            else:
                div = dt_s if norse_tau_fix else 1.0
                alpha = dt_s / (p("tau_mem" if isinstance(node, nir.CubaLIF) else "tau") / div)
                if isinstance(node, nir.CubaLIF):
                    beta = dt_s / (p("tau_syn") / div)
                    i = i + beta * (-i + p("w_in", 1.0) * s)
                    v = v + alpha * (p("v_leak") - v + r * i)
                else:
                    v = v + alpha * (p("v_leak") - v + r * s)
            z = (v > p("v_threshold")).to(torch.float64)
            v = torch.where(z > 0, p("v_reset"), v)
            state[nname] = [i, v, z]
            outs[j].append(z)
            s = z
    layers = [torch.stack(o) for o in outs]
    return layers[-1].reshape(T, B, -1), layers


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def verify_loihi(net_path: str | Path, nir_graph: nir.NIRGraph, inputs, labels=None,
                 use_lava: bool | str = "auto", dt_s: float | None = None,
                 norse_tau_fix: bool = False, strict: bool = False) -> dict:
    """Float model vs emulator vs Lava on ``inputs`` (N, T, …); see module docstring."""
    dt = dt_s if dt_s is not None else nir_graph.metadata.get("dt_s")
    if dt is None:
        raise ConfigError("verify_loihi: the NIR graph has no 'dt_s' metadata: pass dt_s (--dt)")
    x = torch.as_tensor(np.asarray(inputs)).transpose(0, 1).contiguous()   # (T, N, …)
    emu = LoihiEmulator(net_path)
    L, T = emu.latency, x.shape[0]
    padded = torch.cat([x, torch.zeros((L, *x.shape[1:]), dtype=x.dtype)])
    fixed = emu.run(padded.to(torch.int8), record=True)
    f_out, f_layers = float_reference(nir_graph, x, float(dt), norse_tau_fix)
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
