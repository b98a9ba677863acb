"""A conv layer's neuron scan fused with the SumPool2d after it (neurodeploy.neurons.pooled) must
give the spikes and gradients of the layers run one after the other, and of the reference loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from neurodeploy.neurons import IF, LIF, CubaLIF, SpikingSequential, SumPool2d, _scan_cpp, pooled
from neurodeploy.neurons.functional import CubaLIFParameters, IFParameters, LIFParameters
from neurodeploy.neurons.kernels import use_backend
from neurodeploy.surrogates import make_surrogate
from neurodeploy.surrogates.base import FastSigmoid

needs_cpp = pytest.mark.skipif(_scan_cpp.load() is None, reason="the C++ scan could not be built here")


def _net(neuron, c_in=2, c_mid=4, k=2, h=8, w=8, nested=True, seed=0, gain=8.0):
    """Conv-neuron-pool-conv-neuron-flatten-linear-neuron, pool inside an nn.Sequential (as in
    bench/train_step.py) or as its own layer (as from_nir builds it)."""
    torch.manual_seed(seed)
    conv1, conv2 = nn.Conv2d(c_in, c_mid, 3, padding=1), nn.Conv2d(c_mid, 3, 3, padding=1)
    lin = nn.Linear(3 * ((h // k) // k) * ((w // k) // k), 5)
    with torch.no_grad():
        for m in (conv1, conv2, lin):
            m.weight.mul_(gain)
    n = [neuron(i) for i in range(3)]  # neuron(i): the i-th spiking layer
    if nested:
        layers = [conv1, n[0], nn.Sequential(SumPool2d(k), conv2), n[1],
                  nn.Sequential(SumPool2d(k), nn.Flatten(), lin), n[2]]
    else:
        layers = [conv1, n[0], SumPool2d(k), conv2, n[1], SumPool2d(k), nn.Flatten(), lin, n[2]]
    return SpikingSequential(*layers).train()


def _events(t, b, c, h, w, seed=1, dtype=torch.float32, p=0.2):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(t, b, c, h, w, generator=g) < p).to(dtype)


def _step(model, x, fuse, backend="auto"):
    """Output spikes, the input's gradient and every parameter's gradient."""
    model.zero_grad(set_to_none=True)
    model.fuse_pool = fuse
    x = x.clone().requires_grad_()
    with use_backend(backend):
        out = model(x)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    (out * weights).sum().backward()
    return out.detach(), [x.grad] + [p.grad for p in model.parameters()]


def _assert_same(a, b, exact, spiking=True):
    (za, ga), (zb, gb) = a, b
    assert torch.equal(za, zb)
    assert za.sum() > 0 or not spiking  # the network spikes: the comparison is not vacuous
    assert float(ga[0].abs().sum()) > 0  # a gradient reached the input through every layer
    for u, v in zip(ga, gb):
        assert u is not None and v is not None
        if exact:
            assert torch.equal(u, v)
        else:
            torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-5 * float(v.abs().max()))


DT = 4e-3  # α = 0.4, β = 0.8: the small test networks spike at a few to 25 %


def _lif(i, **kw):
    return LIF(dt_s=DT, **kw)


NEURONS = {
    "lif": _lif,
    "lif-subtract": lambda i: _lif(i, reset="subtract"),
    "cubalif": lambda i: CubaLIF(CubaLIFParameters(v_leak=0.05), dt_s=DT),
    "if": lambda i: IF(IFParameters(v_th=2.0, v_reset=-0.1)),
    # per-channel thresholds on the first (4-channel) layer: coefficients per neuron, not scalars
    "per-channel": lambda i: _lif(i, p=LIFParameters(v_th=torch.tensor([0.8, 1.0, 1.2, 0.9]).view(4, 1, 1)))
    if i == 0 else _lif(i),
}


@needs_cpp
@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_fused_equals_unfused(kind):
    model = _net(NEURONS[kind], gain=4.0 if kind == "if" else 8.0)
    x = _events(5, 3, 2, 8, 8)
    _assert_same(_step(model, x, True), _step(model, x, False), exact=True)


@needs_cpp
@pytest.mark.parametrize("t,b,c_in,h,w,k", [(1, 1, 1, 4, 4, 2), (7, 2, 3, 7, 9, 2), (3, 5, 2, 9, 9, 3),
                                            (16, 4, 2, 12, 10, 2)])
@pytest.mark.parametrize("nested", [True, False])
def test_fused_equals_unfused_odd_shapes(t, b, c_in, h, w, k, nested):
    model = _net(_lif, c_in=c_in, k=k, h=h, w=w, nested=nested)
    x = _events(t, b, c_in, h, w, seed=t + b)
    _assert_same(_step(model, x, True), _step(model, x, False), exact=k == 2, spiking=t > 1)


@needs_cpp
def test_fused_equals_reference_loop_float64():
    """float64: the reference per-step loop rounds differently from the scan only in the last bits,
    far from flipping a spike."""
    model = _net(lambda i: _lif(i, reset="subtract")).double()
    x = _events(6, 2, 2, 8, 8, dtype=torch.float64)
    _assert_same(_step(model, x, True), _step(model, x, False, backend="reference"), exact=False)


@needs_cpp
@pytest.mark.parametrize("surrogate", ["triangle", "sigmoid", "eager"])
def test_surrogates_and_density_count(surrogate):
    """Inline surrogates and one evaluated eagerly (kind 0); the compute-density count of a compact
    surrogate is the same as on the unfused path."""
    class Eager(FastSigmoid):  # a changed derivative: no inline form
        def derivative(self, u):
            return 0.5 * super().derivative(u)

    make = (lambda: Eager()) if surrogate == "eager" else (lambda: make_surrogate(surrogate))
    model = _net(lambda i: _lif(i, surrogate=make()))
    x = _events(4, 2, 2, 8, 8)
    counts = []
    for fuse in (True, False):
        for m in model:
            if hasattr(m, "surrogate"):
                m.surrogate.live.track = True
                m.surrogate.live.active = torch.zeros((), dtype=torch.float64)
                m.surrogate.live.total = 0
        res = _step(model, x, fuse)
        counts.append([(float(m.surrogate.live.active), m.surrogate.live.total)
                       for m in model if hasattr(m, "surrogate")])
        if fuse:
            fused = res
    _assert_same(fused, res, exact=True)
    assert counts[0] == counts[1]


@needs_cpp
def test_no_grad_forward_is_fused_and_equal(monkeypatch):
    model = _net(_lif).eval()
    x = _events(5, 3, 2, 8, 8)
    calls = []
    real = pooled._pool_forward
    monkeypatch.setattr(pooled, "_pool_forward", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    with torch.no_grad():
        fused = model(x)
        model.fuse_pool = False
        plain = model(x)
    assert torch.equal(fused, plain) and fused.sum() > 0
    assert calls == [{"save": False}] * 2


@needs_cpp
def test_bench_conv_workload_shape():
    """The benchmark's layer sizes (2×32×32, 16 and 32 channels) at a small T and batch."""
    torch.manual_seed(0)
    layers = [nn.Conv2d(2, 16, 3, padding=1), nn.Sequential(SumPool2d(2), nn.Conv2d(16, 32, 3, padding=1)),
              nn.Sequential(SumPool2d(2), nn.Flatten(), nn.Linear(2048, 10))]
    with torch.no_grad():
        for layer in layers:
            for name, p in layer.named_parameters():
                if name.endswith("weight"):
                    p.mul_(30.0)
    model = SpikingSequential(*[m for s in layers for m in (s, LIF(dt_s=DT))]).train()
    x = _events(4, 3, 2, 32, 32, p=0.05)
    _assert_same(_step(model, x, True), _step(model, x, False), exact=True)


def _fusion_runs(model, x, monkeypatch):
    """Did the forward of ``model`` on ``x`` take the fused scan?"""
    calls = []
    real = pooled._PooledScan.apply
    monkeypatch.setattr(pooled._PooledScan, "apply", lambda *a: calls.append(1) or real(*a))
    model(x.clone().requires_grad_())
    return bool(calls)


@needs_cpp
def test_where_fusion_applies(monkeypatch):
    x = _events(3, 2, 2, 8, 8)
    model = _net(_lif)
    assert _fusion_runs(model, x, monkeypatch)
    model.fuse_pool = False
    assert not _fusion_runs(model, x, monkeypatch)
    model.fuse_pool = True
    with use_backend("torch"):
        assert not _fusion_runs(model, x, monkeypatch)
    handle = model[1].register_forward_hook(lambda *a: None)  # hooks see the neuron's own spikes
    model[3].register_forward_hook(lambda *a: None)
    assert not _fusion_runs(model, x, monkeypatch)
    handle.remove()
    assert _fusion_runs(model, x, monkeypatch)  # the second neuron still has its hook
    learn = _net(lambda i: _lif(i, learn_threshold=True))  # coefficient gradients: the unfused scan
    assert not _fusion_runs(learn, x, monkeypatch)
    assert pooled.pool_after(SumPool2d(2, 1)) is None  # overlapping windows: not a block sum
    assert pooled.pool_after(nn.Sequential(SumPool2d(3), nn.Flatten()))[0] == 3
    assert pooled.pool_after(nn.Sequential(nn.Flatten(), SumPool2d(2))) is None


def test_fallbacks_give_the_same_results(monkeypatch):
    """No C++ build, the torch backend and record=True run the layers one after the other."""
    model = _net(_lif)
    x = _events(4, 2, 2, 8, 8)
    ref = _step(model, x, False, backend="torch")
    monkeypatch.setattr(_scan_cpp, "load", lambda: None)
    _assert_same(_step(model, x, True), ref, exact=True)
    with torch.no_grad():
        out, rec = model(x, record=True)
    assert torch.equal(out, ref[0]) and len(rec) == len(model)


@needs_cpp
def test_training_step_loss_equal():
    """A few Adam steps with and without fusion stay equal (same spikes, same updates)."""
    losses = {}
    for fuse in (True, False):
        model = _net(_lif)
        model.fuse_pool = fuse
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        x = _events(6, 4, 2, 8, 8)
        y = torch.tensor([0, 1, 2, 3])
        losses[fuse] = []
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(x).sum(0), y)
            loss.backward()
            opt.step()
            losses[fuse].append(loss.item())
    assert losses[True] == losses[False]
