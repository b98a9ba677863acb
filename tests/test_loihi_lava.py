"""Lava in the loop: the emulator's spikes equal Lava's, every layer, every step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("lava.lib.dl.netx",
                    reason="lava-dl is not installed (Python 3.10 env with neurodeploy[loihi])")

from test_loihi_export import conv_net, dense_net, spikes  # noqa: E402, I001

from neurodeploy.targets.loihi.export import export  # noqa: E402
from neurodeploy.targets.loihi.lava_runner import run_lava  # noqa: E402
from neurodeploy.targets.loihi.emulator import LoihiEmulator  # noqa: E402
from neurodeploy.targets.loihi.verify import verify_loihi  # noqa: E402

pytestmark = pytest.mark.lava


def _assert_equal_every_layer(path, x):
    emu = LoihiEmulator(path).run(x, record=True)
    lava = run_lava(path, x, record=True)
    assert len(emu.layers) == len(lava.layers)
    for j, (a, b) in enumerate(zip(emu.layers, lava.layers)):
        assert a.shape == b.shape, j
        assert torch.equal(a, b), f"layer {j}: {int((a != b).sum())} differing spikes"
    assert torch.equal(emu.output_spikes, lava.output_spikes)
    assert sum(int(a.sum()) for a in emu.layers) > 0        # not a vacuous comparison
    return emu


def test_dense_random_equal(tmp_path):
    rng = np.random.default_rng(10)
    path = export(dense_net(rng, "LIF", sizes=(24, 20, 8), bias=True),
                  tmp_path / "d.net", {}).path
    emu = _assert_equal_every_layer(path, spikes(rng, (20, 2, 24)))
    assert int(emu.layers[-1].sum()) > 0


def test_conv_flatten_dense_equal(tmp_path):
    rng = np.random.default_rng(11)
    path = export(conv_net(rng), tmp_path / "c.net", {}).path
    _assert_equal_every_layer(path, spikes(rng, (16, 2, 2, 8, 8), p=0.4))


def test_recurrent_equal_via_verify(tmp_path):
    rng = np.random.default_rng(12)
    g = dense_net(rng, sizes=(16, 12, 4), recurrent=True)
    path = export(g, tmp_path / "r.net", {}).path
    x = (rng.random((2, 16, 16)) < 0.3).astype(np.int8)
    rep = verify_loihi(path, g, x, labels=[0, 1], use_lava=True, strict=True)
    assert rep["emulator_vs_lava"]["exact"]
    assert rep["emulator_vs_lava"]["agreement_per_layer"] == [1.0, 1.0]
    assert set(rep["accuracy"]) == {"float", "emulator", "lava"}


from test_loihi_export import CASES  # noqa: E402


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_node_kind_runs_in_lava_like_the_emulator(case, tmp_path):
    rng = np.random.default_rng(0)
    path = export(CASES[case](rng), tmp_path / "n.net", {}).path
    shape = LoihiEmulator(path).input_shape
    _assert_equal_every_layer(path, spikes(rng, (10, 1, *shape), p=0.4))


def test_norse_written_graph_runs_in_lava(tmp_path):
    norse = pytest.importorskip("norse.torch", reason="norse not installed")
    from neurodeploy.ir.interop import load_nir

    torch.manual_seed(0)
    model = norse.SequentialState(torch.nn.Linear(10, 8, bias=False), norse.LIFCell(),
                                  torch.nn.Linear(8, 3, bias=False), norse.LIFCell())
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(8.0)
    g = load_nir(norse.to_nir(model, torch.zeros(1, 10), dt=1e-3), dialect="norse", dt_s=1e-3)
    path = export(g, tmp_path / "n.net", {}).path
    rng = np.random.default_rng(1)
    _assert_equal_every_layer(path, spikes(rng, (20, 1, 10), p=0.5))


def test_trained_digits_model_runs_in_lava(trained_run, tmp_path):
    from neurodeploy.pipeline import eval_samples, graph_from_run

    src = graph_from_run(trained_run)
    path = export(src.graph, tmp_path / "m.net", {}).path
    x, y = eval_samples(src.data_cfg, None, None, 4)
    rep = verify_loihi(path, src.graph, x, y, use_lava=True, strict=True)
    assert rep["emulator_vs_lava"]["exact"] and rep["accuracy"]["emulator"] == rep["accuracy"]["lava"]
