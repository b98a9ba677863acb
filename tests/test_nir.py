"""Model → NIR: the graph round-trips through a file and reproduces our spikes in our float
simulator and in Norse's independent NIR importer (``norse.torch.from_nir``)."""

import logging

import nir
import numpy as np
import pytest
import torch

from neurodeploy.errors import ConfigError, UnsupportedNodeError
from neurodeploy.ir import from_nir, to_nir
from neurodeploy.sim.float_sim import simulate
from neurodeploy.train.config import load_config
from neurodeploy.train.models import build_model


def _model(*sets, shape=(2, 6, 6), classes=4, seed=0):
    torch.manual_seed(seed)
    cfg = load_config(None, ["model.hidden=[12]", "model.channels=[3]", "model.tau_mem_s=0.003",
                            "model.tau_syn_s=0.002", *sets])
    model = build_model(cfg, shape, classes).eval()
    with torch.no_grad():  # make layers fire a lot
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(4.0)
    return model


def _input(shape=(2, 6, 6), t=12, b=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(t, b, *shape, generator=g) < 0.3).float()


VARIANTS = [
    (),
    ("model.neuron=cuba_lif",),
    ("model.neuron=if",),
    ("model.reset=subtract",),
    ("model.recurrent=true",),
    ("model.bias=true",),
    ("model.kind=conv",),
    ("model.kind=conv", "model.neuron=cuba_lif"),
]


@pytest.mark.parametrize("sets", VARIANTS, ids=lambda s: "-".join(s) or "lif-mlp")
def test_nir_file_round_trip_reproduces_spikes(tmp_path, sets):
    model = _model(*sets)
    x = _input()
    with torch.no_grad():
        ref, outs = model(x, record=True)
    assert ref.sum() > 0
    graph = to_nir(model, (2, 6, 6), time_steps=12)
    path = tmp_path / "m.nir"
    nir.write(str(path), graph)
    back = nir.read(str(path))
    assert back.metadata["dt_s"] == 1e-3 and back.metadata["neurodeploy_format_version"] == 1
    assert back.metadata["reset"] == ("subtract" if "model.reset=subtract" in sets else "zero")
    res = simulate(back, x, record=True)
    assert torch.equal(res.output, ref)
    hidden = [o for o, layer in zip(outs, model) if hasattr(layer, "surrogate")]
    sim_hidden = [v for k, v in res.layers.items() if k.split("_", 1)[1] in ("lif", "cuba_lif", "if")]
    assert all(torch.equal(a, b) for a, b in zip(hidden, sim_hidden))


@pytest.mark.parametrize("sets", [(), ("model.neuron=cuba_lif",), ("model.neuron=if",), ("model.recurrent=true",)],
                         ids=["lif", "cuba_lif", "if", "recurrent"])
def test_norse_from_nir_reproduces_our_spikes(tmp_path, sets, caplog):
    norse = pytest.importorskip("norse.torch")
    model = _model(*sets)
    x = _input()
    with torch.no_grad():
        ref = model(x)
    graph = to_nir(model, (2, 6, 6), time_steps=12)
    nir.write(str(tmp_path / "m.nir"), graph)
    caplog.set_level(logging.ERROR)
    net = norse.from_nir(nir.read(str(tmp_path / "m.nir")), dt=graph.metadata["dt_s"])
    flat = x.reshape(12, 5, -1)  # our MLP graph takes the flattened (C·H·W) input
    state, out = None, []
    with torch.no_grad():
        for t in range(12):
            z, state = net(flat[t], state)
            out.append(z)
    assert torch.equal(torch.stack(out), ref)


def test_reader_needs_dt_and_refuses_unknown_versions():
    graph = to_nir(_model(), (2, 6, 6), time_steps=12)
    graph.metadata = {}
    with pytest.raises(ConfigError, match="no dt .*pass it explicitly with --dt"):
        from_nir(graph)
    model, conv = from_nir(graph, dt_s=1e-3)
    assert conv.dt_s == 1e-3
    graph.metadata = {"neurodeploy_format_version": 99, "dt_s": 1e-3}
    with pytest.raises(ConfigError, match="format version 99 is newer"):
        from_nir(graph)


def test_unsupported_nodes_and_branches_are_named():
    w = torch.ones(2, 2).numpy()
    g = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=[2]), "a": nir.Linear(weight=w),
               "d": nir.I(r=w[0]), "output": nir.Output(output_type=[2])},
        edges=[("input", "a"), ("a", "d"), ("d", "output")], metadata={"dt_s": 1e-3})
    with pytest.raises(UnsupportedNodeError, match="node 'd' \\(I\\) is not supported"):
        from_nir(g)
    g.nodes["d"] = nir.Delay(delay=w[0] * 1.5e-3)   # Delay runs in whole steps only
    with pytest.raises(UnsupportedNodeError, match="node 'd' \\(Delay\\): delay/dt must be whole"):
        from_nir(g)
    g = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=[2]), "a": nir.Linear(weight=w), "b": nir.Linear(weight=w),
               "output": nir.Output(output_type=[2])},
        edges=[("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")], metadata={"dt_s": 1e-3})
    with pytest.raises(UnsupportedNodeError, match=r"node 'input' \(Input\): branch \(inputs \[\], "
                                                   r"outputs \['a', 'b'\]\)"):
        from_nir(g)


def test_every_consumer_walks_graphs_the_same_way(tmp_path):
    """One walker (neurodeploy.ir.graph.chain): a node off the chain, which the simulator used
    to ignore silently, is refused by the simulator and the Loihi exporter alike."""
    from neurodeploy.ir.graph import chain
    from neurodeploy.targets.loihi import TARGET as LOIHI

    model = _model()
    g = to_nir(model, (2, 6, 6), time_steps=4)
    order, rec = chain(g)
    assert order[0] == "input" and order[-1] == "output" and rec == {}
    g.nodes["stray"] = nir.Linear(weight=np.ones((2, 2), dtype=np.float32))
    for consume in (from_nir, lambda graph: LOIHI.export(graph, tmp_path / "x.net", {})):
        with pytest.raises(UnsupportedNodeError, match=r"node 'stray' \(Linear\): not on the chain "
                                                       r"from the Input node; remove it"):
            consume(g)


def test_r_and_w_in_fold_exactly_into_the_weights():
    model = _model("model.neuron=cuba_lif")
    x = _input()
    with torch.no_grad():
        ref = model(x)
    graph = to_nir(model, (2, 6, 6), time_steps=12)
    # scale r by 2 and the preceding weights by 1/2: same dynamics
    graph.nodes["2_cuba_lif"].r = graph.nodes["2_cuba_lif"].r * 2
    graph.nodes["1_linear"].weight = graph.nodes["1_linear"].weight / 2
    assert torch.equal(simulate(graph, x).output, ref)


def test_recurrent_bias_is_kept_exactly():
    import numpy as np

    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3)).astype(np.float32) * 6
    r = rng.normal(size=(4, 4)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32) * 2
    lif = nir.LIF(tau=np.full(4, 0.005, np.float32), r=np.ones(4, np.float32),
                  v_leak=np.zeros(4, np.float32), v_threshold=np.ones(4, np.float32))
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=[3]), "a": nir.Linear(weight=w), "n": lif,
                            "rec": nir.Affine(weight=r, bias=b), "output": nir.Output(output_type=[4])},
                     edges=[("input", "a"), ("a", "n"), ("n", "rec"), ("rec", "n"), ("n", "output")],
                     metadata={"dt_s": 1e-3})
    x = (torch.rand(30, 2, 3, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    alpha, v, z, ref = 0.2, torch.zeros(2, 4), torch.zeros(2, 4), []
    for t in range(30):  # hand-written step of docs/nir-conventions.md
        i = x[t] @ torch.tensor(w).T + z @ torch.tensor(r).T + torch.tensor(b)
        v = v + alpha * (-v + i)
        z = (v > 1).float()
        v = v * (1 - z)
        ref.append(z)
    out = simulate(g, x).output
    assert out.sum() > 10
    assert torch.equal(out, torch.stack(ref))
