"""Xylo hardware-aware training: input pooling, the quantised forward, and `train --target xylo`.

The run reports the bit-exact emulator's accuracy; the exported file verifies against XyloSim.
"""

from __future__ import annotations

import json

import pytest
import torch

from neurodeploy.data.pooling import PooledDataset, pooled_shape, sum_pool
from neurodeploy.errors import ConfigError, UnsupportedNodeError
from neurodeploy.ir import to_nir
from neurodeploy.targets.base import VerifyRequest, get_target
from neurodeploy.targets.xylo import _rockpool
from neurodeploy.train.config import load_config
from neurodeploy.train.models import build_model

needs_rockpool = pytest.mark.skipif(not _rockpool.available(), reason=_rockpool.MISSING)


def test_sum_pool_counts_events_exactly():
    x = torch.randint(0, 3, (5, 4, 2, 18, 18))
    y = sum_pool(x, [2, 5, 5])
    assert y.shape == (5, 4, 1, 4, 4)
    assert torch.equal(y.sum((2, 3, 4)), x.sum((2, 3, 4)))
    assert int(y[0, 0, 0, 3, 3]) == int(x[0, 0, :, 15:, 15:].sum())   # edge block: 2x3x3 events
    with pytest.raises(ConfigError, match=r"input_pool = \[2, 5\] has 2 block sizes, the data has 3"):
        pooled_shape((2, 18, 18), [2, 5])


def test_pooled_dataset_keeps_classes(small_data):
    ds = PooledDataset(small_data.train, [2, 5, 5], classes=8)
    assert ds.frames.shape[2:] == (1, 4, 4) and int(ds.labels.max()) < 8
    assert len(ds) == int((small_data.train.labels < 8).sum())


def _cfg(*extra):
    return load_config(None, ["model.neuron='cuba_lif'", "model.hidden=[24]", "model.tau_mem_s=0.008",
                              "model.tau_syn_s=0.004", "model.reset='subtract'", *extra])


def _small(small_data):
    from neurodeploy.data.registry import LoadedData

    return LoadedData(PooledDataset(small_data.train, [2, 5, 5], 8, 15),
                      PooledDataset(small_data.test, [2, 5, 5], 8, 15),
                      (1, 4, 4), 8, "digits-events")


@needs_rockpool
@pytest.mark.parametrize("recurrent", [False, True])
def test_quantised_forward_tracks_the_emulator_and_has_gradients(recurrent):
    from neurodeploy.targets.xylo.emulator import XyloEmulator
    from neurodeploy.targets.xylo.export import build
    from neurodeploy.targets.xylo.training import forward_quantised

    torch.manual_seed(0)
    cfg = _cfg(f"model.recurrent={'true' if recurrent else 'false'}")
    model = build_model(cfg, (16,), 4)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(6)
    x = (torch.rand(20, 32, 16) < 0.3).float() * torch.randint(1, 3, (20, 32, 16))
    out, outs = forward_quantised(model, x, record=True)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters() if p.requires_grad)
    net = build(to_nir(model, (16,), time_steps=20))
    run = XyloEmulator(net.spec).run(torch.cat([x, torch.zeros(1, 32, 16)]).long())
    hidden = run.hidden_spikes[:20].float()
    assert float((hidden == outs[2].detach()).float().mean()) > 0.97      # only decay truncation differs
    assert float((run.output_spikes[1:].float() == out.detach()).float().mean()) > 0.95
    assert hidden.max() > 1 and outs[2].max() > 1                          # multi-spike steps are modelled


def test_non_cuba_model_refused():
    from neurodeploy.targets.xylo.training import forward_quantised

    model = build_model(load_config(None, ["model.hidden=[8]"]), (16,), 4)
    with pytest.raises(UnsupportedNodeError, match="cuba_lif"):
        forward_quantised(model, torch.zeros(4, 2, 16))


@needs_rockpool
@pytest.mark.slow
@pytest.mark.parametrize("recurrent", [False, True], ids=["ff", "rec"])
def test_train_target_xylo_reports_the_emulator_and_verifies(small_data, tmp_path, recurrent):
    """A trained network: the run's accuracy is the emulator's, and emulator = XyloSim exactly."""
    from neurodeploy.train.checkpoint import load_checkpoint
    from neurodeploy.train.trainer import Trainer, evaluate

    data = _small(small_data)
    cfg = _cfg(f"train.epochs={1 if recurrent else 2}", "train.target='xylo'", "train.augment_shift_px=0",
               f"model.recurrent={'true' if recurrent else 'false'}")
    res = Trainer(cfg, tmp_path / "run", progress=False, data=data).fit()
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    ck = load_checkpoint(tmp_path / "run", "last")
    model = build_model(ck["config"], (1, 4, 4), 8)
    model.load_state_dict(ck["model_state"])
    xylo = get_target("xylo")
    emu = evaluate(model, data.test, transform=xylo.training_transform)
    assert emu["accuracy"] == metrics[-1]["test_accuracy"] == res.last_accuracy
    graph = to_nir(model, (1, 4, 4), time_steps=16)
    out = tmp_path / "d.xylo.json"
    xylo.export(graph, out, {"allow_lossy": True})
    x = data.test.frames[:24].float().reshape(24, 16, 16)
    rep = xylo.verify(VerifyRequest(out, graph, x, data.test.labels[:24]))
    assert rep["emulator_vs_xylosim"]["exact"]
    assert rep["accuracy"]["emulator"] == rep["accuracy"]["xylosim"]
    emu24 = evaluate(model, PooledDataset(_Sub(data.test, 24), []), transform=xylo.training_transform)
    assert emu24["accuracy"] == rep["accuracy"]["emulator"]


class _Sub:
    def __init__(self, ds, n):
        self.frames, self.labels = ds.frames[:n], ds.labels[:n]
