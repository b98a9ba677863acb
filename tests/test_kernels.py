"""Fast neuron kernels (neurodeploy.neurons.kernels) and the sparse first layer must equal the
reference per-step loop, and Norse's cells where the neuron models coincide."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from neurodeploy.errors import ConfigError
from neurodeploy.neurons import LIF, SpikingSequential, _scan_cpp, kernels
from neurodeploy.neurons.functional import (
    CubaLIFParameters,
    IFParameters,
    LIFParameters,
    NeuronState,
    coefficients,
)
from neurodeploy.neurons.kernels import run_sequence, use_backend
from neurodeploy.surrogates.base import FastSigmoid, Surrogate

FAST = ["cpp", "torch"]
RTOL = 1e-5


def _close(a, b, rtol=RTOL):
    """Equal to ``rtol`` relative to the tensor's scale (elementwise rel. is meaningless at 0)."""
    scale = float(b.detach().abs().max()) if b.numel() else 0.0
    torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * max(scale, 1e-6))


def _coefs(kind, dt=1e-3, tau_mem_inv=100.0, tau_syn_inv=200.0, v_th=1.0, learn=()):
    p = {"lif": LIFParameters(tau_mem_inv=tau_mem_inv, v_th=v_th, v_leak=0.1),
         "cuba": CubaLIFParameters(tau_syn_inv=tau_syn_inv, tau_mem_inv=tau_mem_inv, v_th=v_th),
         "if": IFParameters(v_th=v_th, v_reset=-0.1)}[kind]
    c = coefficients(p, dt)
    return c._replace(**{k: getattr(c, k).detach().clone().requires_grad_() for k in learn})


def _input(t, b, n, kind, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    scale = 0.6 if kind == "if" else 15.0
    return (torch.randn(t, b, n, generator=g, dtype=dtype) * scale + 0.4 * scale).requires_grad_()


def _run(backend, x, c, sur, reset, state=None, w_rec=None):
    """Spikes, final state and grads of a loss touching spikes and the final state."""
    with use_backend(backend):
        z, s = run_sequence(x, c, sur, reset, state=state, w_rec=w_rec)
    weights = torch.linspace(-1, 1, z.numel(), dtype=z.dtype).view_as(z)
    loss = (z * weights).sum() + (s.v ** 2).sum() + 0.5 * (s.i ** 2).sum()
    leaves = [x] + [k for k in c if k is not None and k.requires_grad]
    if state is not None:
        leaves += [state.v, state.i]
    if w_rec is not None:
        leaves.append(w_rec)
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return z, s, grads


def _assert_same(fast, ref, exact_state=True):
    """Equal spikes; the final state bitwise (``exact_state``) or to :func:`_close`; grads close."""
    (z1, s1, g1), (z2, s2, g2) = fast, ref
    assert torch.equal(z1, z2)
    if exact_state:
        assert torch.equal(s1.v, s2.v) and torch.equal(s1.i, s2.i)
    else:
        _close(s1.v, s2.v)
        _close(s1.i, s2.i)
    for a, b in zip(g1, g2):
        if b is None:
            assert a is None or not a.any()
        else:
            _close(a, b)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("kind", ["lif", "cuba", "if"])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_fast_equals_reference(backend, kind, reset):
    learn = ("decay_v", "leak_v", "gain_v", "v_th", "v_reset") + (
        ("decay_i", "gain_i") if kind == "cuba" else ())
    c = _coefs(kind, learn=learn)
    x = _input(40, 3, 7, kind)
    g = torch.Generator().manual_seed(5)
    state = NeuronState(torch.rand(3, 7, generator=g).requires_grad_(),
                        torch.rand(3, 7, generator=g).requires_grad_())
    sur = FastSigmoid(height=0.8, width=0.3)
    fast = _run(backend, x, c, sur, reset, state)
    ref = _run("reference", x, c, sur, reset, state)
    assert 0.05 < fast[0].mean() < 0.95  # the test exercises both spiking and silent steps
    _assert_same(fast, ref)


@pytest.mark.parametrize("backend", FAST)
def test_per_neuron_learnable_coefficients_and_float64(backend):
    n = 6
    c = coefficients(LIFParameters(tau_mem_inv=torch.linspace(50, 150, n, dtype=torch.float64),
                                   v_th=torch.linspace(0.8, 1.2, n, dtype=torch.float64)), 1e-3)
    c = c._replace(decay_v=c.decay_v.clone().requires_grad_(), v_th=c.v_th.clone().requires_grad_(),
                   leak_v=c.leak_v.double(), v_reset=c.v_reset.double())
    x = _input(30, 2, n, "lif", dtype=torch.float64)
    sur = FastSigmoid()
    _assert_same(_run(backend, x, c, sur, "zero"), _run("reference", x, c, sur, "zero"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["lif", "cuba"])
@pytest.mark.parametrize("learn", [(), ("decay_v", "v_th")], ids=["fixed", "learned"])
def test_wide_layers_span_several_scan_blocks(dtype, kind, learn):
    """M = B·N = 9000 lanes: several of the C++ scan's page-sized blocks (1024 floats or 512
    doubles) and a partial last one; every lane runs forward and backward as in the reference."""
    c = _coefs(kind, learn=learn)
    c = c._replace(**{k: v.to(dtype).detach().requires_grad_(v.requires_grad)
                      for k, v in c._asdict().items() if isinstance(v, torch.Tensor)})
    x = _input(6, 9, 1000, kind, dtype=dtype)
    sur = FastSigmoid()
    fast = _run("cpp", x, c, sur, "subtract")
    assert 0.05 < fast[0].mean() < 0.95
    _assert_same(fast, _run("reference", x, c, sur, "subtract"))


@dataclass(frozen=True)
class _Triangle(Surrogate):
    """A surrogate the C++ backward does not know: evaluated eagerly on the saved membrane."""

    width: float = 0.5
    name = "test_triangle"

    def derivative(self, u):
        return torch.clamp(1 - u.abs() / self.width, min=0) / self.width


@dataclass(frozen=True)
class _ScaledFastSigmoid(FastSigmoid):
    """A FastSigmoid subclass that changes the derivative must not take the inline path."""

    def derivative(self, u):
        return 2 * super().derivative(u)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("sur", [_Triangle(), _ScaledFastSigmoid()], ids=["triangle", "subclass"])
def test_generic_surrogates(backend, sur):
    c = _coefs("cuba", learn=("v_th",))
    x = _input(30, 2, 6, "cuba")
    _assert_same(_run(backend, x, c, sur, "zero"), _run("reference", x, c, sur, "zero"))


def test_no_grad_path_equals_reference():
    c = _coefs("cuba")
    x = _input(20, 2, 5, "cuba").detach()
    with torch.no_grad():
        z1, s1 = run_sequence(x, c, FastSigmoid())
        with use_backend("reference"):
            z2, s2 = run_sequence(x, c, FastSigmoid())
    assert not z1.requires_grad
    assert torch.equal(z1, z2) and torch.equal(s1.v, s2.v) and torch.equal(s1.i, s2.i)


def test_surrogate_parameters_may_change_between_steps():
    c = _coefs("lif")
    x = _input(25, 2, 4, "lif")
    for width in (0.05, 0.5, 2.0):  # e.g. a width schedule: no recompilation, new gradients
        sur = FastSigmoid(width=width)
        _assert_same(_run("auto", x, c, sur, "zero"), _run("reference", x, c, sur, "zero"))


def test_recurrent_weights_are_exact():
    g = torch.Generator().manual_seed(2)
    w_rec = (torch.randn(5, 5, generator=g) * 0.5).requires_grad_()
    c = _coefs("lif")
    x = _input(15, 2, 5, "lif")
    fast = _run("auto", x, c, FastSigmoid(), "subtract", w_rec=w_rec)
    ref = _run("reference", x, c, FastSigmoid(), "subtract", w_rec=w_rec)
    # the C++ recurrent scan sums the recurrent input over active neurons: equal to rounding
    _assert_same(fast, ref, exact_state=False)
    assert fast[2][-1].abs().sum() > 0  # w_rec receives a gradient


@settings(max_examples=40, deadline=None)
@given(t=st.integers(1, 12), b=st.integers(1, 3), n=st.integers(1, 9),
       kind=st.sampled_from(["lif", "cuba", "if"]), reset=st.sampled_from(["zero", "subtract"]),
       dt=st.floats(1e-4, 2e-3), tau_mem_inv=st.floats(20.0, 400.0),
       tau_syn_inv=st.floats(20.0, 400.0), v_th=st.floats(0.2, 2.0),
       recurrent=st.booleans(), learn=st.booleans(), backend=st.sampled_from(FAST),
       seed=st.integers(0, 2**16))
def test_property_fast_equals_reference(t, b, n, kind, reset, dt, tau_mem_inv, tau_syn_inv,
                                        v_th, recurrent, learn, backend, seed):
    # Coefficient grads are sums over T·B·N terms of both signs: fp32 summation order alone can
    # move a small sum by more than 1e-5 of itself, so those cases run in float64. The C++
    # recurrent scan (recurrent, cpp, no learnable coefficient) sums the recurrent input over the
    # active neurons, in another order than the reference's dense product: its state is equal to
    # rounding, not bitwise, so it runs in float64 too (no spike can flip at the threshold).
    cpp_recurrent = recurrent and backend == "cpp" and not learn
    dtype = torch.float64 if learn or cpp_recurrent else torch.float32
    c = _coefs(kind, dt, tau_mem_inv, tau_syn_inv, v_th)
    c = type(c)(*[None if k is None else k.to(dtype) for k in c])
    if learn:
        c = c._replace(decay_v=c.decay_v.clone().requires_grad_(),
                       v_th=c.v_th.clone().requires_grad_())
    x = _input(t, b, n, kind, seed, dtype)
    w_rec = (torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 0.3
             ).requires_grad_() if recurrent else None
    sur = FastSigmoid(width=0.2)
    _assert_same(_run(backend, x, c, sur, reset, w_rec=w_rec),
                 _run("reference", x, c, sur, reset, w_rec=w_rec), exact_state=not cpp_recurrent)


# --- Norse ---------------------------------------------------------------------------------


def _norse():
    return pytest.importorskip("norse.torch", reason="Norse is not installed")


def _norse_run(cell, x):
    out, s = [], None
    for t in range(x.shape[0]):
        z, s = cell(x[t], s)
        out.append(z)
    return torch.stack(out), s


@pytest.mark.parametrize("backend", FAST)
def test_lif_matches_norse_lifbox(backend):
    x = _input(60, 4, 8, "lif", seed=3)
    x2 = x.detach().clone().requires_grad_()
    norse = _norse()
    cell = norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.tensor(100.0),
                                                   v_leak=torch.tensor(0.0),
                                                   v_th=torch.tensor(1.0),
                                                   v_reset=torch.tensor(0.0), method="super"),
                            dt=1e-3)
    zn, sn = _norse_run(cell, x2)
    # Norse's "super" surrogate is 1 / (|u| + 1)²: FastSigmoid with height 1, width 1
    with use_backend(backend):
        z, s = run_sequence(x, coefficients(LIFParameters(), 1e-3), FastSigmoid(1.0, 1.0))
    assert 0.05 < z.mean() < 0.95
    assert torch.equal(z, zn)
    _close(s.v, sn.v)
    w = torch.linspace(-1, 1, z.numel()).view_as(z)
    (g,) = torch.autograd.grad((z * w).sum() + (s.v ** 2).sum(), x)
    (gn,) = torch.autograd.grad((zn * w).sum() + (sn.v ** 2).sum(), x2)
    _close(g, gn)


@pytest.mark.parametrize("backend", FAST)
def test_if_matches_norse_iaf(backend):
    x = _input(60, 4, 8, "if", seed=4)
    x2 = x.detach().clone().requires_grad_()
    norse = _norse()
    cell = norse.IAFCell(norse.IAFParameters(v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0),
                                             method="super"))
    zn, sn = _norse_run(cell, x2)
    with use_backend(backend):
        z, s = run_sequence(x, coefficients(IFParameters(), 1e-3), FastSigmoid(1.0, 1.0))
    assert 0.05 < z.mean() < 0.95
    assert torch.equal(z, zn)
    _close(s.v, sn.v)
    w = torch.linspace(-1, 1, z.numel()).view_as(z)
    (g,) = torch.autograd.grad((z * w).sum() + (s.v ** 2).sum(), x)
    (gn,) = torch.autograd.grad((zn * w).sum() + (sn.v ** 2).sum(), x2)
    _close(g, gn)


@pytest.mark.parametrize("backend", FAST)
def test_cubalif_matches_documented_step_order(backend):
    """functional.py: i ← i + β(x − i) first, then v ← v + α(v_leak − v + i), spike, reset."""
    norse = _norse()
    alpha, beta, v_th, v_leak = 0.1, 0.2, 1.0, 0.1
    x = _input(60, 4, 8, "cuba", seed=6)
    x2 = x.detach().clone().requires_grad_()
    sur = FastSigmoid(1.0, 1.0)
    i = v = torch.zeros(4, 8)
    out = []
    for t in range(x.shape[0]):  # written from the continuous form, independent of Coefficients
        i = i + beta * (x2[t] - i)
        v = v + alpha * (v_leak - v + i)
        z = norse.functional.threshold.threshold(v - v_th, "super", torch.tensor(100.0))
        v = (1 - z) * v
        out.append(z)
    zn = torch.stack(out)
    p = CubaLIFParameters(tau_syn_inv=200.0, tau_mem_inv=100.0, v_th=v_th, v_leak=v_leak)
    with use_backend(backend):
        zz, s = run_sequence(x, coefficients(p, 1e-3), sur)
    assert 0.05 < zz.mean() < 0.95
    assert torch.equal(zz, zn)
    _close(s.v, v)
    _close(s.i, i)
    w = torch.linspace(-1, 1, zz.numel()).view_as(zz)
    (g,) = torch.autograd.grad((zz * w).sum() + (s.v ** 2).sum(), x)
    (gn,) = torch.autograd.grad((zn * w).sum() + (v ** 2).sum(), x2)
    _close(g, gn)


# --- sparse first layer ---------------------------------------------------------------------


def _mlp():
    torch.manual_seed(0)
    return SpikingSequential(nn.Linear(40, 16), LIF(), nn.Linear(16, 5), LIF())


@pytest.fixture(params=["compiled", "fallback"])
def sparse_impl(request, monkeypatch):
    """Run the sparse path through the C++ extension and through the embedding_bag fallback."""
    from neurodeploy.neurons import sequential

    if request.param == "fallback":
        monkeypatch.setattr(sequential._scan_cpp, "load", lambda: None)
    elif _scan_cpp.load() is None:
        pytest.skip("the C++ extension cannot be built here")
    return sequential


def test_sparse_first_layer_equals_dense(sparse_impl, monkeypatch):
    x = (torch.rand(30, 4, 40, generator=torch.Generator().manual_seed(1)) < 0.08).float()
    sparse, dense = _mlp(), _mlp()
    sparse.sparse_max_density = 0.25  # as narrow as 16 outputs the automatic rule picks dense
    dense.sparse_max_density = 0.0
    taken = []
    orig = sparse_impl.sparse_binary_linear
    monkeypatch.setattr(sparse_impl, "sparse_binary_linear",
                        lambda *a: taken.append(orig(*a)) or taken[-1])
    (ys, rec_s) = sparse(x, record=True)
    (yd, rec_d) = dense(x, record=True)
    assert taken and taken[0] is not None, "sparse path was not taken"
    _close(rec_s[0], rec_d[0], rtol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(rec_s[1:], rec_d[1:]))
    w = torch.linspace(-1, 1, ys.numel()).view_as(ys)
    (ys * w).sum().backward()
    (yd * w).sum().backward()
    for ps, pd in zip(sparse.parameters(), dense.parameters()):
        _close(ps.grad, pd.grad, rtol=1e-6)


def test_sparse_path_declines_non_binary_or_dense_input(sparse_impl):
    sparse_binary_linear = sparse_impl.sparse_binary_linear
    layer = nn.Linear(10, 3)
    x = (torch.rand(5, 2, 10) < 0.1).float()
    assert sparse_binary_linear(x, layer, 0.25) is not None
    assert sparse_binary_linear(x * 0.5, layer, 0.25) is None          # not binary
    assert sparse_binary_linear(torch.ones(5, 2, 10), layer, 0.25) is None  # not sparse
    # input grad: compiled CSR path (tests/test_sparse_hidden.py); the fallback declines
    needs_grad = sparse_binary_linear(x.requires_grad_(), layer, 0.25)
    assert (needs_grad is None) == (sparse_impl._scan_cpp.load() is None)


# --- backend selection ----------------------------------------------------------------------


def test_backend_selection_errors_and_env(monkeypatch):
    with pytest.raises(ConfigError, match=r"set_backend: unknown neuron kernel backend 'fast'; expected one of auto, cpp, torch, reference"):
        kernels.set_backend("fast")
    monkeypatch.setenv(kernels.ENV_VAR, "reference")
    assert kernels.get_backend() == "reference"
    with use_backend("torch"):
        assert kernels.get_backend() == "torch"
    monkeypatch.setenv(kernels.ENV_VAR, "bogus")
    with pytest.raises(ConfigError, match="environment variable NEURODEPLOY_KERNEL"):
        kernels.get_backend()


def test_build_failure_warns_once_and_falls_back(monkeypatch):
    import torch.utils.cpp_extension as ext

    tries = []

    def broken(**kw):
        tries.append(kw["extra_cflags"])
        raise RuntimeError("no compiler")
    monkeypatch.setattr(_scan_cpp.EXTENSION, "module", None)
    monkeypatch.setattr(_scan_cpp.EXTENSION, "failed", False)
    monkeypatch.setattr(ext, "load_inline", broken)
    c = _coefs("lif")
    x = _input(10, 2, 3, "lif")
    with pytest.warns(RuntimeWarning, match="could not build the C\\+\\+ neuron scan"):
        fast = _run("auto", x, c, FastSigmoid(), "zero")
    assert ["-march=native" in f for f in tries] == [True, False]  # native, then portable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run("auto", x, c, FastSigmoid(), "zero")  # no second warning
    _assert_same(fast, _run("reference", x, c, FastSigmoid(), "zero"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_reference():
    c = coefficients(CubaLIFParameters(), 1e-3)
    c = type(c)(*[k.cuda() if k is not None else None for k in c])
    x = _input(20, 3, 6, "cuba").detach().cuda().requires_grad_()
    _assert_same(_run("auto", x, c, FastSigmoid(), "zero"),
                 _run("reference", x, c, FastSigmoid(), "zero"))


def test_output_buffers_are_reused_only_when_released():
    """The scans' large outputs come from a pool (no page faults per step); an output that is
    still referenced (spikes kept by the user, a membrane saved for backward) is never reused."""
    if _scan_cpp.load() is None or not kernels._POOL.enabled:
        pytest.skip("needs the C++ scan and torch._C._storage_Use_Count")
    kernels.release_buffers()
    c = _coefs("lif")
    x = _input(64, 32, 256, "lif")  # (T, M) = 64 × 8192 float32: 2 MiB, pooled
    with use_backend("cpp"), torch.no_grad():
        kept = run_sequence(x, c, FastSigmoid())[0]
        snapshot = kept.clone()
        second = run_sequence(x * 0.5, c, FastSigmoid())[0]
        assert kept.data_ptr() != second.data_ptr()  # still held: a new buffer
        assert torch.equal(kept, snapshot)
        ptr = second.data_ptr()
        del second
        third = run_sequence(x, c, FastSigmoid())[0]
        assert third.data_ptr() == ptr  # released: reused
    # training: outputs equal the reference across repeated steps that reuse buffers
    for _ in range(3):
        _assert_same(_run("cpp", x, c, FastSigmoid(), "zero"), _run("reference", x, c, FastSigmoid(), "zero"))
    kernels.release_buffers()
    assert not kernels._POOL.entries


def test_buffer_pool_is_bounded():
    pool = kernels._BufferPool(max_bytes=3 << 20, min_bytes=1 << 20)
    if not pool.enabled:
        pytest.skip("torch._C._storage_Use_Count missing")
    like = torch.empty(1 << 18)  # 1 MiB
    held = [pool.take(like) for _ in range(5)]  # all held: five allocations, three kept
    assert len(pool.entries) == 3 and len({h.data_ptr() for h in held}) == 5
    assert pool.take(torch.empty(10)) is None  # small: the allocator's business


def test_scalar_coefficient_arrays_are_shared_by_value():
    """0-dim coefficients expand to one shared (M,) array per value, dtype and M; a different
    value (the sign of a zero too) gets its own, and layers that differ only in their
    coefficients still equal the reference one after the other."""
    kernels._SCALAR_FLATS.clear()
    shape, m = torch.Size([3, 7]), 21
    a = kernels._flat(torch.tensor(0.9), shape, m)
    assert a is kernels._flat(torch.tensor(0.9), shape, m) and torch.equal(a, torch.full((m,), 0.9))
    assert kernels._flat(torch.tensor(0.9, dtype=torch.float64), shape, m).dtype == torch.float64
    pos, neg = kernels._flat(torch.tensor(0.0), shape, m), kernels._flat(torch.tensor(-0.0), shape, m)
    assert pos is not neg and torch.equal(torch.signbit(neg), torch.ones(m, dtype=torch.bool))
    nan = kernels._flat(torch.tensor(float("nan")), shape, m)
    assert nan.isnan().all() and nan is not kernels._flat(torch.tensor(float("nan")), shape, m)
    assert kernels._flat(torch.tensor(0.5, requires_grad=True), shape, m) is not \
        kernels._flat(torch.tensor(0.5, requires_grad=True), shape, m)  # learnable: never shared
    for _ in range(kernels._SCALAR_FLATS_MAX + 3):  # bounded
        kernels._flat(torch.rand(()), shape, m)
    assert len(kernels._SCALAR_FLATS) <= kernels._SCALAR_FLATS_MAX
    x = _input(30, 3, 7, "lif")
    for tau in (100.0, 50.0, 100.0):
        c = _coefs("lif", tau_mem_inv=tau)
        _assert_same(_run("cpp", x, c, FastSigmoid(), "zero"),
                     _run("reference", x, c, FastSigmoid(), "zero"))


def test_builds_run_this_environments_ninja(monkeypatch):
    """torch runs ``ninja`` from PATH even to load a cached build; without the venv's own
    ninja first, a venv that is not activated finds none or another version (rebuilds)."""
    import os

    import ninja

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    from neurodeploy.neurons._extension import ninja_on_path

    with ninja_on_path():
        assert os.environ["PATH"].split(os.pathsep)[0] == ninja.BIN_DIR
    assert os.environ["PATH"] == "/usr/bin:/bin"
