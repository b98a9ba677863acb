"""Surrogates evaluated inside the C++ scan (neurodeploy.neurons.kernels.SURROGATE_KINDS) and
ASGL's noisy training forward in C++ must equal the reference per-step loop, which calls each
surrogate's eager ``derivative`` / ``spike_train``."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from neurodeploy.neurons import _scan_cpp, kernels
from neurodeploy.neurons.functional import CubaLIFParameters, LIFParameters, coefficients
from neurodeploy.neurons.kernels import SURROGATE_KINDS, inline_surrogate, run_sequence, use_backend
from neurodeploy.surrogates.base import make_surrogate
from neurodeploy.surrogates.catalogue import Triangle

pytestmark = pytest.mark.skipif(_scan_cpp.load() is None, reason="needs the C++ scan (compiler)")

SURROGATES = {  # name → parameters chosen so every branch of each formula is visited
    "fast_sigmoid": {"height": 1.3, "width": 0.2},
    "sigmoid": {"height": 0.7, "width": 0.3},
    "arctan": {"height": 1.1, "width": 0.4},
    "triangle": {"height": 0.9, "width": 0.5},
    "rectangle": {"height": 1.0, "width": 0.25},
    "gaussian": {"height": 1.2, "width": 0.3},
    "straight_through": {"height": 0.8},
    "adali": {"alpha": 0.5, "beta": 0.3, "left": 0.6, "right": 0.4},
    "asy": {"beta": 0.7, "h": 0.3},
    "asgl": {"width": 0.8, "forward": "clip"},
    "asgl-sigmoid": {"width": 0.8, "forward": "sigmoid"},
}


def _make(key):
    return make_surrogate(key.split("-")[0], **SURROGATES[key])


def _close(a, b, rtol=1e-5):
    scale = float(b.detach().abs().max()) if b.numel() else 0.0
    torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * max(scale, 1e-6))


def _case(kind, dtype, seed=0):
    p = LIFParameters(tau_mem_inv=150.0, v_leak=0.1) if kind == "lif" else \
        CubaLIFParameters(tau_syn_inv=300.0, tau_mem_inv=150.0)
    c = coefficients(p, 1e-3)
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(24, 3, 41, generator=g, dtype=dtype) * 12.0 + 5.0).requires_grad_()
    return c, x


def _grads(z, s, leaves):
    weights = torch.linspace(-1, 1, z.numel(), dtype=z.dtype).view_as(z)
    loss = (z * weights).sum() + (s.v ** 2).sum()
    return torch.autograd.grad(loss, leaves)


def test_every_catalogue_formula_has_a_kernel_kind():
    for key in SURROGATES:
        kind = inline_surrogate(_make(key))
        assert kind is not None and kind[0] == SURROGATE_KINDS[_make(key).kernel_form()[0]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("kind", ["lif", "cuba"])
@pytest.mark.parametrize("key", sorted(SURROGATES))
def test_inline_derivative_equals_reference(key, kind, reset, dtype):
    sur = _make(key).eval()  # ASGL in eval: Heaviside forward, backward dH_α/du (inline)
    c, x = _case(kind, dtype)
    out = {}
    for backend in ("reference", "cpp"):
        with use_backend(backend):
            z, s = run_sequence(x, c, sur, reset)
        out[backend] = (z, s, _grads(z, s, [x])[0])
    assert torch.equal(out["cpp"][0], out["reference"][0])
    _close(out["cpp"][2], out["reference"][2])
    assert out["cpp"][2].abs().sum() > 0


def test_subclass_overriding_derivative_is_not_inlined():
    @dataclass(frozen=True)
    class Doubled(Triangle):
        def derivative(self, u):
            return 2 * super().derivative(u)

    assert inline_surrogate(Triangle()) is not None
    assert inline_surrogate(Doubled()) is None


@pytest.mark.parametrize("key", ["triangle", "adali", "asy", "rectangle"])
def test_compute_density_counted_in_kernel_equals_eager(key):
    c, x = _case("lif", torch.float32)
    counts = {}
    for backend in ("reference", "cpp"):
        sur = _make(key)
        sur.live.track = True
        with use_backend(backend):
            z, s = run_sequence(x, c, sur, "zero")
        _grads(z, s, [x])
        counts[backend] = (float(sur.live.active), float(sur.live.total))
    assert counts["cpp"] == counts["reference"]
    assert 0 < counts["cpp"][0] < counts["cpp"][1]


def _reference_noisy(x, c, sur, reset, mask):
    """The reference step loop with ASGL's training forward and a given mask (T, …)."""
    v = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        vp = c.decay_v * v + c.leak_v + c.gain_v * x[t]
        z = sur.spike_train(vp - c.v_th, mask=mask[t].to(x.dtype))
        v = vp - z * (vp - c.v_reset) if reset == "zero" else vp - z * c.v_th
        out.append(z)
    return torch.stack(out), v


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("forward", ["clip", "sigmoid"])
def test_asgl_noisy_forward_and_width_gradient_equal_reference(forward, reset, dtype):
    c, x = _case("lif", dtype)
    x = (x.detach() * 0.1).requires_grad_()  # many membranes inside the H_α window
    sur = make_surrogate("asgl", width=0.8, p=0.6, forward=forward)
    torch.manual_seed(7)
    seed = int(torch.randint(-2**62, 2**62, (), dtype=torch.int64))  # what the kernel draws
    torch.manual_seed(7)
    with use_backend("cpp"):
        z, s = run_sequence(x, c, sur, reset)
    gx, ga = _grads(z, s, [x, sur.alpha])

    t, m = x.shape[0], x[0].numel()
    mask = _scan_cpp.load().asgl_mask(t, m, seed, 0.6).view(x.shape).bool()
    z_ref, v_ref = _reference_noisy(x, c, sur, reset, mask)
    weights = torch.linspace(-1, 1, z_ref.numel(), dtype=dtype).view_as(z_ref)
    gx_ref, ga_ref = torch.autograd.grad((z_ref * weights).sum() + (v_ref ** 2).sum(),
                                         [x, sur.alpha])
    _close(z, z_ref, rtol=1e-6)
    _close(s.v, v_ref, rtol=1e-6)
    analog = (z != 0) & (z != 1)
    assert analog.any() and (z == 1).any()  # the mask really mixes analog and binary spikes
    _close(gx, gx_ref)
    _close(ga, ga_ref, rtol=1e-4)  # a sum over all T·B·N elements, in another order
    assert float(ga) != 0.0


def test_asgl_mask_probability_and_seeds():
    lib = _scan_cpp.load()
    for p in (0.0, 1.0):
        assert int(lib.asgl_mask(50, 100, 3, p).sum()) == int(p * 5000)
    m = lib.asgl_mask(200, 500, 3, 0.3).double()
    assert float(m.mean()) == pytest.approx(0.3, abs=0.01)
    assert float(m[1:].mul(m[:-1]).mean()) == pytest.approx(0.09, abs=0.01)  # steps independent
    assert not torch.equal(lib.asgl_mask(20, 30, 3, 0.5), lib.asgl_mask(20, 30, 4, 0.5))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = lib.asgl_mask(64, 1000, 11, 0.5)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, lib.asgl_mask(64, 1000, 11, 0.5))


def test_asgl_falls_back_to_the_loop_with_learnable_coefficients(monkeypatch):
    c, x = _case("lif", torch.float32)
    c = c._replace(decay_v=c.decay_v.detach().clone().requires_grad_())
    sur = make_surrogate("asgl", p=0.5)
    calls = []
    real = kernels.reference_sequence
    monkeypatch.setattr(kernels, "reference_sequence", lambda *a, **k: calls.append(1) or real(*a, **k))
    with use_backend("cpp"):
        run_sequence(x, c, sur, "zero")
    assert calls


def test_unfused_surrogate_without_a_kernel_form_runs_the_reference_loop(monkeypatch):
    """The surrogate interface's contract: ``fused = False`` and no ``noisy_form`` (a user's own
    training forward) → every backend runs the loop, which calls its ``spike_train``."""
    @dataclass(frozen=True)
    class Halved(Triangle):
        fused = False

        def spike_train(self, u):
            return 0.5 * super().spike_train(u)

    c, x = _case("lif", torch.float32)
    calls = []
    real = kernels.reference_sequence
    monkeypatch.setattr(kernels, "reference_sequence", lambda *a, **k: calls.append(1) or real(*a, **k))
    with use_backend("cpp"):
        z, _ = run_sequence(x, c, Halved(), "zero")
    assert calls and set(torch.unique(z.detach()).tolist()) <= {0.0, 0.5}
