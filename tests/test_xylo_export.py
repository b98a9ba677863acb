"""Xylo export: NIR → specification file + manifest, hardware check, lossy steps, verify.

Small random CubaLIF networks (16 inputs, τ = 2^dash·dt, subtract reset); weights ×3 so that
layers spike. The exported file loads into XyloSim; verify runs float vs emulator vs XyloSim.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurodeploy.errors import (
    ConfigError,
    DataError,
    HardwareLimitError,
    LossyConversionError,
    UnsupportedNodeError,
)
from neurodeploy.ir import to_nir
from neurodeploy.targets.base import VerifyRequest, get_target
from neurodeploy.targets.xylo import _rockpool
from neurodeploy.targets.xylo.spec import load_spec, read_spec_file
from neurodeploy.train.models import build_model

pytestmark = pytest.mark.skipif(not _rockpool.available(), reason=_rockpool.MISSING)


def model_cfg(**kw):
    m = {"kind": "mlp", "hidden": [24], "neuron": "cuba_lif", "tau_mem_s": 0.004, "tau_syn_s": 0.002,
         "v_th": 1.0, "reset": "subtract", "dt_s": 0.001, "learn_tau": False, "learn_threshold": False,
         "recurrent": False, "bias": False}
    m.update(kw)
    return {"model": m, "surrogate": {"name": "fast_sigmoid", "params": {"height": 1.0, "width": 0.5}}}


def graph(seed=0, n_in=16, classes=4, gain=3.0, **kw):
    torch.manual_seed(seed)
    model = build_model(model_cfg(**kw), (n_in,), classes)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(gain)
    return to_nir(model, (n_in,), time_steps=20)


@pytest.fixture(scope="module")
def xylo():
    return get_target("xylo")


@pytest.mark.parametrize("kw", [{}, {"hidden": [24, 12]}, {"recurrent": True}], ids=["ff", "ff2", "rec"])
def test_export_loads_in_xylosim_and_verifies(tmp_path, xylo, kw):
    g = graph(**kw)
    out = tmp_path / "net.xylo.json"
    res = xylo.export(g, out, {})
    doc = read_spec_file(out)
    assert doc["format_version"] == 1 and doc["chip"] == "syns61201" and doc["dt_s"] == 0.001
    assert doc["latency_steps"] == len(kw.get("hidden", [24]))
    manifest = json.loads(res.extra_paths[0].read_text())
    assert manifest["lossy_steps"] == [] and manifest["check"]["ok"]
    spec = load_spec(out)
    assert np.abs(spec["weights_in"]).max() == 127  # Rockpool's per-neuron quantiser
    _rockpool.xylosim_class().from_specification(**spec)  # the vendor accepts the file
    x = (torch.rand(16, 20, 16, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    y = torch.randint(0, 4, (16,), generator=torch.Generator().manual_seed(2))
    rep = xylo.verify(VerifyRequest(out, g, x, y))
    assert rep["passed"], [r for r in rep["criteria"] if r["status"] == "FAIL"]
    assert rep["emulator_vs_xylosim"]["exact"]
    assert rep["layers"][0]["float_spikes"] > 50  # the comparison is not vacuous
    assert {r["name"] for r in rep["criteria"]} >= {"spike agreement", "count correlation", "emulator = XyloSim",
                                                     "accuracy emulator - float (points)"}


def test_check_lists_every_violation_at_once(xylo):
    g = graph(n_in=20, classes=9, hidden=[1001])
    text, rep = xylo.check(g, {})
    whats = [v["what"] for v in rep["violations"]]
    assert whats == ["input channels", "output neurons", "hidden neurons"], text
    assert "fix:" in text and "Decision: refuse (HardwareLimitError)" in text
    with pytest.raises(HardwareLimitError, match=r"input channels: 20 \(limit ≤ 16\); fix: .*output neurons: 9"):
        xylo.export(g, "unused.xylo.json", {})


def test_recurrent_output_and_single_layer_refused(xylo, tmp_path):
    import nir

    g = graph(hidden=[])
    with pytest.raises(HardwareLimitError, match="neuron layers: 1 \\(limit ≥ 2\\); fix: add a hidden layer"):
        xylo.export(g, tmp_path / "a.xylo.json", {})
    g = graph(recurrent=True)
    # make the output layer recurrent
    out_neuron = [n for n, v in g.nodes.items() if isinstance(v, nir.CubaLIF)][-1]
    size = g.nodes[out_neuron].tau_mem.shape[0]
    g.nodes["r_out"] = nir.Linear(weight=np.eye(size))
    g.edges += [(out_neuron, "r_out"), ("r_out", out_neuron)]
    with pytest.raises(HardwareLimitError, match="output neurons not recurrent"):
        xylo.export(g, tmp_path / "b.xylo.json", {})
    assert not list(tmp_path.iterdir())


def test_lossy_steps_refused_by_default_and_recorded(xylo, tmp_path):
    g = graph(bias=True, tau_mem_s=0.005, reset="zero")
    for node in g.nodes.values():
        if hasattr(node, "bias") and node.bias is not None:
            node.bias[:] = 0.1
    out = tmp_path / "n.xylo.json"
    with pytest.raises(LossyConversionError, match=r"reset 'zero' .* --allow-lossy"):
        xylo.export(g, out, {})
    assert not out.exists()
    text, rep = xylo.check(g, {})
    assert any("bias" in s and "dropped" in s for s in rep["lossy_steps"])
    assert any("tau_mem = 0.005 s is not 2^dash·dt" in s for s in rep["lossy_steps"])
    res = xylo.export(g, out, {"allow_lossy": True})
    manifest = json.loads(res.extra_paths[0].read_text())
    assert manifest["allow_lossy"] and len(manifest["lossy_steps"]) == len(rep["lossy_steps"]) >= 3


def test_unsupported_and_bad_options(xylo, tmp_path):
    with pytest.raises(UnsupportedNodeError, match="cuba_lif"):
        xylo.export(graph(neuron="lif"), tmp_path / "x.xylo.json", {})
    with pytest.raises(ConfigError, match="tau_syn/dt = 1; Xylo needs tau_syn ≥ 2·dt"):
        xylo.export(graph(tau_syn_s=0.001), tmp_path / "x.xylo.json", {})
    with pytest.raises(ConfigError, match="unknown option"):
        xylo.export(graph(), tmp_path / "x.xylo.json", {"sample_inputs": 1})


def test_spec_file_version_and_format_checked(tmp_path, xylo):
    out = tmp_path / "n.xylo.json"
    xylo.export(graph(), out, {})
    doc = json.loads(out.read_text())
    doc["format_version"] = 2
    out.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="format_version 2, this reader reads 1"):
        load_spec(out)
    out.write_text("not json")
    with pytest.raises(DataError, match="not a Xylo specification"):
        load_spec(out)
    assert xylo.input_shape is not None


@pytest.mark.parametrize("profile", ["xylo-audio3", "xylo-imu"])
def test_other_profiles(tmp_path, xylo, profile):
    g = graph(classes=10, hidden=[24, 12])
    res = xylo.export(g, tmp_path / "n.xylo.json", {"profile": profile})
    assert read_spec_file(res.path)["profile"] == profile


def test_deterministic_atomic_and_check_only_writes_nothing(tmp_path, xylo):
    """The registry conformance checks for a Xylo-compatible graph (the shared suite's graph is LIF)."""
    g = graph(recurrent=True)
    a, b = tmp_path / "a.xylo.json", tmp_path / "b.xylo.json"
    xylo.export(g, a, {})
    xylo.export(g, b, {})
    assert a.read_bytes() == b.read_bytes()
    assert not [p for p in tmp_path.iterdir() if "tmp" in p.name]
    sub = tmp_path / "c"
    sub.mkdir()
    xylo.export(g, sub / "c.xylo.json", {"check_only": True})
    assert not list(sub.iterdir())


def test_verify_flags_inputs_the_chip_clips(tmp_path, xylo):
    g = graph()
    out = tmp_path / "n.xylo.json"
    xylo.export(g, out, {})
    x = torch.zeros(2, 10, 16)
    x[0, 0, 0] = 20
    rep = xylo.verify(VerifyRequest(out, g, x, vendor=False))
    row = rep["criteria"][0]
    assert row["name"] == "input events per channel and step" and row["status"] == "FAIL" and not rep["passed"]
    assert any(r["name"] == "emulator = XyloSim" and r["status"] == "SKIP" for r in rep["criteria"])
