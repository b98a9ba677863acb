"""model.readout (spike count, LI membrane mean/max) and model.init = near-threshold."""

import json

import nir
import numpy as np
import pytest
import torch

from neurodeploy.errors import ConfigError, UnsupportedNodeError
from neurodeploy.ir.from_nir import from_nir
from neurodeploy.ir.to_nir import to_nir
from neurodeploy.neurons import LI, readout_logits
from neurodeploy.sim.float_sim import simulate
from neurodeploy.train.config import load_config
from neurodeploy.train.models import build_model
from neurodeploy.train.near_threshold import in_window, near_threshold_init
from neurodeploy.train.trainer import Trainer, model_from_checkpoint


def _model(readout, **extra):
    sets = [f'model.readout="{readout}"', "model.hidden=[32]"] + [f"{k}={v}" for k, v in extra.items()]
    torch.manual_seed(0)
    return build_model(load_config("configs/digits.toml", sets), (40,), 5).eval()


def _x(b=3, t=12, f=40):
    return (torch.rand(t, b, f, generator=torch.Generator().manual_seed(1)) < 0.2).float()


@pytest.mark.parametrize("readout", ["spike-count", "membrane-mean", "membrane-max"])
def test_readout_round_trips_through_nir_and_the_float_simulator(tmp_path, readout):
    model = _model(readout)
    x = _x()
    out = model(x)
    graph = to_nir(model, (40,), time_steps=12)
    assert graph.metadata["readout"] == readout
    last = [n for k, n in graph.nodes.items() if k not in ("input", "output")][-1]
    assert type(last) is (nir.LIF if readout == "spike-count" else nir.LI)
    nir.write(tmp_path / "g.nir", graph)
    back = nir.read(tmp_path / "g.nir")
    sim = simulate(back, x)
    assert torch.equal(sim.output, out)
    model2, _ = from_nir(back)
    assert model2.readout == readout
    assert torch.equal(readout_logits(model2, sim.output), readout_logits(model, out))


def test_readout_scores():
    out = torch.tensor([[[1.0, 0.0]], [[3.0, 1.0]], [[2.0, 5.0]]])  # (T=3, B=1, C=2)
    m = _model("membrane-mean")
    assert torch.allclose(readout_logits(m, out), torch.tensor([[2.0, 2.0]]))
    m.readout = "membrane-max"
    assert torch.equal(readout_logits(m, out), torch.tensor([[3.0, 5.0]]))
    m.readout = "spike-count"
    assert torch.equal(readout_logits(m, out), torch.tensor([[6.0, 6.0]]))


def test_li_readout_membrane_is_the_leaky_integral():
    li = LI(dt_s=1e-3)  # tau 10 ms: alpha 0.1
    v = li(torch.ones(3, 1, 1))
    assert torch.allclose(v.flatten(), torch.tensor([0.1, 0.19, 0.271]))


def test_targets_without_membrane_readout_refuse_it(tmp_path):
    from neurodeploy.targets.loihi.export import export as loihi_export
    from neurodeploy.targets.onnx.export import export as onnx_export

    graph = to_nir(_model("membrane-mean"), (40,), time_steps=12)
    with pytest.raises(UnsupportedNodeError, match=r"node '\d+_li' \(LI\) is not supported by target onnx: "
                                                   r"a non-spiking membrane readout .* \"spike-count\""):
        onnx_export(graph, tmp_path / "m.onnx", {})
    with pytest.raises(UnsupportedNodeError, match=r"node '\d+_li' \(LI\): no netx mapping for a non-spiking "
                                                   r"membrane readout; .*model.readout = \"spike-count\""):
        loihi_export(graph, tmp_path / "m.net", {})
    from neurodeploy.targets.xylo.export import export as xylo_export

    with pytest.raises(UnsupportedNodeError, match=r"node '\d+_li' \(LI\): a non-spiking membrane readout has "
                                                   r"no Xylo mapping.*model.readout = \"spike-count\""):
        xylo_export(graph, tmp_path / "m.xylo.json", {})
    assert not list(tmp_path.iterdir())


def test_unknown_readout_and_init_are_config_errors():
    with pytest.raises(ConfigError, match=r"\[model\] readout: 'membrane' is not one of spike-count, "
                                          r"membrane-mean, membrane-max"):
        load_config(None, ['model.readout="membrane"'])
    with pytest.raises(ConfigError, match=r"\[model\] init: 'lsuv' is not one of default, near-threshold"):
        load_config(None, ['model.init="lsuv"'])


def test_near_threshold_init_puts_the_target_fraction_in_the_window():
    model = _model("spike-count", **{"model.hidden": "[64, 64]"})
    x = _x(b=16)
    before = in_window(model, x)
    found = near_threshold_init(model, x, target=0.15)
    after = in_window(model, x)
    assert [w.index for w in found] == [w.index for w in before] == [2, 4, 6]
    for f, a, b in zip(found, after, before):
        assert a.in_window == pytest.approx(f.in_window) and a.in_window > b.in_window
    assert after[0].in_window >= 0.15  # reachable here; deeper layers take the best scale when not
    assert any(f.scale != 1.0 for f in found)


def test_training_records_the_init_diagnostic_and_keeps_the_readout(tmp_path, small_data):
    cfg = load_config("configs/digits.toml", ["train.epochs=1", 'model.readout="membrane-max"',
                                              'model.init="near-threshold"', "model.init_in_window=0.2"])
    Trainer(cfg, tmp_path, progress=False, data=small_data).fit()
    row = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert [w["layer"] for w in row["init_in_window"]] == [2]  # the LI readout has no window
    assert row["init_in_window"][0]["in_window"] >= 0.2
    assert len(row["firing_rates"]) == 1
    model = model_from_checkpoint(torch.load(tmp_path / "last.pt", weights_only=False))
    assert model.readout == "membrane-max" and isinstance(model[-1], LI)
    assert np.isfinite(row["train_loss"])


def test_surrogate_window_is_the_half_width_of_its_support():
    from neurodeploy.surrogates import make_surrogate

    assert make_surrogate("fast_sigmoid", width=0.3).window() == pytest.approx(0.3)
    assert make_surrogate("asgl", width=1.0).window() == pytest.approx(0.5)  # α is ASGL's full width
    assert make_surrogate("asy", beta=0.4).window() == pytest.approx(0.4)


def test_inspect_shows_the_in_window_fraction_at_init(trained_run, capsys):
    from neurodeploy.cli import main

    assert main(["inspect", str(trained_run)]) == 0
    out = capsys.readouterr().out
    assert "at init, membranes within the surrogate window |v − v_th| ≤ w: layer 2 " in out


def test_scale_free_search_objective_ignores_gradient_size():
    from neurodeploy.surrogates.gradstats import SGV_OBJECTIVES
    from neurodeploy.train.callbacks.build import schedule_params

    d = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    free, paper = SGV_OBJECTIVES["scale-free"], SGV_OBJECTIVES["sgv"]
    assert free(10 * d) == pytest.approx(free(d))
    assert paper(10 * d) == pytest.approx(10 * paper(d))  # the paper's SGV scales with the gradient
    assert schedule_params("a2sg", {"objective": "scale-free"})["objective"] == "scale-free"
    with pytest.raises(ConfigError, match="objective"):
        schedule_params("a2sg", {"objective": "cv"})


def test_near_threshold_init_keeps_a_layer_already_in_a_wide_window():
    model = _model("spike-count", **{"surrogate.params": "{width=1.5}"})
    x = _x(b=16)
    before = [p.clone() for p in model.parameters()]
    found = near_threshold_init(model, x, target=0.2)
    assert all(f.scale == 1.0 and f.in_window >= 0.2 for f in found)  # |0 − v_th| ≤ 1.5: never shrink to 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_near_threshold_init_with_a_given_width_gives_the_same_weights_for_any_surrogate():
    """model.init_window_width: the window it targets no longer depends on the surrogate, so two
    slopes start from identical weights (and a wide surrogate is not left silent)."""
    x = _x(b=16)
    models = []
    for width in (1.0, 0.1):
        torch.manual_seed(0)
        models.append(_model("spike-count", **{"surrogate.params": f"{{width={width}}}"}))
        found = near_threshold_init(models[-1], x, target=0.2, width=0.1)
        assert all(f.width == pytest.approx(0.1) for f in found)
    assert any(f.scale != 1.0 for f in found)
    assert all(torch.equal(a, b) for a, b in zip(models[0].parameters(), models[1].parameters()))
    assert load_config(None, ["model.init_window_width=0.1"])["model"]["init_window_width"] == 0.1
    with pytest.raises(ConfigError, match="init_window_width"):
        load_config(None, ["model.init_window_width=-1"])
