"""Thin multi-step ``nn.Module`` shells around :mod:`neurodeploy.neurons.functional`.

Every module takes a whole sequence ``x`` of shape (T, B, …) (input currents, the output of the
preceding Linear/Conv at each step) and returns binary spikes of the same shape. State starts at
zero for each call. Parameters follow Norse's names; ``dt_s`` is explicit.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neurodeploy.errors import ConfigError
from neurodeploy.neurons.functional import (
    RESET_MODES,
    Coefficients,
    CubaLIFParameters,
    CubaLIParameters,
    IFParameters,
    LIFParameters,
    LIParameters,
    coefficients,
)
from neurodeploy.neurons.kernels import run_sequence
from neurodeploy.surrogates.base import FastSigmoid, Surrogate


class SpikingNeuron(nn.Module):
    """Common shell: parameter storage (optionally learnable), reset mode, surrogate, recurrence.

    ``recurrent_features``: if set, adds a recurrent weight ``w_rec`` (N, N) so that each step's
    input is ``x[t] + W_rec · z[t-1]`` (N must equal the neuron count of the flat feature axis).
    """

    kind = "neuron"
    spiking: bool = True  # False: a non-spiking readout (its output is the membrane, not spikes)
    _param_type: type = LIFParameters
    _learnable_tau: tuple[str, ...] = ()

    def __init__(self, p=None, *, dt_s: float = 1e-3, reset: str = "zero",
                 surrogate: Surrogate | None = None, learn_tau: bool = False,
                 learn_threshold: bool = False, recurrent_features: int | None = None):
        super().__init__()
        p = self._param_type() if p is None else p
        if not isinstance(p, self._param_type):
            raise ConfigError(f"{type(self).__name__}: parameters must be {self._param_type.__name__}")
        if reset not in RESET_MODES:
            raise ConfigError(f"{type(self).__name__}: reset must be one of {RESET_MODES}, got {reset!r}")
        if not dt_s > 0:
            raise ConfigError(f"{type(self).__name__}: dt_s must be > 0, got {dt_s}")
        self.dt_s = float(dt_s)
        self.reset = reset
        self.surrogate = surrogate or FastSigmoid()
        for name, value in p._asdict().items():
            tensor = torch.as_tensor(value, dtype=torch.float32).clone()
            learn = (learn_tau and name in self._learnable_tau) or (learn_threshold and name == "v_th")
            if learn:
                self.register_parameter(name, nn.Parameter(tensor))
            else:
                self.register_buffer(name, tensor)
        self.w_rec = None
        if recurrent_features is not None:
            w = torch.empty(recurrent_features, recurrent_features)
            nn.init.uniform_(w, -1 / math.sqrt(recurrent_features), 1 / math.sqrt(recurrent_features))
            self.w_rec = nn.Parameter(w)

    def train(self, mode: bool = True):
        """Also switch the surrogate (ASGL's noisy forward runs in training only)."""
        super().train(mode)
        self.surrogate.train(mode)
        return self

    @property
    def p(self):
        """Current parameters as the Norse-style NamedTuple."""
        return self._param_type(**{k: getattr(self, k) for k in self._param_type._fields})

    def coefficients(self):
        return coefficients(self.p, self.dt_s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, _ = run_sequence(x, self.coefficients(), self.surrogate, self.reset, w_rec=self.w_rec)
        return z

    def extra_repr(self) -> str:
        fields = ", ".join(f"{k}={float(getattr(self, k).detach().mean()):g}" for k in self._param_type._fields)
        rec = ", recurrent" if self.w_rec is not None else ""
        return f"{fields}, dt_s={self.dt_s:g}, reset={self.reset}{rec}"


class LIF(SpikingNeuron):
    """LIF without synaptic current: ``v ← v + α(v_leak − v + x)``, α = dt·τ_mem⁻¹ (NIR LIF)."""

    kind = "lif"
    _param_type = LIFParameters
    _learnable_tau = ("tau_mem_inv",)


class CubaLIF(SpikingNeuron):
    """Current-based LIF: ``i ← i + β(−i + x)``, ``v ← v + α(v_leak − v + i)`` (NIR CubaLIF; chips' CUBA neuron).

    ``current_jump=True``: the input jumps into the current without the factor β,
    ``i ← (1 − β)·i + x`` (Norse's ``LIFCell``; NIR CubaLIF with ``w_in = τ_syn/dt``). The gain
    is exactly 1 (not β·(1/β)), so the step equals Norse's to float rounding of the leak terms.
    """

    kind = "cuba_lif"
    _param_type = CubaLIFParameters
    _learnable_tau = ("tau_mem_inv", "tau_syn_inv")

    def __init__(self, p=None, *, current_jump: bool = False, autapses: bool = True, **kwargs):
        super().__init__(p, **kwargs)
        self.current_jump = bool(current_jump)
        self.autapses = bool(autapses)
        if not self.autapses and self.w_rec is not None:
            with torch.no_grad():
                self.w_rec.fill_diagonal_(0.0)

    def coefficients(self):
        c = super().coefficients()
        return c._replace(gain_i=torch.ones_like(c.gain_i)) if self.current_jump else c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w_rec = self.w_rec
        if w_rec is not None and not self.autapses:  # diagonal held at 0, no gradient (Norse autapses=False)
            w_rec = w_rec * (1 - torch.eye(w_rec.shape[0], dtype=w_rec.dtype, device=w_rec.device))
        z, _ = run_sequence(x, self.coefficients(), self.surrogate, self.reset, w_rec=w_rec)
        return z

    def extra_repr(self) -> str:
        return (super().extra_repr() + (", current_jump" if self.current_jump else "")
                + (", no autapses" if not self.autapses else ""))


class CubaLI(SpikingNeuron):
    """Non-spiking leaky readout (NIR CubaLI; Norse ``LICell`` with ``current_jump=True``):
    ``i ← (1 − β)·i + g·x`` (g = β, or 1 with ``current_jump``), ``v ← v + α(v_leak − v + i)``;
    returns the membrane ``v`` (T, B, …) instead of spikes. Only as the last layer: the trainer's
    readout then sums ``v`` over time (cross-entropy on Σ_t v). Runs a per-step autograd loop
    (a readout is small); ``reset`` and ``v_th`` are unused."""

    kind = "cuba_li"
    spiking = False
    _param_type = CubaLIParameters
    _learnable_tau = ("tau_mem_inv", "tau_syn_inv")

    def __init__(self, p=None, *, current_jump: bool = False, **kwargs):
        super().__init__(p, **kwargs)
        if self.w_rec is not None:
            raise ConfigError("CubaLI: a non-spiking readout cannot be recurrent")
        self.current_jump = bool(current_jump)

    def coefficients(self):
        alpha = self.dt_s * self.tau_mem_inv
        beta = self.dt_s * self.tau_syn_inv
        gain_i = torch.ones_like(beta) if self.current_jump else beta
        inf = torch.full_like(alpha, float("inf"))
        return Coefficients(1 - alpha, alpha * self.v_leak, alpha, 1 - beta, gain_i, inf, torch.zeros_like(alpha))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.coefficients()
        i = torch.zeros_like(x[0])
        v = torch.zeros_like(x[0])
        out = []
        for t in range(x.shape[0]):
            i = c.decay_i * i + c.gain_i * x[t]
            v = c.decay_v * v + c.leak_v + c.gain_v * i
            out.append(v)
        return torch.stack(out)

    def extra_repr(self) -> str:
        fields = ", ".join(f"{k}={float(getattr(self, k).detach().mean()):g}" for k in self._param_type._fields)
        return f"{fields}, dt_s={self.dt_s:g}" + (", current_jump" if self.current_jump else "")


class LI(SpikingNeuron):
    """Non-spiking leaky integrator readout (NIR ``LI`` with r = 1):
    ``v ← v + α(v_leak − v + x)``, α = dt·τ_mem⁻¹; returns the membrane ``v`` (T, B, …).

    The readout of ``[model] readout = "membrane-mean"`` / ``"membrane-max"``
    (:mod:`neurodeploy.neurons.readout` turns ``v`` into class scores). Only as the last layer;
    ``reset`` is unused, it has no threshold and cannot be recurrent. Runs a per-step loop (a
    readout is small)."""

    kind = "li"
    spiking = False
    _param_type = LIParameters
    _learnable_tau = ("tau_mem_inv",)

    def __init__(self, p=None, **kwargs):
        super().__init__(p, **kwargs)
        if self.w_rec is not None:
            raise ConfigError("LI: a non-spiking readout cannot be recurrent")

    def coefficients(self):
        alpha = self.dt_s * self.tau_mem_inv
        return Coefficients(1 - alpha, alpha * self.v_leak, alpha, None, None,
                            torch.full_like(alpha, float("inf")), torch.zeros_like(alpha))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.coefficients()
        v = torch.zeros_like(x[0])
        out = []
        for t in range(x.shape[0]):
            v = c.decay_v * v + c.leak_v + c.gain_v * x[t]
            out.append(v)
        return torch.stack(out)

    def extra_repr(self) -> str:
        fields = ", ".join(f"{k}={float(getattr(self, k).detach().mean()):g}" for k in self._param_type._fields)
        return f"{fields}, dt_s={self.dt_s:g}"


class IF(SpikingNeuron):
    """Integrate-and-fire: ``v ← v + x`` (NIR IF with dt·r = 1)."""

    kind = "if"
    _param_type = IFParameters


class SumPool2d(nn.Module):
    """Sum over non-overlapping windows (NIR SumPool2d); input (N, C, H, W)."""

    def __init__(self, kernel_size: int, stride: int | None = None):
        super().__init__()
        self.kernel_size = int(kernel_size)
        self.stride = int(stride or kernel_size)

    def forward(self, x):
        k = self.kernel_size
        return nn.functional.avg_pool2d(x, k, self.stride) * (k * k)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


NEURON_TYPES: dict[str, type[SpikingNeuron]] = {"lif": LIF, "cuba_lif": CubaLIF, "if": IF}
"""The spiking neurons a ``[model] neuron`` config names (the readout :class:`CubaLI` is not one)."""
