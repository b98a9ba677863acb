"""A hidden neuron layer fused with the spike-fed Linear after it (neurodeploy.neurons.spike_linear):
the same outputs and gradients, bit for bit, as the two layers run one after the other, on the
CSR path and on its dense fallback; the spikes' CSR read from the saved membrane equals the
spikes' own."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neurodeploy.neurons import IF, LIF, CubaLIF, SpikingSequential, _scan_cpp, spike_linear
from neurodeploy.neurons.kernels import use_backend
from neurodeploy.surrogates import make_surrogate
from neurodeploy.surrogates.base import FastSigmoid

needs_cpp = pytest.mark.skipif(_scan_cpp.load() is None, reason="the C++ scan could not be built here")


def _net(neuron, gain=40.0, bias=True, seed=0, widths=(70, 64, 48, 40)):
    """Linear-neuron ×3; the first two neurons feed Linears the CSR rule takes (≥ 32 outputs)."""
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        lin = nn.Linear(a, b, bias=bias)
        with torch.no_grad():
            lin.weight.mul_(gain)
        layers += [lin, neuron(i)]
    return SpikingSequential(*layers).train()


def _events(t=30, b=8, f=70, p=0.1, seed=1):
    return (torch.rand(t, b, f, generator=torch.Generator().manual_seed(seed)) < p).float()


def _step(model, x, fuse):
    """Output, input gradient and parameter gradients of one backward."""
    model.fuse_linear = fuse
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    out = model(x)
    (out.sum(0) * torch.linspace(-1, 1, out.shape[-1])).sum().backward()
    return [out.detach(), x.grad] + [p.grad for p in model.parameters()]


def _count(monkeypatch):
    """Counts of fused calls and of spike CSRs refused for density (the dense fallback)."""
    calls = {"fused": 0, "dense": 0}
    apply, load = spike_linear._SpikesLinear.apply, _scan_cpp.load

    class Counting:
        def __getattr__(self, name):
            f = getattr(load(), name)
            if name != "spike_csr":
                return f
            return lambda *a: (lambda r: calls.__setitem__("dense", calls["dense"] + (len(r) == 1)) or r)(f(*a))
    monkeypatch.setattr(spike_linear._SpikesLinear, "apply",
                        lambda *a: calls.__setitem__("fused", calls["fused"] + 1) or apply(*a))
    monkeypatch.setattr(spike_linear._scan_cpp, "load", lambda: Counting())
    return calls


NEURONS = {
    "lif": lambda reset, sur: lambda i: LIF(dt_s=1e-3, reset=reset, surrogate=make_surrogate(sur)),
    "cuba": lambda reset, sur: lambda i: CubaLIF(dt_s=1e-3, reset=reset, surrogate=make_surrogate(sur)),
    "if": lambda reset, sur: lambda i: IF(reset=reset, surrogate=make_surrogate(sur)),
}


@needs_cpp
@pytest.mark.parametrize("kind", sorted(NEURONS))
@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("max_density, dense", [(None, None), (1.0, False), (0.001, True)])
def test_fused_equals_layers_one_after_the_other(kind, reset, max_density, dense, monkeypatch):
    """Outputs, input and parameter gradients bit for bit; (0.001: the spikes are denser than the
    limit, so the fused Function runs the Linear dense)."""
    gain = 2.0 if kind == "if" else 40.0
    model = _net(NEURONS[kind](reset, "fast_sigmoid"), gain=gain)
    model.sparse_max_density = max_density
    x = _events()
    calls = _count(monkeypatch)
    fused = _step(model, x, True)
    assert calls["fused"] == 2 and calls["dense"] in ((2 if dense else 0,) if dense is not None
                                                      else (0, 1, 2)), calls
    plain = _step(model, x, False)
    assert calls["fused"] == 2
    assert 0.01 < float(fused[0].mean()) < 0.9
    for a, b in zip(fused, plain):
        assert torch.equal(a, b)


class _EagerSigmoid(FastSigmoid):
    """A surrogate the C++ backward does not know (its derivative overridden): eager path."""

    def derivative(self, u):
        return super().derivative(u) * 1.0


@needs_cpp
@pytest.mark.parametrize("surrogate", ["arctan", "triangle", "eager"])
def test_other_surrogates_and_no_bias(surrogate):
    sur = (lambda: _EagerSigmoid()) if surrogate == "eager" else (lambda: make_surrogate(surrogate))
    model = _net(lambda i: LIF(dt_s=1e-3, surrogate=sur()), bias=False)
    x = _events(seed=4)
    for a, b in zip(_step(model, x, True), _step(model, x, False)):
        assert (a is None and b is None) or torch.equal(a, b)


@needs_cpp
def test_surrogate_density_is_still_counted():
    model = _net(lambda i: LIF(dt_s=1e-3, surrogate=make_surrogate("triangle")))
    counts = []
    for fuse in (True, False):
        for m in model:
            if isinstance(m, LIF):
                m.surrogate.live.track, m.surrogate.live.active, m.surrogate.live.total = True, 0.0, 0
        _step(model, _events(), fuse)
        counts.append([(m.surrogate.live.active, m.surrogate.live.total) for m in model if isinstance(m, LIF)])
    assert counts[0] == counts[1] and counts[0][0][1] > 0


@needs_cpp
def test_where_fusion_applies(monkeypatch):
    x = _events()
    calls = _count(monkeypatch)

    def fused(model, **kw):
        calls["fused"] = 0
        model(x.clone().requires_grad_(), **kw)
        return calls["fused"]

    model = _net(NEURONS["lif"]("zero", "fast_sigmoid"))
    assert fused(model) == 2
    assert fused(model, record=True) == 0           # records every layer's own output
    model.fuse_linear = False
    assert fused(model) == 0
    model.fuse_linear = True
    with use_backend("torch"):
        assert fused(model) == 0
    with torch.no_grad():
        assert fused(model) == 0
    handle = model[2].register_forward_hook(lambda *a: None)  # the Linear's hook sees its input
    assert fused(model) == 1
    handle.remove()
    handle = model[1].register_forward_hook(lambda *a: None)  # the neuron's hook sees its spikes
    assert fused(model) == 1
    handle.remove()
    model[0].register_forward_hook(lambda *a: None)          # the first Linear: not fused anyway
    assert fused(model) == 2
    model.sparse_max_density = 0.0                            # dense Linears: no CSR to fuse with
    assert fused(model) == 0
    learn = _net(lambda i: LIF(dt_s=1e-3, learn_threshold=True))  # coefficient gradients
    assert fused(learn) == 0
    recurrent = SpikingSequential(nn.Linear(70, 64), LIF(recurrent_features=64), nn.Linear(64, 20), LIF())
    assert fused(recurrent) == 0
    double = _net(NEURONS["lif"]("zero", "fast_sigmoid")).double()
    calls["fused"] = 0
    double(x.double())
    assert calls["fused"] == 0


@needs_cpp
@pytest.mark.parametrize("f", [13, 40, 256])
def test_spike_csr_is_the_scan_test(f):
    """spike_csr: entries where v' − v_th > 0 with per-lane thresholds (rows t·P + b), NaN and
    ±inf included, in ascending column order; refused past the density limit."""
    m, p, t = _scan_cpp.load(), 3, 7
    g = torch.Generator().manual_seed(f)
    vth = torch.rand(p * f, generator=g) + 0.5
    vpre = torch.randn(t * p, f, generator=g) + 1.0
    vpre[0, 0], vpre[1, 1], vpre[2, 2] = float("nan"), float("inf"), -float("inf")
    vpre[3, 3] = float(vth[0 * f + 3])                      # equal to its threshold: no spike
    vpre[4, 4] = torch.nextafter(vth[1 * f + 4], torch.tensor(9.0))  # just above: a spike
    crow, cols = m.spike_csr(vpre, vth, p, 1.0)
    spikes = (vpre - vth.view(p, f).repeat(t, 1)) > 0
    assert torch.equal(crow[1:] - crow[:-1], spikes.sum(1))
    assert torch.equal(cols.long(), spikes.nonzero()[:, 1])
    assert spikes[4, 4] and not spikes[3, 3]
    assert len(m.spike_csr(vpre, vth, p, 0.5 * float(spikes.float().mean()))) == 1
