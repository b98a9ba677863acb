"""Spike-fed Linear layers on the exact CSR path (neurodeploy/neurons/sequential.py, the CSR
section of scan.cpp): outputs and gradients (x, W, b) equal the dense path to fp32 rounding,
the path is chosen by the density rule, non-binary input falls back to dense."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from neurodeploy.neurons import LIF, SpikingSequential, _scan_cpp, sequential
from neurodeploy.neurons.sequential import AUTO_DENSITY, density_limit, sparse_binary_linear

needs_cpp = pytest.mark.skipif(_scan_cpp.load() is None, reason="the C++ extension cannot be built here")


def _via_csr(y):
    """Whether ``y`` (T, B, N) came from the CSR Function (a reshape of its output)."""
    fn = y.grad_fn
    while fn is not None and type(fn).__name__ in ("ViewBackward0", "ReshapeAliasBackward0"):
        fn = fn.next_functions[0][0]
    return fn is not None and type(fn).__name__ == "_CsrLinearBackward"


def _binary(shape, density, seed):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < density).float()


def _at_1_and_2_threads(fn):
    """[fn() at 1 thread, fn() at 2 threads]; the thread count is restored afterwards."""
    threads = torch.get_num_threads()
    try:
        out = []
        for n in (1, 2):
            torch.set_num_threads(n)
            out.append(fn())
        return out
    finally:
        torch.set_num_threads(threads)


def _dense_f64(x, layer):
    """The dense reference in float64: y and grads are what fp32 approximates."""
    w = layer.weight.detach().double().requires_grad_()
    b = layer.bias.detach().double().requires_grad_()
    x64 = x.detach().double().requires_grad_()
    return x64, w, b, torch.nn.functional.linear(x64, w, b)


@needs_cpp
@pytest.mark.parametrize("density", [0.0, 0.03, 0.2, 0.6])
@pytest.mark.parametrize("shape", [(7, 3, 40, 130), (1, 1, 17, 16), (25, 2, 256, 20), (4, 5, 33, 131),
                                   (2, 3, 2100, 2000)])  # > 16 MiB of weights: scratch not kept
def test_csr_linear_with_input_grad_equals_dense(shape, density):
    t, b, f, n = shape
    torch.manual_seed(0)
    layer = nn.Linear(f, n)
    x = _binary((t, b, f), density, seed=1).requires_grad_()
    y = sparse_binary_linear(x, layer, 1.0)
    assert y is not None and _via_csr(y)
    gy = torch.randn(y.shape, generator=torch.Generator().manual_seed(2))
    gx, gw, gb = torch.autograd.grad(y, (x, layer.weight, layer.bias), gy)
    x64, w64, b64, y64 = _dense_f64(x, layer)
    rx, rw, rb = torch.autograd.grad(y64, (x64, w64, b64), gy.double())
    # fp32 sums of at most f (forward, gx) or t·b (gw, gb) terms of size ≤ |w|, |gy|
    for got, ref in ((y, y64.detach()), (gx, rx), (gw, rw), (gb, rb)):
        assert got.dtype == torch.float32 and got.shape == ref.shape
        torch.testing.assert_close(got.detach().double(), ref, rtol=1e-5, atol=1e-5 * max(1.0, float(ref.abs().max())))
    if density == 0.0:
        assert torch.equal(y, layer.bias.detach().expand_as(y))
        assert not gw.any()


@needs_cpp
def test_weight_gradient_independent_of_threads():
    layer = nn.Linear(300, 256)
    x = _binary((50, 64, 300), 0.07, seed=3)
    gy = torch.randn(50, 64, 256, generator=torch.Generator().manual_seed(4))

    def run():
        layer.zero_grad()
        y = sparse_binary_linear(x, layer, 1.0)
        y.backward(gy)
        return y.detach(), layer.weight.grad.clone()
    got = _at_1_and_2_threads(run)
    assert torch.equal(got[0][0], got[1][0]) and torch.equal(got[0][1], got[1][1])


@needs_cpp
def test_binary_csr_matches_torch_and_refuses():
    module = _scan_cpp.load()
    for f in (1, 7, 8, 15, 16, 17, 40, 700):
        x = _binary((37, f), 0.1, seed=f)
        x[0, 0] = -0.0  # a negative zero is a zero
        crow, cols = module.binary_csr(x, 1.0)
        with warnings.catch_warnings():  # torch: "Sparse CSR tensor support is in beta state"
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
            ref = x.to_sparse_csr()
        assert torch.equal(crow, ref.crow_indices()) and torch.equal(cols.long(), ref.col_indices())
    # every entry one (the 16-lane compress writes a full vector at the row's end: the room
    # reserved for a full row must hold it)
    for f in (16, 32, 48, 700):
        crow, cols = module.binary_csr(torch.ones(130, f), 1.0)
        assert torch.equal(cols.long(), torch.arange(f).repeat(130)) and crow[-1] == 130 * f
    # ones packed into one 64-row block, under the overall limit: that block's index buffer,
    # sized for the limit, grows (three times here) and keeps what it held
    x = torch.zeros(1000, 300)
    x[64:128] = 1.0
    x[130, 299] = 1.0
    crow, cols = module.binary_csr(x, 0.1)
    nz = x.nonzero()
    assert torch.equal(cols.long(), nz[:, 1]) and crow[-1] == len(nz)
    assert torch.equal(crow.diff(), x.sum(1).long())
    x = _binary((200, 50), 0.1, seed=5)
    assert len(module.binary_csr(x, 0.05)) == 1           # over the density limit
    for bad in (0.5, 2.0, -1.0, float("nan"), float("inf")):
        y = x.clone()
        y[123, 37] = bad
        assert len(module.binary_csr(y, 1.0)) == 1, bad   # not binary


def test_density_rule_and_override():
    wide, mid, narrow = nn.Linear(10, 256), nn.Linear(10, 64), nn.Linear(10, 10)
    assert density_limit(wide, None) == AUTO_DENSITY[0][2] > 0
    assert density_limit(mid, None) == AUTO_DENSITY[1][2] > 0
    # 16-31 outputs: the number of inputs decides (few inputs a row: dense is faster)
    assert density_limit(nn.Linear(256, 20), None) == AUTO_DENSITY[2][2] > 0
    assert density_limit(nn.Linear(128, 20), None) == AUTO_DENSITY[3][2] > 0
    assert AUTO_DENSITY[2][2] > AUTO_DENSITY[3][2]
    assert density_limit(nn.Linear(64, 20), None) == 0.0
    assert density_limit(narrow, None) == 0.0            # small outputs: dense is faster
    assert density_limit(narrow, 0.3) == 0.3 and density_limit(wide, 0.0) == 0.0
    x = _binary((5, 2, 10), 0.1, seed=6)
    assert sparse_binary_linear(x, narrow, None) is None
    assert sparse_binary_linear(x, wide, 0) is None


@pytest.fixture(params=["compiled", "fallback"])
def impl(request, monkeypatch):
    if request.param == "fallback":
        monkeypatch.setattr(sequential._scan_cpp, "load", lambda: None)
    elif _scan_cpp.load() is None:
        pytest.skip("the C++ extension cannot be built here")
    return request.param


def test_fallbacks_to_dense(impl):
    layer = nn.Linear(10, 200)
    x = _binary((5, 2, 10), 0.1, seed=7)
    assert sparse_binary_linear(x * 0.5, layer, None) is None                     # not binary
    assert sparse_binary_linear(_binary((5, 2, 10), 0.9, seed=8), layer, None) is None  # too dense
    assert sparse_binary_linear(x.double(), layer, None) is None                  # dtype differs
    # the pure-PyTorch fallback has no input gradient: a spike-fed layer with grad runs dense
    assert (sparse_binary_linear(x.requires_grad_(), layer, None) is None) == (impl == "fallback")


def _net(hidden, gain):
    torch.manual_seed(0)
    model = SpikingSequential(nn.Linear(60, hidden), LIF(), nn.Linear(hidden, hidden), LIF(),
                              nn.Linear(hidden, 10), LIF())
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight.mul_(gain)
    return model


@needs_cpp
@pytest.mark.parametrize("max_density", [None, 1.0])
@pytest.mark.parametrize("gain, density", [(30.0, 0.1), (80.0, 0.2)])  # rates ~5 % and ~20 %
def test_hidden_layers_equal_dense_model(max_density, gain, density):
    """Hidden layers take the CSR path (auto rule: out_features 128) and give the dense model's
    spikes and parameter gradients."""
    x = _binary((20, 4, 60), density, seed=9)
    sparse, dense = _net(128, gain), _net(128, gain)
    sparse.sparse_max_density, dense.sparse_max_density = max_density, 0.0
    ys, rec_s = sparse(x, record=True)
    yd, rec_d = dense(x, record=True)
    via = [_via_csr(r) for r in rec_s[0::2]]
    assert via == [True, True, max_density == 1.0], via  # 10 outputs: dense by default
    rates = [float(z.detach().mean()) for z in rec_d[1::2]]
    assert all(0.01 < r < 0.5 for r in rates), rates       # the hidden layers do spike
    for a, b in zip(rec_s[0::2], rec_d[0::2]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.detach().abs().max()))
    for a, b in zip(rec_s[1::2], rec_d[1::2]):
        assert torch.equal(a, b)                            # inputs well away from threshold here
    w = torch.linspace(-1, 1, ys.numel()).view_as(ys)
    ((ys * w).sum() + sum((r ** 2).sum() for r in rec_s[0::2]) * 1e-3).backward()
    ((yd * w).sum() + sum((r ** 2).sum() for r in rec_d[0::2]) * 1e-3).backward()
    for (name, ps), pd in zip(sparse.named_parameters(), dense.parameters()):
        if ps.grad is not None or pd.grad is not None:
            scale = float(pd.grad.abs().max())
            torch.testing.assert_close(ps.grad, pd.grad, rtol=1e-5, atol=1e-5 * max(scale, 1e-6), msg=name)


def test_analog_hidden_input_runs_dense():
    """A Linear fed non-binary values (here an analog input to a hidden Linear) runs dense."""
    torch.manual_seed(0)
    model = SpikingSequential(nn.Linear(8, 130), nn.Linear(130, 130), LIF())
    x = torch.rand(5, 2, 8)
    _, rec = model(x, record=True)
    assert not any(_via_csr(r) for r in rec)


@needs_cpp
@pytest.mark.parametrize("f", [50, 800])  # 800 inputs: the tiled gradient splits the inputs in ranges
def test_tiled_and_row_layouts_give_the_same_bits(f):
    """Layers of ≤ 64 outputs run the column-tiled kernels, wider ones the row gathers (scan.cpp);
    both sum every output in the same order, so the first 64 outputs of a 65-wide layer equal a
    64-wide layer with those weights bit for bit, at 1 and 2 threads."""
    torch.manual_seed(5)
    wide = nn.Linear(f, 65)
    narrow = nn.Linear(f, 64)
    with torch.no_grad():
        narrow.weight.copy_(wide.weight[:64])
        narrow.bias.copy_(wide.bias[:64])
    x = _binary((30, 8, f), 0.08, seed=6)
    gy = torch.randn(30, 8, 65, generator=torch.Generator().manual_seed(7))

    def run(layer):
        layer.zero_grad()
        y = sparse_binary_linear(x, layer, 1.0)
        y.backward(gy[..., :layer.out_features])
        return y.detach()[..., :64], layer.weight.grad[:64].clone(), layer.bias.grad[:64].clone()
    got = [r for pair in _at_1_and_2_threads(lambda: (run(wide), run(narrow))) for r in pair]
    for other in got[1:]:
        for a, b in zip(got[0], other):
            assert torch.equal(a, b)


@needs_cpp
def test_hooked_linear_runs_through_its_hooks():
    """The CSR path computes a Linear without calling the module; a Linear with forward hooks
    runs through its __call__ instead, so the hooks see every call (here the dense path)."""
    torch.manual_seed(0)
    model = SpikingSequential(nn.Linear(100, 64), LIF(), nn.Linear(64, 40), LIF())
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight.mul_(30.0)
    x = _binary((10, 4, 100), 0.05, seed=3)
    plain = model(x)
    seen = []
    for n in (0, 2):
        model[n].register_forward_hook(lambda mod, args, out, n=n: seen.append((n, out.shape)))
    hooked = model(x)
    assert seen == [(0, torch.Size([40, 64])), (2, torch.Size([40, 40]))]
    assert hooked.shape == plain.shape and plain.sum() > 0
    assert (hooked != plain).float().mean() < 0.01  # dense vs CSR sums: equal to fp32 rounding
