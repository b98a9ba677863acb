"""ONNX target: exact spikes vs the float model (zero and non-zero state), forms, metadata, errors."""

from __future__ import annotations

import os

import nir
import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from neurodeploy.errors import ConfigError, DataError, UnsupportedNodeError
from neurodeploy.ir import to_nir
from neurodeploy.targets.base import get_target
from neurodeploy.targets.onnx import TARGET
from neurodeploy.targets.onnx.export import build_onnx, export, onnx_metadata
from neurodeploy.targets.onnx.verify import verify_onnx
from neurodeploy.train.config import validate
from neurodeploy.train.models import build_model

T, B = 12, 3
MODELS = {
    # name: (model config, input shape per step)
    "mlp_lif": ({"kind": "mlp", "hidden": [24], "neuron": "lif", "bias": True, "tau_mem_s": 0.002}, (2, 5, 5)),
    "mlp_cuba_recurrent": ({"kind": "mlp", "hidden": [20, 12], "neuron": "cuba_lif", "recurrent": True,
                            "tau_syn_s": 0.002, "tau_mem_s": 0.002}, (30,)),
    "conv_lif": ({"kind": "conv", "channels": [4, 6], "neuron": "lif", "bias": True, "tau_mem_s": 0.002}, (2, 8, 8)),
    "mlp_if_subtract": ({"kind": "mlp", "hidden": [16], "neuron": "if", "reset": "subtract",
                         "v_th": 0.8}, (25,)),
}


def make_graph(name: str, gain: float = 5.0, seed: int = 0) -> tuple[nir.NIRGraph, tuple[int, ...]]:
    """A built (untrained) model with weights × ``gain`` so that every layer spikes."""
    torch.manual_seed(seed)
    model_cfg, shape = MODELS[name]
    model = build_model(validate({"model": model_cfg}), shape, 5)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(gain)
    return to_nir(model, shape, time_steps=T), shape


def spikes_in(shape, seed=1, rate=0.3):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, *shape, generator=g) < rate).float()


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("initial_state", ["zero", "random"])
def test_step_model_spikes_equal_torch(tmp_path, name, initial_state):
    graph, shape = make_graph(name)
    res = export(graph, tmp_path / "m.onnx", {})
    onnx.checker.check_model(onnx.load(str(res.path)), full_check=True)
    report = verify_onnx(res.path, graph, spikes_in(shape), initial_state, seed=3)
    assert report["passed"], report
    assert report["outputs"]["y"]["spikes"] > 0, "test model too quiet to check spikes"
    assert all(v == 0 for v in report["mismatches"].values())
    if initial_state == "zero":  # the step reference equals the multi-step model
        assert report["sequence_mismatches"] == 0


def test_given_initial_state_dict(tmp_path):
    graph, shape = make_graph("mlp_cuba_recurrent")
    path = export(graph, tmp_path / "m.onnx", {}).path
    specs = onnx_metadata(path)["state"]
    assert [s["input"] for s in specs] == ["2_cuba_lif.v", "2_cuba_lif.i", "2_cuba_lif.z",
                                          "4_cuba_lif.v", "4_cuba_lif.i", "4_cuba_lif.z",
                                          "6_cuba_lif.v", "6_cuba_lif.i"]
    rng = np.random.default_rng(0)
    state = {s["input"]: (rng.random((B, *s["shape"])) < 0.5).astype(np.float32) for s in specs}
    assert verify_onnx(path, graph, spikes_in(shape), state)["passed"]
    with pytest.raises(ConfigError, match=r"initial_state dict: missing \['6_cuba_lif.i'\]"):
        verify_onnx(path, graph, spikes_in(shape), {k: v for k, v in state.items() if k != "6_cuba_lif.i"})
    bad = {**state, "2_cuba_lif.v": np.zeros((B, 3), np.float32)}
    with pytest.raises(ConfigError, match=r"initial_state\['2_cuba_lif.v'\] has shape \(3, 3\), expected \(3, 20\)"):
        verify_onnx(path, graph, spikes_in(shape), bad)


@pytest.mark.parametrize("name", ["mlp_cuba_recurrent", "conv_lif"])
def test_unrolled_model(tmp_path, name):
    graph, shape = make_graph(name)
    x = spikes_in(shape)
    plain = export(graph, tmp_path / "u.onnx", {"unroll": T}).path
    meta = onnx_metadata(plain)
    assert meta["form"] == "unrolled" and meta["unroll"] == str(T) and meta["state_inputs"] == "false"
    m = onnx.load(str(plain))
    assert [i.name for i in m.graph.input] == ["x"]
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_value == T
    assert verify_onnx(plain, graph, x, "zero")["passed"]
    with pytest.raises(ConfigError, match="no state inputs .* only initial_state='zero'"):
        verify_onnx(plain, graph, x, "random")
    with pytest.raises(DataError, match=f"unrolled over T = {T} steps, x has T = 5"):
        verify_onnx(plain, graph, x[:5])
    stateful = export(graph, tmp_path / "s.onnx", {"unroll": T, "state_inputs": True}).path
    assert verify_onnx(stateful, graph, x, "random", seed=5)["passed"]


def test_metadata_and_io_names(tmp_path):
    graph, _ = make_graph("mlp_cuba_recurrent")
    path = export(graph, tmp_path / "m.onnx", {}).path
    m = onnx.load(str(path))
    meta = onnx_metadata(m)
    assert meta["dt_s"] == "0.001" and meta["reset"] == "zero" and meta["time_steps"] == str(T)
    assert meta["neurodeploy_version"] and meta["neurodeploy_onnx_format_version"] == "1"
    assert "v' > v_th (strict)" in meta["threshold_convention"]
    assert "binary" in meta["spike_convention"] and meta["spike_amplitude"] == "1.0"
    assert meta["input_shape"] == [30] and meta["output_shape"] == [5]
    assert [i.name for i in m.graph.input][:3] == ["x", "2_cuba_lif.v", "2_cuba_lif.i"]
    assert [o.name for o in m.graph.output][:3] == ["y", "2_cuba_lif.v_next", "2_cuba_lif.i_next"]
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert m.opset_import[0].version == 17 and m.ir_version == 8


def test_golden_op_sequence():
    """Writer golden: one LIF layer, exactly the documented step in neuron_step's order."""
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([3])),
               "0_affine": nir.Affine(weight=np.eye(2, 3, dtype=np.float32), bias=np.ones(2, np.float32)),
               "1_lif": nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)),
               "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "0_affine"), ("0_affine", "1_lif"), ("1_lif", "output")],
        metadata={"dt_s": 1e-3, "reset": "zero"})
    m = build_onnx(graph)
    assert [n.op_type for n in m.graph.node] == [
        "MatMul", "Add",                     # affine
        "Mul", "Mul", "Add",                 # v' = decay_v·v + gain_v·x (v_leak = 0 skipped)
        "Greater", "Cast",                   # z = v' > v_th
        "Sub", "Mul", "Sub",                 # v = v' − z (v' − v_reset)
        "Identity", "Identity"]              # y, 1_lif.v_next
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    assert inits["1_lif.decay_v"].dtype == np.float32
    np.testing.assert_array_equal(inits["1_lif.decay_v"], np.float32(1) - np.float32(0.1))


def test_deterministic_atomic_and_check_only(tmp_path):
    graph, _ = make_graph("conv_lif")
    a = export(graph, tmp_path / "a.onnx", {}).path.read_bytes()
    b = export(graph, tmp_path / "b.onnx", {}).path.read_bytes()
    assert a == b
    export(graph, tmp_path / "a.onnx", {})  # overwrite in place
    assert sorted(os.listdir(tmp_path)) == ["a.onnx", "b.onnx"]  # no temp files left
    res = export(graph, tmp_path / "c.onnx", {"check_only": True})
    assert not (tmp_path / "c.onnx").exists() and res.summary["form"] == "step"


def test_registry_and_options(tmp_path):
    assert get_target("onnx") is TARGET and TARGET.suffix == ".onnx"
    assert nir.LIF in TARGET.supported_nodes and nir.CubaLIF in TARGET.supported_nodes
    graph, _ = make_graph("mlp_lif")
    with pytest.raises(ConfigError, match="target onnx: unknown option 'unrol'; allowed: dt_s, reset"):
        export(graph, tmp_path / "m.onnx", {"unrol": 4})
    with pytest.raises(ConfigError, match="option 'unroll' must be a positive integer"):
        export(graph, tmp_path / "m.onnx", {"unroll": 0})
    with pytest.raises(ConfigError, match="state_inputs=False needs unroll=T"):
        export(graph, tmp_path / "m.onnx", {"state_inputs": False})
    res = export(graph, tmp_path / "m.onnx", {"dt_s": 2e-3, "reset": "subtract"})
    meta = onnx_metadata(res.path)
    assert (meta["dt_s"], meta["reset"]) == ("0.002", "subtract")


def test_tampered_model_fails_verification(tmp_path):
    graph, shape = make_graph("mlp_lif")
    path = export(graph, tmp_path / "m.onnx", {}).path
    m = onnx.load(str(path))
    for init in m.graph.initializer:
        if init.name == "2_lif.v_th":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(0.7), init.name))
    onnx.save(m, str(tmp_path / "bad.onnx"))
    report = verify_onnx(tmp_path / "bad.onnx", graph, spikes_in(shape))
    assert not report["passed"] and report["mismatches"]["y"] > 0


def test_errors_name_node_and_option(tmp_path):
    graph, shape = make_graph("mlp_lif")
    no_dt = nir.NIRGraph(nodes=graph.nodes, edges=graph.edges, metadata={})
    with pytest.raises(ConfigError, match=r"NIR graph has no dt .* pass it explicitly with --dt"):
        export(no_dt, tmp_path / "m.onnx", {})
    assert export(no_dt, tmp_path / "m.onnx", {"dt_s": 1e-3}).path.exists()
    li = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([3])), "0_affine": nir.Affine(np.ones((2, 3)), np.zeros(2)),
               "1_li": nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2)),
               "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "0_affine"), ("0_affine", "1_li"), ("1_li", "output")], metadata={"dt_s": 1e-3})
    with pytest.raises(UnsupportedNodeError, match=r"node '1_li' \(LI\) is not supported"):
        export(li, tmp_path / "li.onnx", {})
    path = export(graph, tmp_path / "m.onnx", {}).path
    with pytest.raises(DataError, match=r"per step does not fit the graph's Input"):
        verify_onnx(path, graph, torch.zeros(T, B, 7))
    m = onnx.load(str(path))
    del m.metadata_props[:]
    onnx.save(m, str(tmp_path / "foreign.onnx"))
    with pytest.raises(ConfigError, match="not a neurodeploy ONNX file of format version 1"):
        verify_onnx(tmp_path / "foreign.onnx", graph, spikes_in(shape))
