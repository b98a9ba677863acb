"""Loihi export: every claimed NIR node kind, manifest, determinism, errors, Norse graphs."""

from __future__ import annotations

import json
import time

import h5py
import nir
import numpy as np
import pytest
import torch

from neurodeploy.errors import (
    ConfigError,
    HardwareLimitError,
    LossyConversionError,
    UnsupportedNodeError,
)
from neurodeploy.targets.base import get_target
from neurodeploy.targets.loihi import TARGET
from neurodeploy.targets.loihi.emulator import LoihiEmulator
from neurodeploy.targets.loihi.export import check_graph, export, graph_sha256
from neurodeploy.targets.loihi.verify import verify_loihi

DT = 1e-3


# ------------------------------------------------------------------ graph builders (shared)
def neuron(kind: str, shape, tau_mem=1e-2, tau_syn=5e-3, v_th=1.0, v_leak=0.0):
    full = lambda v: np.full(shape, v, dtype=np.float64)  # noqa: E731
    if kind == "LIF":
        return nir.LIF(tau=full(tau_mem), r=full(1.0), v_leak=full(v_leak), v_threshold=full(v_th))
    if kind == "IF":
        return nir.IF(r=full(1 / DT), v_threshold=full(v_th))
    return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(1.0),
                       v_leak=full(v_leak), v_threshold=full(v_th))


def chain(nodes: dict, in_shape, rec: dict | None = None, **meta) -> nir.NIRGraph:
    """Input → nodes (in order) → Output; ``rec`` maps neuron name → recurrent node."""
    names = list(nodes)
    last = nodes[names[-1]]
    all_nodes = {"input": nir.Input(input_type={"input": np.array(in_shape)}), **nodes,
                 "output": nir.Output(output_type={"output": np.array(np.shape(last.v_threshold))})}
    edges = list(zip(["input", *names], [*names, "output"]))
    for n, r in (rec or {}).items():
        all_nodes[r[0]] = r[1]
        edges += [(n, r[0]), (r[0], n)]
    return nir.NIRGraph(nodes=all_nodes, edges=edges, metadata={"dt_s": DT, **meta})


def dense_net(rng, kind="CubaLIF", sizes=(20, 16, 6), gain=6.0, linear=False, recurrent=False,
              bias=False):
    nodes, rec = {}, {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.normal(0.4, gain, (n_out, n_in))
        syn = (nir.Linear(weight=w) if linear else
               nir.Affine(weight=w, bias=rng.normal(0, 0.3, n_out) if bias else np.zeros(n_out)))
        nodes[f"{2 * i}_syn"] = syn
        nodes[f"{2 * i + 1}_{kind.lower()}"] = neuron(kind, (n_out,))
        if recurrent and i == 0:
            rec[f"{2 * i + 1}_{kind.lower()}"] = (f"{2 * i + 1}_rec",
                                                  nir.Linear(weight=rng.normal(0, 2.0, (n_out, n_out))))
    return chain(nodes, [sizes[0]], rec)


def conv_net(rng, pool=True):
    nodes = {
        "0_conv": nir.Conv2d(input_shape=(8, 8), weight=rng.normal(0.4, 3, (4, 2, 3, 3)), stride=1,
                             padding=1, dilation=1, groups=1, bias=rng.normal(0, 0.2, 4)),
        "1_lif": neuron("LIF", (4, 8, 8), tau_mem=2e-2, v_leak=0.1),
    }
    c, hw = 4, 8
    if pool:
        nodes["2_pool"] = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                        padding=np.array([0, 0]))
        nodes["3_if"] = neuron("IF", (4, 4, 4), v_th=1.5)
        hw = 4
    nodes["4_flat"] = nir.Flatten(input_type={"input": np.array([c, hw, hw])}, start_dim=0)
    nodes["5_syn"] = nir.Affine(weight=rng.normal(0.5, 6, (5, c * hw * hw)), bias=np.zeros(5))
    nodes["6_cuba"] = neuron("CubaLIF", (5,))
    return chain(nodes, [2, 8, 8])


def spikes(rng, shape, p=0.3):
    return torch.from_numpy((rng.random(shape) < p).astype(np.int8))


# ------------------------------------------------------------------ tests
CASES = {
    "affine-cubalif": lambda r: dense_net(r),
    "linear-lif": lambda r: dense_net(r, "LIF", linear=True),
    "affine-if": lambda r: dense_net(r, "IF", gain=1.0),
    "affine-bias-lif": lambda r: dense_net(r, "LIF", bias=True),
    "recurrent-cubalif": lambda r: dense_net(r, recurrent=True),
    "conv-sumpool-flatten": lambda r: conv_net(r),
    "conv-flatten": lambda r: conv_net(r, pool=False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_node_kind_exports_and_runs(case, tmp_path):
    rng = np.random.default_rng(0)
    g = CASES[case](rng)
    res = export(g, tmp_path / "n.net", {})
    assert res.path.exists() and res.extra_paths[0].exists()
    emu = LoihiEmulator(res.path)
    x = spikes(rng, (12, 3, *emu.input_shape))
    out = emu.run(x, record=True)
    assert out.output_spikes.shape == (12, 3, emu.output_size)
    assert len(out.layers) == emu.latency == res.summary["latency_steps"]
    with h5py.File(res.path, "r") as f:
        for key in f["layer"]:
            if "weight" in f["layer"][key]:
                w = f["layer"][key]["weight"][()]
                assert w.min() >= -256 and w.max() <= 254 and np.all(w % 2 == 0)
        kinds = [f["layer"][k]["type"][0].decode() for k in sorted(f["layer"], key=int)]
    assert kinds[0] == "input"
    assert ("dense_rec" in kinds) == case.startswith("recurrent")
    assert ("conv" in kinds) == case.startswith("conv")


def test_manifest_contents(tmp_path):
    g = dense_net(np.random.default_rng(1))
    res = export(g, tmp_path / "m.net", {"profile": "loihi1"})
    m = json.loads(res.extra_paths[0].read_text())
    assert m["format_version"] == 1 and m["dt_s"] == DT and m["profile"] == "loihi1"
    assert m["latency_steps"] == 2 and m["source_nir_sha256"] == graph_sha256(g)
    assert m["input_encoding"] == "binary-events"
    for lay in m["layers"]:
        assert lay["scale_k"] > 0 and lay["latency_steps"] == 1
        assert 0 <= lay["weight_rel_l2_error"] < 0.02
        assert lay["iDecay"] == round(4096 * 0.2) and lay["vDecay"] == round(4096 * 0.1)


def test_deterministic_bytes(tmp_path):
    g = conv_net(np.random.default_rng(2))
    export(g, tmp_path / "a.net", {})
    time.sleep(1.1)  # HDF5 object timestamps have 1 s resolution
    export(g, tmp_path / "b.net", {})
    assert (tmp_path / "a.net").read_bytes() == (tmp_path / "b.net").read_bytes()
    ma = (tmp_path / "a.net.manifest.json").read_text().replace("a.net", "X")
    assert ma == (tmp_path / "b.net.manifest.json").read_text().replace("b.net", "X")


def test_registry_finds_target():
    assert get_target("loihi") is TARGET and TARGET.suffix == ".net"


def test_missing_dt_says_pass_dt(tmp_path):
    g = dense_net(np.random.default_rng(0))
    g.metadata.pop("dt_s")
    with pytest.raises(ConfigError, match=r"no dt \(metadata 'dt_s'\); pass it explicitly with --dt"):
        export(g, tmp_path / "x.net", {})
    assert export(g, tmp_path / "x.net", {"dt_s": DT}).path.exists()


def test_unknown_option():
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['dt'\]"):
        export(dense_net(np.random.default_rng(0)), "x.net", {"dt": 1e-3})


def _with(g, name, node):
    g.nodes[name] = node
    return g


def test_unsupported_node_named(tmp_path):
    g = _with(dense_net(np.random.default_rng(0)), "1_cubalif",
              nir.LI(tau=np.full(16, 1e-2), r=np.ones(16), v_leak=np.zeros(16)))
    with pytest.raises(UnsupportedNodeError, match=r"node '1_cubalif' \(LI\): no netx mapping"):
        export(g, tmp_path / "x.net", {})


def test_per_neuron_tau_unsupported(tmp_path):
    n = neuron("LIF", (16,))
    n.tau[3] = 5e-2
    g = _with(dense_net(np.random.default_rng(0), "LIF"), "1_lif", n)
    with pytest.raises(UnsupportedNodeError, match=r"node '1_lif' \(LIF\): per-neuron tau"):
        export(g, tmp_path / "x.net", {})


def test_v_reset_and_subtract_reset_unsupported(tmp_path):
    n = neuron("LIF", (16,))
    n.v_reset[:] = 0.5
    g = _with(dense_net(np.random.default_rng(0), "LIF"), "1_lif", n)
    with pytest.raises(UnsupportedNodeError, match=r"'1_lif' \(LIF\): v_reset != 0"):
        export(g, tmp_path / "x.net", {})
    g = dense_net(np.random.default_rng(0))
    g.metadata["reset"] = "subtract"
    with pytest.raises(UnsupportedNodeError, match=r"reset 'subtract'.*reset='zero'"):
        export(g, tmp_path / "x.net", {})


def test_branch_unsupported(tmp_path):
    g = dense_net(np.random.default_rng(0))
    g.edges.append(("input", "2_syn"))
    with pytest.raises(UnsupportedNodeError, match=r"node 'input' \(Input\): branch .*outputs \['0_syn', '2_syn'\]"):
        export(g, tmp_path / "x.net", {})


def test_unrepresentable_threshold_is_lossy(tmp_path):
    rng = np.random.default_rng(0)
    g = _with(dense_net(rng, "LIF"), "1_lif", neuron("LIF", (16,), v_th=1e-4))
    with pytest.raises(LossyConversionError, match=r"1_lif: threshold mantissa .* < 1 is clipped to 1 because v_threshold = 0.0001 is tiny"):
        export(g, tmp_path / "x.net", {})
    assert not (tmp_path / "x.net").exists()
    res = export(g, tmp_path / "x.net", {"allow_lossy": True})
    assert "clipped to 1" in json.loads(res.extra_paths[0].read_text())["lossy_steps"][0]


def test_check_only_writes_nothing(tmp_path):
    text, info = check_graph(dense_net(np.random.default_rng(0)), {"profile": "loihi1"})
    assert "OK" in text and info["ok"] and info["total_cores"] == 2
    res = export(dense_net(np.random.default_rng(0)), tmp_path / "c.net", {"check_only": True})
    assert not (tmp_path / "c.net").exists() and "Core mapping" in res.summary["text"]


def test_hardware_limits_all_reported(tmp_path):
    g = dense_net(np.random.default_rng(0), sizes=(5000, 1100, 4))
    with pytest.raises(HardwareLimitError, match=r"input axons per core = 5000 exceeds limit 4096"):
        export(g, tmp_path / "h.net", {"profile": "loihi1"})
    text, info = check_graph(g, {"profile": "loihi1"})
    assert info["core_mapping"][0]["cores"] >= 2   # 1100 neurons > 1024 per core
    assert not info["ok"] and "reduce the layer's fan-in" in text


def test_norse_graph_exports(tmp_path):
    norse = pytest.importorskip("norse.torch", reason="norse not installed")
    torch.manual_seed(0)
    model = norse.SequentialState(torch.nn.Linear(10, 8, bias=False), norse.LIFCell(),
                                  torch.nn.Linear(8, 3, bias=False), norse.LIFCell())
    g = norse.to_nir(model, torch.zeros(1, 10), dt=DT)
    # Norse writes tau = dt / tau_mem_inv (i.e. dt * tau): refused with a hint to the dialect
    with pytest.raises(ConfigError, match=r"--dialect norse"):
        export(g, tmp_path / "n.net", {"dt_s": DT})
    from neurodeploy.ir.interop import load_nir

    res = export(load_nir(g, dialect="norse", dt_s=DT), tmp_path / "n.net", {})
    m = json.loads(res.extra_paths[0].read_text())
    assert m["layers"][0]["iDecay"] == round(4096 * DT * 200)  # Norse default tau_syn_inv = 200
    assert m["layers"][0]["vDecay"] == round(4096 * DT * 100)  # tau_mem_inv = 100
    assert LoihiEmulator(res.path).input_shape == (10,)
    # a Linear bias feeds CubaLIF's current filter: only approximable on Loihi → lossy
    biased = norse.SequentialState(torch.nn.Linear(10, 8), norse.LIFCell())
    gb = load_nir(norse.to_nir(biased, torch.zeros(1, 10), dt=DT), dialect="norse", dt_s=DT)
    with pytest.raises(LossyConversionError, match=r"affine bias of '.*' is applied to v"):
        export(gb, tmp_path / "b.net", {})


def test_float_vs_emulator_agree(tmp_path):
    rng = np.random.default_rng(3)
    g = dense_net(rng, "LIF", sizes=(40, 30, 10), gain=3.0)
    res = export(g, tmp_path / "f.net", {})
    x = (rng.random((16, 40, 40)) < 0.2).astype(np.int8)
    labels = rng.integers(0, 10, 16)
    rep = verify_loihi(res.path, g, x, labels, use_lava=False)
    assert rep["latency_steps"] == 2 and rep["emulator_vs_lava"] is None
    for lay in rep["layers"]:
        assert lay["fixed_spikes"] > 100
        assert lay["count_correlation"] > 0.97
        assert abs(lay["fixed_spikes"] - lay["float_spikes"]) < 0.05 * lay["float_spikes"]
    assert set(rep["accuracy"]) == {"float", "emulator"}
