"""Compare a Loihi ``.net`` export with its source NIR graph: float model, emulator and Lava,
and judge the comparison by the target's declared fidelity criteria.

Public API::

    verify_loihi(net_path, nir_graph, inputs, labels=None, use_lava="auto", dt_s=None,
                 strict=False, thresholds=None) -> dict
    compare_layers(float_layers, fixed_layers, T) -> [per-layer dict]
    load_thresholds(profile=None, overrides=None)     # None: the default profile -> {key: {"value", "source"}}
    judge(report, thresholds) -> [criterion dict]           # also stored in report["criteria"]
    mcnemar_p(b, c) -> float
    float_reference(graph, spikes, dt_s) -> (output (T,B,N), [layer spikes])

``inputs`` is (N samples, T, *input_shape) with binary values; ``labels`` (N,) ints or None. The
fixed-point network answers late: layer ``j`` (0-based) at emulator step ``t + j + 1`` corresponds to
float step ``t``, so the emulator/Lava run T + L steps (L = number of dense/conv layers) with zero
padding and the comparison uses the aligned window. Result keys: ``latency_steps``,
``layers`` (per layer: float and fixed spike totals, per-neuron spike-count correlation, identical
spike-time fraction), ``accuracy`` (float / emulator / lava, when labels are given),
``predictions`` (paired counts for the accuracy test), ``emulator_vs_lava`` (per-layer agreement
over every step), ``thresholds``, ``criteria`` (one dict per criterion: name, layer, value, op,
threshold, status PASS/FAIL/SKIP, note) and ``passed``.

Fidelity criteria (declared in the profile's ``[fidelity]`` table, hw_profiles/loihi2.toml):

* ``accuracy`` (labels only): Δ = accuracy(fixed) − accuracy(float) in points. It fails only when
  |Δ| > ``max_accuracy_drop_pts`` *and* an exact McNemar test on the paired predictions rejects
  "no difference" at ``accuracy_test_alpha``: with 8 samples one flipped prediction is 12.5 points,
  which alone proves nothing. Small samples are judged by the spike criteria.
* ``spike_agreement`` / ``count_corr`` per layer ≥ ``min_spike_agreement`` / ``min_count_corr``
  (float vs emulator, aligned window). A constant layer (no variance) passes only when float and
  fixed counts are identical.
* ``emulator_vs_lava`` per layer ≥ ``min_vendor_agreement`` (1.0: bit-exact); SKIP without Lava.
"""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import torch

from neurodeploy.errors import VerificationError
from neurodeploy.ir.conventions import of
from neurodeploy.sim.float_sim import simulate
from neurodeploy.targets.base import failed_text  # noqa: F401  (re-exported)
from neurodeploy.targets.fidelity import mcnemar_p, profile_thresholds  # noqa: F401 (mcnemar_p re-exported)
from neurodeploy.targets.loihi.emulator import LoihiEmulator
from neurodeploy.targets.loihi.lava_runner import lava_available, run_lava

#: criteria keys verify reads from the profile (the others are export budgets)
VERIFY_KEYS = ("max_accuracy_drop_pts", "accuracy_test_alpha", "min_spike_agreement",
               "min_count_corr", "min_vendor_agreement")


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


def compare_layers(float_layers, fixed_layers, T: int) -> list[dict]:
    """Per layer: spike totals, count correlation and identical-bin fraction (aligned window)."""
    out = []
    for j, (fl, ql) in enumerate(zip(float_layers, fixed_layers)):
        q = ql[j + 1:j + 1 + T].to(torch.float64)
        fc = fl.sum(0).reshape(-1).to(torch.float64).numpy()
        qc = q.sum(0).reshape(-1).numpy()
        out.append({"index": j, "float_spikes": int(fc.sum()), "fixed_spikes": int(qc.sum()),
                    "count_correlation": _corr(fc, qc), "counts_equal": bool(np.array_equal(fc, qc)),
                    "identical_spike_fraction": float((fl.to(torch.float64) == q).to(torch.float64).mean())})
    return out


def load_thresholds(profile: str | None = None, overrides: dict | None = None) -> dict[str, dict]:
    """The profile's fidelity criteria, each ``{"value", "source"}``; ``overrides`` (key → value,
    None = keep) replace them and are marked ``source = "command line"``."""
    from neurodeploy.targets.loihi.fixed_point import DEFAULT_PROFILE

    return profile_thresholds(profile or DEFAULT_PROFILE, VERIFY_KEYS, overrides)


def _row(name, layer, value, op, threshold, status, note=""):
    return {"name": name, "layer": layer, "value": value, "op": op, "threshold": threshold,
            "status": status, "note": note}


def judge(report: dict, th: dict[str, dict]) -> list[dict]:
    """Evaluate every criterion of ``th`` on a :func:`verify_loihi` report."""
    rows = []
    v = {k: d["value"] for k, d in th.items()}
    preds = report.get("predictions")
    if preds is None:
        rows.append(_row("accuracy", None, None, "<=", v["max_accuracy_drop_pts"], "SKIP",
                         "no labels (input spikes without a dataset)"))
    else:
        for sim, pr in preds.items():
            n, b, c = pr["samples"], pr["float_only"], pr["fixed_only"]
            delta = 100.0 * (c - b) / n
            p = mcnemar_p(b, c)
            bad = abs(delta) > v["max_accuracy_drop_pts"] and p < v["accuracy_test_alpha"]
            rows.append(_row(f"accuracy {sim} - float (points)", None, round(delta, 4), "|.| <=",
                             v["max_accuracy_drop_pts"], "FAIL" if bad else "PASS",
                             f"points; {b} samples right only in float, {c} only in {sim}; "
                             f"McNemar p = {p:.3g} (fails only if |delta| > threshold and "
                             f"p < {v['accuracy_test_alpha']:g})"))
    for lay in report["layers"]:
        j = lay["index"]
        agree = lay["identical_spike_fraction"]
        rows.append(_row("spike agreement", j, agree, ">=", v["min_spike_agreement"],
                         "PASS" if agree >= v["min_spike_agreement"] else "FAIL",
                         "identical spike bins, float vs emulator"))
        corr = lay["count_correlation"]
        if corr is None:
            ok = lay.get("counts_equal", False)
            rows.append(_row("count correlation", j, None, ">=", v["min_count_corr"],
                             "PASS" if ok else "FAIL",
                             "constant counts: " + ("float and fixed equal" if ok else
                                                    "one side has no variance, counts differ")))
        else:
            rows.append(_row("count correlation", j, corr, ">=", v["min_count_corr"],
                             "PASS" if corr >= v["min_count_corr"] else "FAIL",
                             "per-neuron spike counts, float vs emulator"))
    lava = report.get("emulator_vs_lava")
    if lava is None:
        rows.append(_row("emulator = Lava", None, None, ">=", v["min_vendor_agreement"], "SKIP",
                         "Lava not run (not installed or --no-lava)"))
    else:
        for j, a in enumerate(lava["agreement_per_layer"]):
            rows.append(_row("emulator = Lava", j, a, ">=", v["min_vendor_agreement"],
                             "PASS" if a >= v["min_vendor_agreement"] else "FAIL",
                             "identical spike bins over every step; a difference is an emulator bug"))
    return rows


def verify_request(request) -> dict:
    """The registry's ``verify``: :func:`verify_loihi` on a :class:`~neurodeploy.targets.base.VerifyRequest`,
    thresholds from the export's profile with the request's overrides; ``text``: the lines the CLI
    prints above the criteria table."""
    from neurodeploy.targets.loihi.fixed_point import profile_of

    th = load_thresholds(profile_of(request.artefact), dict(request.overrides))
    res = verify_loihi(request.artefact, request.graph, request.inputs, request.labels,
                       use_lava="auto" if request.vendor is None else bool(request.vendor), thresholds=th,
                       conventions=request.conventions)
    res["text"] = report_text(res)
    return res


def report_text(res: dict) -> list[str]:
    """Latency, accuracies and the per-layer agreement table as plain lines."""
    lines = [f"latency {res.get('latency_steps')} steps; samples {res.get('samples', '?')}"]
    for k, v in (res.get("accuracy") or {}).items():
        lines.append(f"accuracy {k:9s}: {v:.2%}" if v is not None else f"accuracy {k:9s}: n/a")
    agreement = (res.get("emulator_vs_lava") or {}).get("agreement_per_layer") or []
    rows = [("layer", "float spikes", "fixed spikes", "count corr", "same spikes", "emu = lava")]
    for i, layer in enumerate(res.get("layers", [])):
        corr = layer.get("count_correlation")
        rows.append((str(i), str(layer["float_spikes"]), str(layer["fixed_spikes"]),
                     "n/a" if corr is None else f"{corr:.4f}", f"{layer['identical_spike_fraction']:.2%}",
                     f"{agreement[i]:.2%}" if i < len(agreement) else "n/a (no Lava)"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    return lines


def verify_loihi(net_path: str | Path, nir_graph: nir.NIRGraph, inputs, labels=None,
                 use_lava: bool | str = "auto", dt_s: float | None = None,
                 strict: bool = False, thresholds: dict | None = None, conventions=None) -> dict:
    """Float model vs emulator vs Lava on ``inputs`` (N, T, …); see module docstring.

    ``strict=True`` raises :class:`VerificationError` when any criterion fails."""
    dt = of(nir_graph, conventions, dt_s).dt_s  # the source's conventions (ir/conventions.py)
    th = thresholds if thresholds is not None else load_thresholds()
    x = torch.as_tensor(np.asarray(inputs)).transpose(0, 1).contiguous()   # (T, N, …)
    emu = LoihiEmulator(net_path)
    L, T = emu.latency, x.shape[0]
    padded = torch.cat([x, torch.zeros((L, *x.shape[1:]), dtype=x.dtype)])
    fixed = emu.run(padded.to(torch.int8), record=True)
    f_out, f_layers = float_reference(nir_graph, x, float(dt))
    report: dict = {"latency_steps": L, "time_steps": T, "samples": int(x.shape[1]),
                    "layers": compare_layers(f_layers, fixed.layers, T)}
    counts = {"float": f_out.sum(0), "emulator": fixed.output_spikes[L:].sum(0, dtype=torch.int64)}
    if use_lava is True or (use_lava == "auto" and lava_available()):
        lava = run_lava(net_path, padded.to(torch.int8), record=True)
        agree = [float((a == b).to(torch.float64).mean()) for a, b in zip(lava.layers, fixed.layers)]
        report["emulator_vs_lava"] = {"agreement_per_layer": agree, "exact": all(a == 1.0 for a in agree)}
        counts["lava"] = lava.output_spikes[L:].sum(0, dtype=torch.int64)
    else:
        report["emulator_vs_lava"] = None
    if labels is not None:
        y = torch.as_tensor(np.asarray(labels)).reshape(-1)
        right = {k: (c.argmax(-1) == y) for k, c in counts.items()}
        report["accuracy"] = {k: float(r.to(torch.float64).mean()) for k, r in right.items()}
        report["predictions"] = {
            k: {"samples": int(y.numel()), "float_only": int((right["float"] & ~r).sum()),
                "fixed_only": int((~right["float"] & r).sum()),
                "same_class": float((counts[k].argmax(-1) == counts["float"].argmax(-1))
                                    .to(torch.float64).mean())}
            for k, r in right.items() if k != "float"}
    report["thresholds"] = th
    report["criteria"] = judge(report, th)
    report["passed"] = all(r["status"] != "FAIL" for r in report["criteria"])
    if strict and not report["passed"]:
        raise VerificationError(f"{net_path}: fidelity criteria failed: {failed_text(report['criteria'])}")
    return report
