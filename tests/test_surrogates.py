"""Surrogate catalogue and seed methods: defining formulas at chosen points, live values,
training/eval forward, and the pure schedule and gradient-statistics functions."""

from __future__ import annotations

import math

import pytest
import torch

from neurodeploy.errors import ConfigError
from neurodeploy.neurons.functional import LIFParameters, coefficients
from neurodeploy.neurons.kernels import run_sequence, use_backend
from neurodeploy.surrogates import (
    SURROGATES,
    FastSigmoid,
    Surrogate,
    gradstats,
    make_surrogate,
    schedules,
    spike,
)

U = torch.tensor([-2.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0], dtype=torch.float64)


def _d(name, **params):
    return make_surrogate(name, **params).derivative(U)


def _close(a, b):
    torch.testing.assert_close(a, torch.as_tensor(b, dtype=a.dtype), rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------- conformance (every entry)

@pytest.mark.parametrize("name", SURROGATES.names())
def test_conformance(name):
    s = make_surrogate(name)
    assert isinstance(s, Surrogate) and s.name == name
    d = s.derivative(U)
    assert d.shape == U.shape and d.dtype == U.dtype
    assert torch.isfinite(d).all() and (d >= 0).all()
    # equality and hashing ignore live values; live values change in place
    assert s == make_surrogate(name) and hash(s) == hash(s)
    for n in s.live_names:
        t = s.current(n)
        s.live.set(n, float(t) * 2)
        assert s.current(n) is t
    # eval forward is the strict Heaviside step for every surrogate
    u = torch.tensor([-0.1, 0.0, 0.1], requires_grad=True)
    s.eval()
    assert spike(u, s).tolist() == [0.0, 0.0, 1.0]
    with torch.no_grad():
        assert spike(u, s.train(True)).tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(ConfigError, match=f"surrogate {name!r}: unknown parameter 'bogus'; allowed: "):
        make_surrogate(name, bogus=1.0)


def test_unknown_name_suggests():
    with pytest.raises(ConfigError, match="unknown surrogate 'triangel'.*Did you mean 'triangle'"):
        make_surrogate("triangel")


@pytest.mark.parametrize("name", ["sigmoid", "triangle", "rectangle", "gaussian", "arctan", "fast_sigmoid"])
def test_width_must_be_positive(name):
    with pytest.raises(ConfigError, match="width must be a number > 0, got -1"):
        make_surrogate(name, width=-1)


# --------------------------------------------------------------------- catalogue formulas

def test_catalogue_formulas():
    h = 2.0
    _close(_d("straight_through", height=h), [h] * 9)
    _close(_d("fast_sigmoid", height=h, width=0.5), h / (1 + U.abs() / 0.5) ** 2)
    s = torch.sigmoid(U / 0.5)
    _close(_d("sigmoid", height=h, width=0.5), 4 * h * s * (1 - s))
    _close(_d("arctan", height=h, width=0.5), [h / (1 + (u / 0.5) ** 2) for u in U.tolist()])
    _close(_d("triangle", height=h, width=0.5), [0, 0, 0, 1, 2, 1, 0, 0, 0])
    _close(_d("rectangle", height=h, width=0.5), [0, 0, 2, 2, 2, 2, 2, 0, 0])
    _close(_d("gaussian", height=h, width=0.5), [h * math.exp(-0.5 * (u / 0.5) ** 2) for u in U.tolist()])
    for name in ("sigmoid", "arctan", "triangle", "rectangle", "gaussian", "fast_sigmoid"):
        assert float(make_surrogate(name, height=h).derivative(torch.tensor(0.0))) == pytest.approx(h)


def test_adali_formula():
    # L = R = 1.5 (V- = -0.5, V+ = 2.5 for V_th = 1), α = 0.5, β = 0.25
    s = make_surrogate("adali", alpha=0.5, beta=0.25)
    _close(s.derivative(U), [0, 0.5 / 1.5, 0.5 / 1.5, 0.5 / 1.5, 0.25 / 1.5, 0.25 / 1.5, 0.25 / 1.5, 0.25 / 1.5, 0])
    s.live.set("left", 0.3)
    s.live.set("right", 0.3)
    _close(s.derivative(U), [0, 0, 0, 0.5 / 0.3, 0.25 / 0.3, 0.25 / 0.3, 0, 0, 0])
    flat = make_surrogate("adali", alpha=0.5, beta=0.25, normalise=False)
    _close(flat.derivative(U), [0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0])
    # boundary convention: [V-, V_th) left, [V_th, V+] right
    _close(s.derivative(torch.tensor([-0.3, 0.3], dtype=torch.float64)), [0.5 / 0.3, 0.25 / 0.3])


def test_asy_formula():
    s = make_surrogate("asy", beta=1.0, h=0.5)
    _close(s.derivative(U), [0, 0, 0.25, 0.375, 0.5, 0.625, 0.75, 1.0, 0])
    low = make_surrogate("asy", beta=1.0, h=0.2)  # u/2 + 0.2, clamped at 0 below u = -0.4
    _close(low.derivative(U), [0, 0, 0, 0.075, 0.2, 0.325, 0.45, 0.7, 0])
    s.live.set("beta", 0.5)
    _close(s.derivative(U), [0, 0, 0, 0.25, 0.5, 0.75, 1.0, 0, 0])


def test_density_tracking():
    s = make_surrogate("triangle", width=0.5)
    s.derivative(U)
    assert s.live.density() is None  # not tracking
    s.live.track = True
    s.derivative(U)
    assert s.live.density() == pytest.approx(3 / 9)
    s.live.reset_density()
    assert s.live.density() is None


# --------------------------------------------------------------------- ASGL

def test_asgl_eval_is_heaviside_and_grad_is_dH():
    s = make_surrogate("asgl", width=2.0).eval()
    u = U.clone().requires_grad_(True)
    z = spike(u, s)
    assert z.tolist() == [float(x > 0) for x in U.tolist()]
    z.sum().backward()
    _close(u.grad, [0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0])  # 1/α on |u| ≤ α/2
    assert s.fused is False


def test_asgl_training_mixing_rule_with_fixed_mask():
    s = make_surrogate("asgl", width=2.0)
    u = U.clone().requires_grad_(True)
    mask = torch.tensor([1, 0, 1, 0, 1, 0, 1, 0, 1], dtype=torch.float64)
    analog = torch.clamp(U / 2.0 + 0.5, 0, 1)
    theta = (U > 0).double()
    out = s.spike_train(u, mask=mask)
    _close(out, mask * theta + (1 - mask) * analog)
    out.sum().backward()
    inside = (U.abs() <= 1.0).double()
    _close(u.grad, inside / 2.0)  # gradient through H_α only, masked or not
    _close(s.alpha.grad, (-(U / 4.0) * inside).sum())  # ∂H/∂α = -u/α² inside
    # p = 1: forward equals spikes exactly
    s2 = make_surrogate("asgl", width=2.0, p=1.0)
    assert spike(U.clone().requires_grad_(True), s2).tolist() == theta.tolist()


def test_asgl_sigmoid_variant_and_random_mask():
    s = make_surrogate("asgl", width=2.0, forward="sigmoid", p=0.5)
    u = torch.zeros(20000, dtype=torch.float64) + 0.3
    torch.manual_seed(0)
    out = spike(u, s)  # training (flag True, grad enabled)
    analog = float(torch.sigmoid(torch.tensor(4 * 0.3 / 2.0)))
    frac_spike = float((out == 1.0).double().mean())
    assert frac_spike == pytest.approx(0.5, abs=0.02)
    values = sorted(torch.unique(out.detach()).tolist())
    assert len(values) == 2 and values[0] == pytest.approx(analog) and values[1] == 1.0
    with pytest.raises(ConfigError, match="forward must be one of clip, sigmoid, got 'tanh'"):
        make_surrogate("asgl", forward="tanh")


@pytest.mark.parametrize("backend", ["auto", "cpp", "torch", "reference"])
def test_unfused_surrogate_gets_its_noisy_forward_on_every_backend(backend):
    """Contract with neurodeploy.neurons.kernels: fused = False → noisy forward, grad to α
    (the C++ scan computes it; other backends run the reference loop)."""
    s = make_surrogate("asgl", width=4.0, p=0.0)
    c = coefficients(LIFParameters(tau_mem_inv=100.0), 1e-3)
    x = torch.full((4, 2, 3), 5.0, requires_grad=True)  # v' = 0.5 → u = -0.5 → H = 0.375
    with use_backend(backend):
        z, _ = run_sequence(x, c, s)
    assert not set(torch.unique(z.detach()).tolist()) <= {0.0, 1.0}  # analog values present
    z.sum().backward()
    assert s.alpha.grad is not None and float(s.alpha.grad) != 0.0


# --------------------------------------------------------------------- live values and kernels

def test_live_values_reach_the_kernel_without_new_tensors():
    s = make_surrogate("sigmoid", width=0.5)
    c = coefficients(LIFParameters(tau_mem_inv=100.0), 1e-3)
    x = torch.linspace(0, 40, 12).reshape(4, 1, 3).requires_grad_(True)
    grads = []
    for w in (0.5, 0.1):
        s.live.set("width", w)
        x.grad = None
        z, _ = run_sequence(x, c, s)
        z.sum().backward()
        grads.append(x.grad.clone())
    assert not torch.allclose(grads[0], grads[1])


def test_fast_sigmoid_fields_are_initial_values():
    s = FastSigmoid(height=1.0, width=0.5)
    s.live.set("width", 0.25)
    assert s.width == 0.5 and float(s.current("width")) == 0.25
    assert s.params() == {"height": 1.0, "width": 0.5}


# --------------------------------------------------------------------- schedules

def test_adali_schedule_values():
    lin = [schedules.adali_distance(k, 5, 1.5, 0.2, "linear") for k in range(5)]
    assert lin == pytest.approx([1.5, 1.2, 0.9, 0.6, 0.3])
    log = [schedules.adali_distance(k, 5, 1.5, 0.2, "log") for k in range(5)]
    assert log == pytest.approx([1.5 * (1 - 0.8 * math.log(1 + k) / math.log(5)) for k in range(5)])
    assert log[-1] == pytest.approx(0.3) and log[1] < lin[1]  # log shrinks faster early
    assert schedules.adali_distance(100, 500, 1.5, 0.2, "log") == pytest.approx(
        1.5 * (1 - 0.8 * math.log(101) / math.log(500)))


def test_slope_schedules():
    ks = [schedules.slope_interval(e, 10, 1, 100, 5) for e in range(10)]
    assert ks == pytest.approx([1, 1, 25.75, 25.75, 50.5, 50.5, 75.25, 75.25, 100, 100])
    assert schedules.slope_interval(9, 10, 1, 100, 3, "log") == pytest.approx(100)
    assert schedules.slope_interval(4, 10, 1, 100, 3, "log") == pytest.approx(10)
    # k = (1/10) Σ [0.5 r + 0.5 r'] with r_-1 = 0: history 40, 60 → (0.5·40+0.5·40 + 0.5·60+0.5·20)/10
    assert schedules.slope_adaptive([40, 60]) == pytest.approx(8.0)
    assert schedules.slope_adaptive([]) == 1.0
    assert schedules.slope_adaptive([100.0] * 30) == pytest.approx(50.0)
    assert schedules.slope_adaptive([1000.0] * 30) == 100.0  # kept in [k_min, k_max]


def test_asgl_p_milestones():
    # SHD row of Table 7: p = 0.8, ζ = 0.9, milestones 30, 70, 90, 95
    ms = [30, 70, 90, 95]
    assert schedules.asgl_p(0, 0.8, 0.9, ms) == pytest.approx(0.8)
    assert schedules.asgl_p(28, 0.8, 0.9, ms) == pytest.approx(0.8)
    assert schedules.asgl_p(29, 0.8, 0.9, ms) == pytest.approx(1 - 0.2 * 0.9)
    assert schedules.asgl_p(99, 0.8, 0.9, ms) == pytest.approx(1 - 0.2 * 0.9 ** 4)


# --------------------------------------------------------------------- gradient statistics

def test_sgv_tgc_cv_by_hand():
    d_last = torch.tensor([1.0, -1.0, 3.0, 1.0])  # mean 1, Var 2, Mean|.| 1.5
    assert gradstats.sgv(d_last) == pytest.approx(2 / 1.5)
    assert gradstats.sgv(torch.zeros(4)) == math.inf
    delta = torch.tensor([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]])
    assert gradstats.tgc(delta) == pytest.approx([1 / math.sqrt(2), -1.0])
    assert gradstats.mean_tgc(delta) == pytest.approx((1 / math.sqrt(2) - 1) / 2)
    assert gradstats.tgc(torch.tensor([[0.0, 0.0], [1.0, 0.0]])) == [0.0]
    assert gradstats.cv(d_last) == pytest.approx(math.sqrt(2) / 1.5)
    assert gradstats.cosine(torch.tensor([1.0, 0.0]), torch.tensor([2.0, 0.0])) == pytest.approx(1.0)
