"""Norse front end: Norse cells ⇄ our layers (neurodeploy.ir.norse_bridge) and training a Norse
model through neurodeploy. Norse is the reference: same spikes and gradients on random input,
and a trained model comes back as a Norse module with our spikes (also via norse.from_nir)."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

norse = pytest.importorskip("norse.torch", reason="norse not installed")

from neurodeploy.errors import UnsupportedNodeError  # noqa: E402
from neurodeploy.ir.norse_bridge import from_norse, run_norse, to_norse  # noqa: E402
from neurodeploy.neurons import CubaLIF  # noqa: E402

T, B = 25, 4


def _norse_forward(net, x):
    """Norse step by step with autograd (run_norse is no_grad)."""
    state, ys = None, []
    for t in range(x.shape[0]):
        y, state = net(x[t], state)
        ys.append(y)
    return torch.stack(ys)


def _strong(net, gain=20.0):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.mul_(gain)
    return net


def _compare(net, x, spiking=True):
    ours = from_norse(net)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    zn, zo = _norse_forward(net, xa), ours(xb)
    if spiking:
        assert zn.sum() > 0
        assert torch.equal(zn, zo)
    else:
        torch.testing.assert_close(zo, zn, rtol=1e-5, atol=1e-5)
    g = torch.randn(zn.shape, generator=torch.Generator().manual_seed(1))
    (zn * g).sum().backward()
    (zo * g).sum().backward()
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-4, atol=1e-6)
    theirs_w = [m.weight.grad for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    ours_w = [m.weight.grad for m in ours.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    for a, b in zip(ours_w, theirs_w):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    return ours


@pytest.mark.parametrize("cell", ["LIFBoxCell", "LIFCell", "IAFCell"])
def test_cells_same_spikes_and_gradients(cell):
    torch.manual_seed(0)
    net = _strong(norse.SequentialState(nn.Linear(12, 16, bias=False), getattr(norse, cell)(),
                                        nn.Linear(16, 6, bias=False), getattr(norse, cell)()))
    x = (torch.rand(T, B, 12) < 0.3).float()
    ours = _compare(net, x)
    assert all(m.bias is None for m in ours if isinstance(m, nn.Linear))  # no bias added
    back = to_norse(ours)
    assert [type(m).__name__ for m in back] == [type(m).__name__ for m in net]
    assert torch.equal(run_norse(back, x), run_norse(net, x))


def test_conv_avgpool_and_li_readout():
    torch.manual_seed(1)
    net = _strong(norse.SequentialState(nn.Conv2d(2, 4, 3, padding=1), norse.LIFCell(), nn.AvgPool2d(2),
                                        nn.Flatten(), nn.Linear(64, 5), norse.LICell()), 10.0)
    x = (torch.rand(T, B, 2, 8, 8) < 0.3).float()
    ours = _compare(net, x, spiking=False)
    hidden = ours[:2](x)
    assert hidden.sum() > 0
    back = to_norse(ours)
    torch.testing.assert_close(run_norse(back, x), run_norse(net, x), rtol=0, atol=0)


def test_recurrent_cell_same_spikes_no_autapses():
    """LIFRecurrentCell → Linear(input weights) + recurrent CubaLIF. Spikes are equal; Norse's
    recurrent step detaches the spike in the reset while our scan differentiates through it, so
    gradients are not compared here (stated in docs/python-api.md)."""
    torch.manual_seed(2)
    net = norse.SequentialState(norse.LIFRecurrentCell(12, 16), nn.Linear(16, 6, bias=False), norse.LIFCell())
    _strong(net)
    with torch.no_grad():
        net[0].input_weights.mul_(20.0)
    x = (torch.rand(T, B, 12) < 0.3).float()
    ours = from_norse(net)
    zn = run_norse(net, x)
    assert zn.sum() > 0 and torch.equal(ours(x).detach(), zn)
    neuron = ours[1]
    assert isinstance(neuron, CubaLIF) and not neuron.autapses
    ours(x).sum().backward()
    assert bool((neuron.w_rec.grad.diagonal() == 0).all()) and float(neuron.w_rec.grad.abs().sum()) > 0
    back = to_norse(ours)
    assert type(back[0]).__name__ == "LIFRecurrentCell"
    assert torch.equal(run_norse(back, x), zn)


@pytest.mark.parametrize("build, match", [
    (lambda: norse.SequentialState(nn.Conv2d(2, 2, 3), nn.MaxPool2d(2), norse.LIFCell()),
     r"layer 1 \(torch.nn.modules.pooling.MaxPool2d\): max pooling"),
    (lambda: norse.SequentialState(nn.Linear(4, 4), norse.LSNNCell()), r"layer 1 \(.*LSNNCell\) is not supported"),
    (lambda: norse.SequentialState(nn.Linear(4, 4), norse.LIFCell(norse.LIFParameters(v_leak=torch.tensor(0.5)))),
     r"layer 1 .*LIFCell\): v_leak = 0.5 ≠ 0 .*Norse starts v at v_leak"),
    (lambda: norse.SequentialState(nn.Linear(4, 4), norse.LICell(), nn.Linear(4, 2), norse.LIFCell()),
     r"layer 1 .*LICell\): a non-spiking LICell is supported only as the last layer"),
    (lambda: norse.SequentialState(nn.Flatten(0), nn.Linear(4, 4), norse.LIFCell()),
     r"layer 0 .*Flatten\): Flatten\(0, -1\); only Flatten\(start_dim=1"),
])
def test_unsupported_norse_modules_refused(build, match):
    with pytest.raises(UnsupportedNodeError, match=match):
        from_norse(build())


def test_to_norse_refuses_nir_style_cuba():
    from neurodeploy.neurons import SpikingSequential

    model = SpikingSequential(nn.Linear(4, 4, bias=False), CubaLIF())
    with pytest.raises(UnsupportedNodeError, match=r"layer 1 \(CubaLIF\): NIR-style input gain β has no Norse cell"):
        to_norse(model)


@pytest.fixture(scope="module")
def norse_run(tmp_path_factory, small_data, use_small_data):
    """A one-epoch neurodeploy training run of a Norse model on the digits-events subset."""
    from neurodeploy.api import train

    torch.manual_seed(0)
    model = norse.SequentialState(nn.Flatten(), nn.Linear(2 * 18 * 18, 32, bias=False), norse.LIFCell(),
                                  nn.Linear(32, 10, bias=False), norse.LIFCell())
    _strong(model, 8.0)
    before = [p.detach().clone() for p in model.parameters()]

    with use_small_data():  # the small subset
        run = train(model=model, data="digits-events", out=tmp_path_factory.mktemp("norse") / "run", epochs=1,
                    surrogate__name="adali", data__time_steps=16)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the user's model is untouched
    return run


def test_trained_norse_model_comes_back_with_our_spikes(norse_run, small_data):
    ours = norse_run.model()
    back = norse_run.to_norse()
    assert [type(m).__name__ for m in back] == ["Flatten", "Linear", "LIFCell", "Linear", "LIFCell"]
    assert all(m.bias is None for m in back if isinstance(m, nn.Linear))
    x = small_data.test.frames.float().transpose(0, 1)  # (T, N, 2, 18, 18): the whole test subset
    with torch.no_grad():
        z_ours = ours(x)
    z_norse = run_norse(back, x)
    assert z_ours.sum() > 0 and torch.equal(z_ours, z_norse)
    # its NIR export is read by Norse itself with the same spikes
    graph = norse_run.to_nir()
    logging.getLogger().setLevel(logging.ERROR)
    reread = norse.from_nir(graph, dt=graph.metadata["dt_s"])
    z_nir = run_norse(reread, x.reshape(x.shape[0], x.shape[1], -1))
    mismatch = float((z_nir != z_ours).float().mean())
    assert mismatch == 0.0, f"{mismatch:.2e} of output bins differ"


def test_li_readout_model_trains_resumes_and_comes_back(tmp_path, small_data, use_small_data):
    """A Norse net with an LICell readout: trained on Σ_t v, resumed from its checkpoint (the
    architecture spec), returned as Norse with the same membrane traces."""

    from neurodeploy.api import train
    from neurodeploy.train.config import load_config
    from neurodeploy.train.trainer import Trainer

    torch.manual_seed(0)
    model = _strong(norse.SequentialState(nn.Flatten(), nn.Linear(648, 16, bias=False), norse.LIFCell(),
                                          nn.Linear(16, 10, bias=False), norse.LICell()), 8.0)
    with use_small_data():
        run = train(model=model, out=tmp_path / "run", epochs=1, data__time_steps=8)
    cfg = load_config(None, ["train.epochs=2"])
    Trainer(cfg, run.path, resume=True, progress=False, data=small_data).fit()
    from neurodeploy.api import load

    run = load(run.path / "last.pt")
    assert run.epochs == 2 and run.model_kind == "model"
    x = small_data.test.frames[:16].float().transpose(0, 1)
    with torch.no_grad():
        v_ours = run.model()(x)
    back = run.to_norse()
    assert type(back[-1]).__name__ == "LICell"
    torch.testing.assert_close(run_norse(back, x), v_ours, rtol=1e-5, atol=1e-5)
    assert run.to_nir().metadata["readout"] == "membrane-sum"
