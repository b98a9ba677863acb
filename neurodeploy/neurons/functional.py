"""Pure neuron step equations (forward Euler), one time step, state threaded explicitly.

All three neurons share one discrete form, so one multi-step kernel serves them all::

    i[t] = decay_i · i[t-1] + gain_i · x[t]          (CubaLIF only; otherwise i[t] = x[t])
    v'   = decay_v · v[t-1] + leak_v + gain_v · i[t]
    z[t] = H(v' − v_th)                               (strict: spike when v' > v_th)
    v[t] = v_reset where z else v'      (reset="zero")   or   v' − v_th·z   (reset="subtract")

with α = dt·τ_mem⁻¹ and β = dt·τ_syn⁻¹:

=========  ==========  ==========  ==========  =========  ========
neuron     decay_v     leak_v      gain_v      decay_i    gain_i
=========  ==========  ==========  ==========  =========  ========
LIF        1 − α       α·v_leak    α           —          —
CubaLIF    1 − α       α·v_leak    α           1 − β      β
IF         1           0           1           —          —
=========  ==========  ==========  ==========  =========  ========

These are NIR's LIF / CubaLIF (r = 1, w_in = 1) / IF (dt·r = 1) integrated exactly as
``norse.torch.from_nir`` does (docs/nir-conventions.md). Norse's ``LIFBoxCell`` is our LIF;
Norse's ``LIFCell`` differs from our CubaLIF (no β on the input, current updated after the voltage).
Time constants in seconds, their inverses in 1/s, potentials in threshold-free units (v_th = 1
by default).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from neurodeploy.surrogates.base import Surrogate, spike

RESET_MODES = ("zero", "subtract")


class LIFParameters(NamedTuple):
    """Leaky integrate-and-fire without synaptic current (Norse ``LIFBoxParameters`` names)."""

    tau_mem_inv: torch.Tensor | float = 100.0  # 1/s
    v_th: torch.Tensor | float = 1.0
    v_leak: torch.Tensor | float = 0.0
    v_reset: torch.Tensor | float = 0.0


class CubaLIFParameters(NamedTuple):
    """Current-based LIF (NIR CubaLIF; the CUBA neuron of neuromorphic chips)."""

    tau_syn_inv: torch.Tensor | float = 200.0  # 1/s
    tau_mem_inv: torch.Tensor | float = 100.0  # 1/s
    v_th: torch.Tensor | float = 1.0
    v_leak: torch.Tensor | float = 0.0
    v_reset: torch.Tensor | float = 0.0


class CubaLIParameters(NamedTuple):
    """Current-based leaky integrator, no threshold (NIR CubaLI; Norse ``LIParameters``)."""

    tau_syn_inv: torch.Tensor | float = 200.0  # 1/s
    tau_mem_inv: torch.Tensor | float = 100.0  # 1/s
    v_leak: torch.Tensor | float = 0.0


class LIParameters(NamedTuple):
    """Leaky integrator, no threshold, no synaptic current (NIR LI with r = 1)."""

    tau_mem_inv: torch.Tensor | float = 100.0  # 1/s
    v_leak: torch.Tensor | float = 0.0


class IFParameters(NamedTuple):
    """Non-leaky integrate-and-fire: each input adds to v (NIR IF with dt·r = 1)."""

    v_th: torch.Tensor | float = 1.0
    v_reset: torch.Tensor | float = 0.0


class NeuronState(NamedTuple):
    """Membrane potential ``v`` and synaptic current ``i`` (zeros for neurons without one)."""

    v: torch.Tensor
    i: torch.Tensor


class Coefficients(NamedTuple):
    """The discrete-time coefficients of the table above (tensors broadcastable to the state)."""

    decay_v: torch.Tensor
    leak_v: torch.Tensor
    gain_v: torch.Tensor
    decay_i: torch.Tensor | None  # None: no synaptic current
    gain_i: torch.Tensor | None
    v_th: torch.Tensor
    v_reset: torch.Tensor


def _t(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(float(x))


def coefficients(p: LIFParameters | CubaLIFParameters | IFParameters, dt_s: float) -> Coefficients:
    """Discrete coefficients for parameters ``p`` at time step ``dt_s`` (seconds)."""
    if isinstance(p, IFParameters):
        one = torch.ones_like(_t(p.v_th))
        return Coefficients(one, torch.zeros_like(one), one, None, None, _t(p.v_th), _t(p.v_reset))
    alpha = dt_s * _t(p.tau_mem_inv)
    decay_i = gain_i = None
    if isinstance(p, CubaLIFParameters):
        beta = dt_s * _t(p.tau_syn_inv)
        decay_i, gain_i = 1 - beta, beta
    return Coefficients(1 - alpha, alpha * _t(p.v_leak), alpha, decay_i, gain_i, _t(p.v_th), _t(p.v_reset))


def neuron_step(x: torch.Tensor, state: NeuronState, c: Coefficients, surrogate: Surrogate,
                reset: str = "zero") -> tuple[torch.Tensor, NeuronState]:
    """One step of the shared neuron form; returns (spikes, new state)."""
    if c.decay_i is not None:
        i = c.decay_i * state.i + c.gain_i * x
    else:
        i = x
    v = c.decay_v * state.v + c.leak_v + c.gain_v * i
    z = spike(v - c.v_th, surrogate)
    if reset == "zero":
        v = v - z * (v - c.v_reset)
    else:
        v = v - z * c.v_th
    return z, NeuronState(v, i if c.decay_i is not None else state.i)


def zero_state(like: torch.Tensor) -> NeuronState:
    """All-zero state shaped like one time step of input ``like`` (B, …)."""
    return NeuronState(torch.zeros_like(like), torch.zeros_like(like))
