"""Verify a Xylo specification against its source NIR graph: float vs emulator vs XyloSim.

``verify(request)`` (the target's ``verify``) returns a report with ``criteria`` rows like
:mod:`neurodeploy.targets.loihi.verify` (name, layer, value, op, threshold, status, note) and
``passed``. Criteria come from the profile's ``[fidelity]`` table (``max_accuracy_drop_pts`` with
an exact McNemar test, ``min_spike_agreement``, ``min_count_corr``, ``min_vendor_agreement``);
``request.overrides`` replace them (recorded as "command line").

Alignment: neuron layer j (0-based; hidden layers first, output last) of the chip answers j steps
late (recurrent and readout synapses see the previous step's spikes), so the emulator runs
T + L steps (L = layers − 1) with zero padding and layer j's window [j, j + T) is compared with
float steps [0, T). Multi-spike: a hidden Xylo neuron may emit up to 31 spikes in a step; the
float model emits 0 or 1. Spike agreement compares the numbers per bin (a 2 against a 1 is a
difference), count correlation the per-neuron totals, and ``multi_spike_bins`` reports the share
of bins with more than one spike. ``emulator = XyloSim`` compares every hidden and output spike
of every step (1.0 = bit-exact); SKIP when rockpool/xylosim are missing or ``vendor=False``.
``input events per channel and step`` FAILs when an input bin holds more than 15 events: the chip
clips there and the float model does not (clip the data with ``[data] input_clip``).
"""

from __future__ import annotations

import nir
import numpy as np
import torch

from neurodeploy.errors import ConfigError
from neurodeploy.sim.float_sim import simulate
from neurodeploy.targets.base import VerifyRequest
from neurodeploy.targets.fidelity import mcnemar_p, profile_thresholds
from neurodeploy.targets.xylo import _rockpool
from neurodeploy.targets.xylo.emulator import XyloEmulator
from neurodeploy.targets.xylo.spec import read_spec_file

VERIFY_KEYS = ("max_accuracy_drop_pts", "accuracy_test_alpha", "min_spike_agreement",
               "min_count_corr", "min_vendor_agreement")


def thresholds(profile: str, overrides: dict | None = None) -> dict[str, dict]:
    return profile_thresholds(profile, VERIFY_KEYS, overrides)


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def layer_slices(doc: dict) -> list[tuple[str, str, slice]]:
    """(name, kind, index slice) per neuron layer of a specification document."""
    return [(lay["name"], lay["kind"], slice(lay["first"], lay["first"] + lay["size"])) for lay in doc["layers"]]


def fixed_layers(doc: dict, run) -> list[torch.Tensor]:
    """Per neuron layer: (T', B, n) spike counts of an emulator/XyloSim run."""
    return [(run.hidden_spikes if kind == "hidden" else run.output_spikes)[:, :, sl]
            for _, kind, sl in layer_slices(doc)]


def float_layers(graph: nir.NIRGraph, x: torch.Tensor, dt_s: float) -> list[torch.Tensor]:
    res = simulate(graph, x.float(), dt_s=dt_s, record=True)
    return [out.reshape(out.shape[0], out.shape[1], -1) for name, out in res.layers.items()
            if isinstance(graph.nodes[name], (nir.LIF, nir.CubaLIF, nir.IF))]


def run_xylosim(spec: dict, x: np.ndarray, chip: str = "syns61201") -> tuple[np.ndarray, np.ndarray]:
    """XyloSim on each sample of ``x`` (T, B, N_in): hidden (T, B, H) and output (T, B, O) spikes."""
    cls = _rockpool.xylosim_class(chip)
    hs, os_ = [], []
    for b in range(x.shape[1]):
        sim = cls.from_specification(**spec)
        out, _, rec = sim(np.asarray(x[:, b], dtype=np.int64), record=True)
        hs.append(np.asarray(rec["Spikes"]))
        os_.append(np.asarray(out))
    return np.stack(hs, 1), np.stack(os_, 1)


def _row(name, layer, value, op, threshold, status, note=""):
    return {"name": name, "layer": layer, "value": value, "op": op, "threshold": threshold,
            "status": status, "note": note}


def verify(request: VerifyRequest) -> dict:
    """Float model vs emulator vs XyloSim on ``request.inputs`` (N, T, N_in); see the module docstring."""
    doc = read_spec_file(request.artefact)
    spec = doc["spec"]
    th = thresholds(doc.get("profile", "xylo-audio2"), request.overrides)
    v = {k: d["value"] for k, d in th.items()}
    x = torch.as_tensor(np.asarray(request.inputs)).transpose(0, 1).contiguous()   # (T, N, …)
    T, N = int(x.shape[0]), int(x.shape[1])
    x = x.reshape(T, N, -1)
    if torch.any(x < 0) or torch.any(x != x.round()):
        raise ConfigError("verify --target xylo: inputs must be non-negative integer event counts")
    max_events = XyloEmulator(spec).max_input_events
    clipped = float((x > max_events).to(torch.float64).mean())
    L = int(doc.get("latency_steps", len(doc["layers"]) - 1))
    padded = torch.cat([x, torch.zeros((L, *x.shape[1:]), dtype=x.dtype)]).to(torch.int64)
    emu = XyloEmulator(spec).run(padded)
    fixed = fixed_layers(doc, emu)
    flo = float_layers(request.graph, x, float(doc["dt_s"]))
    layers = []
    for j, ((name, kind, _), fl, ql) in enumerate(zip(layer_slices(doc), flo, fixed)):
        q = ql[j:j + T].to(torch.float64)
        f = fl.to(torch.float64)
        fc, qc = f.sum(0).reshape(-1).numpy(), q.sum(0).reshape(-1).numpy()
        layers.append({"index": j, "name": name, "kind": kind, "float_spikes": int(fc.sum()),
                       "fixed_spikes": int(qc.sum()), "count_correlation": _corr(fc, qc),
                       "counts_equal": bool(np.array_equal(fc, qc)),
                       "identical_spike_fraction": float((f == q).to(torch.float64).mean()),
                       "multi_spike_bins": float((q > 1).to(torch.float64).mean())})
    report: dict = {"target": "xylo", "latency_steps": L, "time_steps": T, "samples": N, "layers": layers,
                    "input_bins_clipped": clipped}
    counts = {"float": flo[-1].sum(0), "emulator": fixed[-1][L:L + T].sum(0, dtype=torch.int64)}
    use_vendor = request.vendor if request.vendor is not None else _rockpool.available()
    if use_vendor:
        hs, os_ = run_xylosim(spec, padded.numpy(), doc.get("chip", "syns61201"))
        agree = []
        for (_, kind, sl), ql in zip(layer_slices(doc), fixed):
            ref = (hs if kind == "hidden" else os_)[:, :, sl]
            agree.append(float((torch.as_tensor(ref) == ql).to(torch.float64).mean()))
        report["emulator_vs_xylosim"] = {"agreement_per_layer": agree, "exact": all(a == 1.0 for a in agree)}
        counts["xylosim"] = torch.as_tensor(os_[L:L + T]).sum(0)
    else:
        report["emulator_vs_xylosim"] = None
    rows = [_row("input events per channel and step", None, float(x.max()) if x.numel() else 0.0, "<=",
                 max_events, "FAIL" if clipped else "PASS",
                 f"the chip clips input counts at {max_events} ({clipped:.2%} of input bins clipped); the float "
                 "model sees the unclipped counts: clip the data ([data] input_clip) to compare like with like")]
    if request.labels is not None:
        y = torch.as_tensor(np.asarray(request.labels)).reshape(-1)
        right = {k: (c.argmax(-1) == y) for k, c in counts.items()}
        report["accuracy"] = {k: float(r.to(torch.float64).mean()) for k, r in right.items()}
        for sim, r in right.items():
            if sim == "float":
                continue
            b, c = int((right["float"] & ~r).sum()), int((~right["float"] & r).sum())
            delta, p = 100.0 * (c - b) / max(N, 1), mcnemar_p(b, c)
            bad = abs(delta) > v["max_accuracy_drop_pts"] and p < v["accuracy_test_alpha"]
            rows.append(_row(f"accuracy {sim} - float (points)", None, round(delta, 4), "|.| <=",
                             v["max_accuracy_drop_pts"], "FAIL" if bad else "PASS",
                             f"points; {b} samples right only in float, {c} only in {sim}; McNemar p = "
                             f"{p:.3g} (fails only if |delta| > threshold and p < {v['accuracy_test_alpha']:g})"))
    else:
        rows.append(_row("accuracy", None, None, "<=", v["max_accuracy_drop_pts"], "SKIP", "no labels"))
    for lay in layers:
        j = lay["index"]
        a = lay["identical_spike_fraction"]
        rows.append(_row("spike agreement", j, a, ">=", v["min_spike_agreement"],
                         "PASS" if a >= v["min_spike_agreement"] else "FAIL",
                         f"identical spike counts per bin, float vs emulator ({lay['multi_spike_bins']:.2%} "
                         "of emulator bins hold more than one spike)"))
        corr = lay["count_correlation"]
        if corr is None:
            ok = lay["counts_equal"]
            rows.append(_row("count correlation", j, None, ">=", v["min_count_corr"], "PASS" if ok else "FAIL",
                             "constant counts: " + ("float and emulator equal" if ok else "counts differ")))
        else:
            rows.append(_row("count correlation", j, corr, ">=", v["min_count_corr"],
                             "PASS" if corr >= v["min_count_corr"] else "FAIL",
                             "per-neuron spike counts, float vs emulator"))
    vend = report["emulator_vs_xylosim"]
    if vend is None:
        rows.append(_row("emulator = XyloSim", None, None, ">=", v["min_vendor_agreement"], "SKIP",
                         "XyloSim not run (" + ("vendor=False" if request.vendor is False else _rockpool.MISSING) + ")"))
    else:
        for j, a in enumerate(vend["agreement_per_layer"]):
            rows.append(_row("emulator = XyloSim", j, a, ">=", v["min_vendor_agreement"],
                             "PASS" if a >= v["min_vendor_agreement"] else "FAIL",
                             "identical spike counts over every step; a difference is an emulator bug"))
    report["thresholds"] = th
    report["criteria"] = rows
    report["passed"] = all(r["status"] != "FAIL" for r in rows)
    return report
