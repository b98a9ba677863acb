"""NIR interop: our graphs in Norse/Spyx, Norse/snnTorch graphs in neurodeploy (→ ONNX), errors."""

from __future__ import annotations

import dataclasses
import logging
import os

import nir
import numpy as np
import pytest
import torch

from neurodeploy.errors import ConfigError, UnsupportedNodeError
from neurodeploy.ir import to_nir
from neurodeploy.ir.interop import DIALECTS, load_nir, snntorch_graph
from neurodeploy.sim.against import run_stateful
from neurodeploy.sim.float_sim import simulate
from neurodeploy.targets.onnx.export import export as export_onnx
from neurodeploy.targets.onnx.verify import verify_onnx
from neurodeploy.train.config import validate
from neurodeploy.train.models import build_model

norse_torch = pytest.importorskip("norse.torch", reason="norse is a core dependency")

T, B, DT = 30, 4, 1e-3
BRAILLE = os.path.join(os.path.dirname(norse_torch.__file__), "utils", "test", "braille.nir")


def our_graph(model_cfg: dict, shape, gain=5.0, seed=0) -> nir.NIRGraph:
    torch.manual_seed(seed)
    model = build_model(validate({"model": {"dt_s": DT, **model_cfg}}), shape, 4)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(gain)
    return to_nir(model, shape, time_steps=T)


def spikes_in(shape, seed=1, rate=0.3):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, *shape, generator=g) < rate).float()


# ------------------------------------------------------------ our graphs in other readers
@pytest.mark.parametrize("cfg", [
    {"kind": "mlp", "hidden": [16], "neuron": "lif", "tau_mem_s": 0.004, "bias": True},
    {"kind": "mlp", "hidden": [16], "neuron": "cuba_lif", "tau_mem_s": 0.004, "tau_syn_s": 0.003},
    {"kind": "mlp", "hidden": [16], "neuron": "cuba_lif", "tau_mem_s": 0.004, "tau_syn_s": 0.003,
     "recurrent": True},
], ids=["lif", "cuba_lif", "cuba_lif_recurrent"])
def test_our_graph_in_norse_same_spikes(cfg):
    """Norse's reader uses the same forward-Euler order; only float rounding differs (its
    v + dt·τ⁻¹(x − v) vs our (1−α)v + αx), so spikes must agree exactly on these seeds."""
    shape = (20,)
    graph = our_graph(cfg, shape)
    x = spikes_in(shape)
    ours = simulate(graph, x).output
    logging.getLogger().setLevel(logging.ERROR)
    net = norse_torch.from_nir(graph, dt=DT)
    theirs = run_stateful(net, x)
    assert ours.sum() > 0
    assert int((theirs != ours).sum()) == 0


def test_our_graph_in_spyx_same_spikes_delayed():
    """Spyx 1.0 emits spikes from the previous step's membrane (one step of latency per layer),
    resets by subtraction after the decay and ignores r. For IF (dt·r = 1), subtract reset and no
    bias that is the same network delayed by one step per spiking layer: compare exactly after
    the shift; stated tolerance 0.5 % of elements for float32 summation order (XLA vs torch)."""
    pytest.importorskip("flax", reason="spyx 1.0 (flax nnx, Python ≥ 3.11) not installed")
    spyx_nir = pytest.importorskip("spyx.nir", reason="spyx 1.0 (JAX, Python ≥ 3.11) not installed")
    import jax.numpy as jnp

    shape = (20,)
    graph = our_graph({"kind": "mlp", "hidden": [16], "neuron": "if", "reset": "subtract"}, shape, gain=1.5)
    x = spikes_in(shape)
    ours = simulate(graph, x).output.numpy()
    _, out = spyx_nir.from_nir(graph, jnp.asarray(x.numpy()), dt=DT)
    theirs = np.asarray(out)
    layers = sum(isinstance(n, nir.IF) for n in graph.nodes.values())
    assert ours.sum() > 0
    assert not theirs[:layers].any()
    mismatches = int((theirs[layers:] != ours[:-layers]).sum())
    assert mismatches <= 0.005 * ours[:-layers].size, mismatches


# ------------------------------------------------------------ Norse-written graphs
def norse_net(kind: str):
    torch.manual_seed(0)
    box = lambda: norse_torch.LIFBoxCell(norse_torch.LIFBoxParameters(tau_mem_inv=torch.tensor(250.)))  # noqa: E731
    if kind == "mlp":
        layers = [torch.nn.Linear(12, 16), box(), torch.nn.Linear(16, 10),
                  norse_torch.LIFCell(), torch.nn.Linear(10, 4), norse_torch.IAFCell()]
        shape = (12,)
    else:
        layers = [torch.nn.Conv2d(2, 4, 3, stride=2, padding=1), box(), torch.nn.Flatten(),
                  torch.nn.Linear(64, 5), box()]
        shape = (2, 8, 8)
    net = norse_torch.SequentialState(*layers)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(6.0)
    return net, shape


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_norse_written_graph_to_neurodeploy_and_onnx(tmp_path, kind):
    net, shape = norse_net(kind)
    x = spikes_in(shape, rate=0.4)
    reference = run_stateful(net, x)
    raw = norse_torch.to_nir(net, torch.zeros(1, *shape), dt=DT)
    graph = load_nir(raw, "norse", dt_s=DT)
    assert graph.metadata["dt_s"] == DT and graph.metadata["source_dialect"] == "norse"
    ours = simulate(graph, x).output
    assert reference.sum() > 0
    assert int((ours != reference).sum()) == 0
    # without the tau fix τ = dt·τ < dt: refused by every dialect's τ ≥ dt check
    with pytest.raises(ConfigError, match=r"tau = 4e-06 s < dt = 0.001 s \(the per-step decay"):
        load_nir(raw, "neurodeploy", dt_s=DT, input_shape=shape)
    path = export_onnx(graph, tmp_path / "norse.onnx", {}).path
    for init in ("zero", "random"):
        assert verify_onnx(path, graph, x, init)["passed"]


def test_norse_dialect_needs_dt():
    net, shape = norse_net("mlp")
    raw = norse_torch.to_nir(net, torch.zeros(1, *shape))
    with pytest.raises(ConfigError, match=r"dialect 'norse': the NIR graph has no dt \(metadata 'dt_s'\); pass it "
                                          r"explicitly with --dt \(dt_s=, seconds per step; the dt given to norse.torch.to_nir"):
        load_nir(raw, "norse")


def test_braille_file_matches_norse_and_exports(tmp_path):
    """The real NIR-paper file shipped with Norse (recurrent CubaLIF, recurrent Affine bias)."""
    dt = 1e-4
    graph = load_nir(BRAILLE, dt_s=dt)
    assert isinstance(graph.nodes["1_rec"], nir.Linear)  # recurrent bias moved to 0_linear
    x = spikes_in((12,), rate=0.3)
    logging.getLogger().setLevel(logging.ERROR)
    theirs = run_stateful(norse_torch.from_nir(nir.read(BRAILLE), dt=dt), x)
    ours = simulate(graph, x).output
    assert theirs.sum() > 0
    assert int((ours != theirs).sum()) <= 0.005 * ours.numel()
    path = export_onnx(graph, tmp_path / "braille.onnx", {}).path
    assert verify_onnx(path, graph, x, "random")["passed"]


# ------------------------------------------------------------ snnTorch-written graphs
def snn_net(recurrent=False):
    snn = pytest.importorskip("snntorch", reason="snntorch 1.0 not installed (test-peers extra, core environment)")
    torch.manual_seed(0)
    hidden = (snn.RLeaky(beta=0.8, linear_features=16, init_hidden=True, reset_mechanism="zero")
              if recurrent else snn.Leaky(beta=0.8, init_hidden=True, reset_mechanism="zero"))
    net = torch.nn.Sequential(torch.nn.Linear(12, 16), hidden, torch.nn.Linear(16, 4),
                              snn.Leaky(beta=0.9, init_hidden=True, output=True, reset_mechanism="zero"))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
    return snn, net


def snn_run(snn, net, x):
    import snntorch.utils

    snntorch.utils.reset(net)
    with torch.no_grad():
        return torch.stack([net(x[t])[0] for t in range(x.shape[0])])


def test_snntorch_export_fails_type_check_and_we_repair(tmp_path):
    snn, net = snn_net()
    from snntorch.export_nir import export_to_nir

    with pytest.raises(ValueError, match="type mismatch"):
        export_to_nir(net, torch.zeros(1, 12))
    raw = snntorch_graph(net, torch.zeros(1, 12))
    with pytest.raises(TypeError, match="Scalar datasets"):  # nor can nir.write store it
        nir.write(tmp_path / "snn.nir", raw)
    with pytest.raises(ConfigError, match=r"dialect 'snntorch': the writer does not record the reset "
                                          r"mechanism; pass reset='zero' or reset='subtract'"):
        load_nir(raw, "snntorch")
    graph = load_nir(raw, "snntorch", reset="zero")
    nir.write(tmp_path / "fixed.nir", graph)  # the normalised graph is a valid NIR file
    assert nir.read(tmp_path / "fixed.nir").metadata["source_dialect"] == "snntorch"
    assert graph.metadata["dt_s"] == 1e-4
    assert np.asarray(graph.nodes["1_lif"].tau).shape == (16,)  # scalars broadcast to the layer
    x = spikes_in((12,), rate=0.4)
    theirs = snn_run(snn, net, x)
    ours = simulate(graph, x).output
    assert theirs.sum() > 0
    # exact up to float32 rounding of r = 1/(1−β) folded into the weights
    assert int((ours != theirs).sum()) <= 0.005 * ours.numel()


def test_snntorch_recurrent_nested_graph_is_flattened():
    """RLeaky is written as a nested graph; it is inlined and its recurrent bias moved to the
    feed-forward bias, r = 1/(1−β) folded into both. Spikes are not compared: snnTorch's RLeaky
    "zero" reset also discards the input of the step after a spike (f − reset·f), which no NIR
    neuron expresses (docs/interop.md)."""
    snn, net = snn_net(recurrent=True)
    raw = snntorch_graph(net, torch.zeros(1, 12))
    with pytest.raises(ConfigError, match=r"node '1.lif' \(Synaptic/RSynaptic/RLeaky\) with zero reset and "
                                          r"reset_delay=True \(snnTorch's default\) also discards the input"):
        load_nir(raw, "snntorch", reset="zero")
    graph = load_nir(raw, "snntorch", reset="zero", reset_delay=False)
    same = load_nir(raw, "snntorch-no-reset-delay", reset="zero")   # the CLI's spelling
    np.testing.assert_array_equal(same.nodes["1_rec"].weight, graph.nodes["1_rec"].weight)
    assert "1_rec" in graph.nodes and not any(isinstance(n, nir.NIRGraph) for n in graph.nodes.values())
    r = 1 / (1 - 0.8)
    rec, ff = net[1].recurrent, net[0]
    np.testing.assert_allclose(graph.nodes["1_rec"].weight, rec.weight.detach().numpy() * r, rtol=1e-5)
    np.testing.assert_allclose(graph.nodes["0_linear"].bias,
                               (ff.bias + rec.bias).detach().numpy() * r, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------ options and errors
def test_input_scale_and_flatten_indexing():
    graph = our_graph({"kind": "conv", "channels": [3], "neuron": "lif", "tau_mem_s": 0.004}, (2, 6, 6))
    x = spikes_in((2, 6, 6))
    scaled = load_nir(graph, input_scale=0.5)
    assert scaled.metadata["input_scale"] == 0.5
    np.testing.assert_array_equal(simulate(scaled, x).output, simulate(graph, x * 0.5).output)
    assert graph.nodes["2_flatten"].start_dim == 0
    norse_style = nir.NIRGraph(nodes={**graph.nodes, "2_flatten": nir.Flatten(
        input_type={"input": np.array([3, 3, 3])}, start_dim=1, end_dim=-1)}, edges=graph.edges,
        metadata=graph.metadata, type_check=False)
    fixed = load_nir(norse_style, flatten_indexing="batch")
    np.testing.assert_array_equal(simulate(fixed, x).output, simulate(graph, x).output)
    with pytest.raises(ConfigError, match=r"check input_shape= and flatten_indexing= \(now 'per-sample'\)"):
        load_nir(norse_style)
    with pytest.raises(UnsupportedNodeError, match=r"node '2_flatten': Flatten start_dim=0 with "
                                                   r"flatten_indexing='batch'"):
        load_nir(graph, flatten_indexing="batch")


def test_errors_name_node_and_option():
    with pytest.raises(ConfigError, match="unknown NIR dialect 'snntroch'; known: neurodeploy, norse, snntorch, snntorch-no-reset-delay"):
        load_nir(BRAILLE, "snntroch")
    with pytest.raises(ConfigError, match="dialect 'neurodeploy': the NIR graph has no dt .*pass it explicitly with --dt \\(dt_s="):
        load_nir(BRAILLE)
    with pytest.raises(ConfigError, match="flatten_indexing must be one of"):
        load_nir(BRAILLE, dt_s=1e-4, flatten_indexing="torch")
    li = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([3])), "fc": nir.Affine(np.ones((2, 3)), np.zeros(2)),
               "leaky": nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2)),
               "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "fc"), ("fc", "leaky"), ("leaky", "output")])
    li_mid = nir.NIRGraph(
        nodes={**li.nodes, "fc2": nir.Affine(np.ones((2, 2)), np.zeros(2)), "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "fc"), ("fc", "leaky"), ("leaky", "fc2"), ("fc2", "output")])
    with pytest.raises(UnsupportedNodeError, match=r"node 'leaky': a non-spiking LI/CubaLI node is supported "
                                                   r"only as the last layer \(the readout\)"):
        load_nir(li_mid, dt_s=DT)
    empty = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([3])), "x": None,
                                "output": nir.Output(output_type=np.array([3]))},
                         edges=[("input", "x"), ("x", "output")], type_check=False)
    with pytest.raises(UnsupportedNodeError, match=r"node 'x' is empty \(the norse writer had no NIR mapping"):
        load_nir(empty, "norse", dt_s=DT)
    assert set(DIALECTS) == {"neurodeploy", "norse", "snntorch", "snntorch-no-reset-delay", "sinabs",
                             "rockpool", "spyx", "spyx-0.1"}


def test_coverage_doc_is_current():
    from pathlib import Path

    from neurodeploy.targets.coverage import coverage, coverage_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "coverage.md"
    assert doc.read_text(encoding="utf-8") == coverage_markdown(), \
        "docs/coverage.md is stale: run `python -m neurodeploy.targets.coverage`"
    assert coverage()["onnx"]["CubaLIF"] and not coverage()["onnx"]["LI"]


# ------------------------------------------------------------ dialect semantics (issue 13)
def _lif_graph(tau, n_in=6, n=4, v_leak=0.0, weight=None, r=None):
    w = np.asarray(weight if weight is not None else np.linspace(-1, 2, n * n_in).reshape(n, n_in))
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([1, w.shape[1]])}),
        "fc": nir.Affine(w, np.zeros(w.shape[0])),
        "lif": nir.LIF(tau=np.full(w.shape[0], tau), r=np.ones(w.shape[0]) if r is None else np.full(w.shape[0], r),
                       v_leak=np.full(w.shape[0], v_leak), v_threshold=np.ones(w.shape[0])),
        "output": nir.Output(output_type={"output": np.array([1, w.shape[0]])})},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)


def test_braille_with_norse_dialect_reads_seconds_not_dt_scaled():
    """braille.nir was written for Norse's reader, not by to_nir: τ ≥ dt must not be divided by dt
    (that gave 0 spikes against Norse's 2139)."""
    with pytest.warns(UserWarning, match=r"every τ ≥ dt = 0.0001 s, so this graph was not written by "
                                         r"norse.torch.to_nir"):
        graph = load_nir(BRAILLE, "norse", dt_s=1e-4)
    plain = load_nir(BRAILLE, dt_s=1e-4)
    x = spikes_in((12,), rate=0.3)
    ours = simulate(graph, x).output
    assert ours.sum() > 0
    np.testing.assert_array_equal(ours, simulate(plain, x).output)


def test_norse_tau_rule_refuses_mixed_and_too_small():
    g = _lif_graph(4e-6)
    g.nodes["lif"] = dataclasses.replace(g.nodes["lif"], tau=np.array([4e-6, 4e-6, 0.02, 0.02]))
    with pytest.raises(ConfigError, match=r"dialect 'norse': lif.tau < dt = 0.001 s but lif.tau ≥ dt"):
        load_nir(g, "norse", dt_s=1e-3)
    with pytest.raises(ConfigError, match=r"gives τ = stored/dt < dt = 0.001 s"):
        load_nir(_lif_graph(1e-7), "norse", dt_s=1e-3)


def test_norse_initial_v_leak_is_shifted_exactly():
    """Norse starts v at v_leak: read as v_leak = 0, θ − v_leak, v_reset − v_leak."""
    graph = load_nir(_lif_graph(4e-6, v_leak=0.3), "norse", dt_s=1e-3)
    node = graph.nodes["1_lif"]
    np.testing.assert_allclose(node.v_leak, 0)
    np.testing.assert_allclose(node.v_threshold, 0.7)
    np.testing.assert_allclose(node.v_reset, -0.3)


def test_tau_below_dt_refused_in_every_dialect():
    with pytest.raises(ConfigError, match=r"node 'lif': tau = 0.0005 s < dt = 0.001 s \(the per-step decay "
                                          r"1 − dt/τ would be negative\); check dt_s"):
        load_nir(_lif_graph(5e-4), "neurodeploy", dt_s=1e-3, input_shape=(6,))
    with pytest.raises(ConfigError, match=r"tau = 0.0005 s < dt = 0.001 s"):
        load_nir(_lif_graph(5e-4), "spyx", dt_s=1e-3)


def test_reset_delay_is_snntorch_only_and_rockpool_dt_checked():
    with pytest.raises(ConfigError, match=r"reset_delay is an snnTorch option; dialect 'norse' does not take it"):
        load_nir(_lif_graph(4e-6), "norse", dt_s=1e-3, reset_delay=False)
    dt, tau = 1e-3, 0.02
    rock = _lif_graph(tau, r=tau * np.exp(-dt / tau) / dt)   # what Rockpool's to_nir writes
    with pytest.warns(UserWarning, match=r"emit up to floor\(v/θ\) spikes per step"):
        graph = load_nir(rock, "rockpool")
    assert graph.metadata["dt_s"] == pytest.approx(dt, rel=1e-9)
    np.testing.assert_allclose(graph.nodes["1_lif"].tau, dt / -np.expm1(-dt / tau))
    with pytest.raises(ConfigError, match=r"dialect 'rockpool': dt_s=0.002 but the graph's r values imply "
                                          r"dt = 0.001 s"):
        load_nir(rock, "rockpool", dt_s=2e-3)


def test_spyx_0_1_transposes_square_weights():
    """Spyx 0.1.20 stores Linear weights as (in, out): a square layer cannot be told by shape."""
    w = np.arange(16.0).reshape(4, 4) / 10
    beta, dt = 0.8, 1e-3
    old = _lif_graph(dt / (1 - beta), weight=w.T, r=beta)
    new = _lif_graph(dt / (1 - beta), weight=w, r=beta)
    with pytest.warns(UserWarning, match="Spyx emits a layer's spikes one step after"):
        a = load_nir(old, "spyx-0.1", dt_s=dt)
        b = load_nir(new, "spyx", dt_s=dt)
    np.testing.assert_allclose(a.nodes["0_linear"].weight, b.nodes["0_linear"].weight)
    # r = β is ignored (v ← βv + x): folded as τ/dt = 1/(1 − β)
    np.testing.assert_allclose(b.nodes["0_linear"].weight, w / (1 - beta), rtol=1e-6)
    with pytest.raises(ConfigError, match=r"the dt given to spyx.nir.to_nir; its default is 1"):
        load_nir(new, "spyx")


def test_verify_against_norse_cli(tmp_path):
    """verify --against runs the writer's own reader on the source file and reports agreement next
    to ours (Norse's reader disagrees with its own to_nir files: the dt·τ bug)."""
    import json

    from click.testing import CliRunner

    from neurodeploy.cli import cli
    from neurodeploy.pipeline import eval_samples

    x, _ = eval_samples(None, None, None, 2)
    n = int(x[0, 0].numel())
    torch.manual_seed(0)
    full = lambda k, v: torch.full((k,), float(v))  # noqa: E731
    box = lambda k: norse_torch.LIFBoxCell(norse_torch.LIFBoxParameters(  # noqa: E731
        tau_mem_inv=full(k, 250.), v_leak=full(k, 0.), v_th=full(k, 1.)))
    net = norse_torch.SequentialState(torch.nn.Linear(n, 16), box(16), torch.nn.Linear(16, 4), box(4))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(4)
    src = tmp_path / "src.nir"
    nir.write(src, norse_torch.to_nir(net, torch.zeros(1, n), dt=1e-3))
    opts = ["--dialect", "norse", "--dt", "1e-3"]
    run = CliRunner().invoke(cli, ["export", str(src), "--target", "onnx", "-o", str(tmp_path / "m.onnx"), *opts])
    assert run.exit_code == 0, run.output
    out = tmp_path / "v.json"
    run = CliRunner().invoke(cli, ["verify", str(tmp_path / "m.onnx"), "--source", str(src), *opts,
                                   "--against", "norse", "-n", "4", "--json-out", str(out)])
    assert run.exit_code == 0, run.output
    assert "norse 1.1.0 (norse.torch.from_nir(graph, dt)) vs our float model: DIFFER" in run.output
    rep = json.loads(out.read_text())["against"]
    assert rep["writer_spikes"] > rep["ours_spikes"] and not rep["agree"]
    run = CliRunner().invoke(cli, ["verify", str(tmp_path / "m.onnx"), *opts, "--against", "norse", "-n", "2"])
    assert run.exit_code != 0 and "--against needs --source FILE.nir" in str(run.exception)


def test_against_spyx_agrees():
    pytest.importorskip("flax", reason="spyx 1.0 (flax nnx, Python ≥ 3.11) not installed")
    pytest.importorskip("spyx.nir", reason="spyx 1.0 (JAX, Python ≥ 3.11) not installed")
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from conformance_cells import CELLS

    from neurodeploy.sim.against import against

    cell = next(c for c in CELLS if c.writer == "spyx" and c.kind == "CubaLIF")
    raw, x, _, opts = cell.build()
    with pytest.warns(UserWarning):
        graph = load_nir(raw, **opts)
    rep = against("spyx", raw, graph, x)
    assert rep["agree"] and rep["shift_steps"] == 2 and rep["ours_spikes"] > 0


@pytest.mark.slow
def test_against_spyx01_reports_its_reader_failing():
    """--against spyx-0.1 runs Spyx 0.1.20's own from_nir: it crashes on its own Linear → LIF files
    (w_in unset), which is reported as one ConfigError naming the cause; under Spyx 1.0 it points
    to --against spyx."""
    pytest.importorskip("spyx.nir", reason="spyx not installed")
    import importlib.metadata as md
    import sys

    from neurodeploy.errors import ConfigError
    from neurodeploy.sim.against import WRITERS, against

    if not md.version("spyx").startswith("0.1"):
        with pytest.raises(ConfigError, match="use --against spyx"):
            WRITERS["spyx-0.1"].run(None, None, 1e-3)
        return
    sys.path.insert(0, os.path.dirname(__file__))
    from conformance_cells import CELLS

    cell = next(c for c in CELLS if c.writer == "spyx-0.1" and c.kind == "LIF")
    raw, x, _, opts = cell.build()
    with pytest.warns(UserWarning):
        graph = load_nir(raw, **opts)
    with pytest.raises(ConfigError, match=r"Spyx 0\.1\.20's own from_nir fails .*UnboundLocalError"):
        against("spyx-0.1", raw, graph, x)
