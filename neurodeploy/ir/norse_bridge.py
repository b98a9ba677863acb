"""Norse front end: a ``norse.torch.SequentialState`` of cells ⇄ our ``SpikingSequential``.

:func:`from_norse` converts each module to our layer with the same parameters and the same step
equations (Norse 1.1 source, facts.md §4/§11), so the converted model trains with our surrogates
and C++ scan kernels; :func:`to_norse` builds the Norse module back (same classes, trained
parameters). Norse runs one step per call on (B, …); ours runs the whole sequence (T, B, …):
:func:`run_norse` loops a Norse model over T for comparisons.

============================  ======================================================================
Norse                         ours
============================  ======================================================================
``nn.Linear``, ``nn.Conv2d``  the same module (copied; a bias only where Norse had one)
``nn.Flatten(1, -1)``         ``nn.Flatten`` (per step: (B, C, H, W) → (B, C·H·W))
``nn.AvgPool2d`` (no pad)     the same module (exact; NIR AvgPool2d; not mappable to every target)
``LIFBoxCell``                ``LIF``: ``v ← v + α(v_leak − v + x)``
``LIFCell``                   ``CubaLIF(current_jump=True)``: ``i ← (1 − β)i + x`` before the voltage
                              step (Norse adds the input without β; NIR: w_in = τ_syn/dt)
``IAFCell``                   ``IF``: ``v ← v + x`` (Norse ignores dt too)
``LIFRecurrentCell``          ``nn.Linear(bias=False)`` (its input weights) + recurrent
                              ``CubaLIF(current_jump=True)`` (its recurrent weights; ``autapses=False``
                              keeps the diagonal at 0 and without gradient, as Norse does)
``LICell`` (last only)        ``CubaLI(current_jump=True)``: non-spiking readout returning v
============================  ======================================================================

Refused (``UnsupportedNodeError`` naming the module): ``nn.MaxPool2d`` (no NIR node, no hardware
mapping), any other module, ``v_leak ≠ 0`` (Norse starts v at v_leak; we start at 0),
``IAFCell`` with ``v_reset ≠ 0`` (it starts v at v_reset), a Norse surrogate other than ``super``
when no ``surrogate`` is given. Norse's ``super`` derivative is ``1/(|u| + 1)²`` whatever its
``alpha`` (facts.md §9): our ``FastSigmoid(height=1, width=1)``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from neurodeploy.errors import UnsupportedNodeError
from neurodeploy.neurons import IF, LIF, CubaLI, CubaLIF, SpikingNeuron, SpikingSequential
from neurodeploy.neurons.functional import (
    CubaLIFParameters,
    CubaLIParameters,
    IFParameters,
    LIFParameters,
)
from neurodeploy.surrogates.base import FastSigmoid, Surrogate

SUPPORTED = ("Linear, Conv2d, Flatten(start_dim=1), AvgPool2d (no padding), LIFBoxCell, LIFCell, IAFCell, "
             "LIFRecurrentCell, LICell (last)")


def _t(value) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float32).detach().clone()


def _where(i: int, m: nn.Module) -> str:
    return f"Norse model layer {i} ({type(m).__module__}.{type(m).__name__})"


def _zero(i: int, m: nn.Module, name: str, value, why: str) -> None:
    if bool((_t(value) != 0).any()):
        raise UnsupportedNodeError(f"{_where(i, m)}: {name} = {float(_t(value).mean()):g} ≠ 0 is not "
                                   f"supported ({why}); set {name} = 0")


def _surrogate(i: int, m: nn.Module, surrogate: Surrogate | None) -> Surrogate:
    if surrogate is not None:
        return copy.deepcopy(surrogate)
    method = getattr(m.p, "method", "super")
    if method != "super":
        raise UnsupportedNodeError(f"{_where(i, m)}: Norse surrogate method {method!r} has no equivalent "
                                   "here; pass surrogate=… (e.g. neurodeploy.surrogates.make_surrogate('fast_sigmoid'))")
    return FastSigmoid(height=1.0, width=1.0)  # Norse's SuperSpike ignores alpha: 1/(|u|+1)²


def _reset_mode(i: int, m: nn.Module) -> str:
    from norse.torch.functional.reset import reset_subtract, reset_value

    method = getattr(m.p, "reset_method", reset_value)
    if method is reset_value:
        return "zero"
    if method is reset_subtract:
        return "subtract"
    raise UnsupportedNodeError(f"{_where(i, m)}: reset_method {getattr(method, '__name__', method)!r} is "
                               "not supported; use reset_value or reset_subtract")


def from_norse(model: nn.Module, surrogate: Surrogate | None = None) -> SpikingSequential:
    """Our trainable model of a Norse ``SequentialState`` (or ``nn.Sequential``) of the modules in
    the table above; the Norse model is not modified. ``surrogate``: used by every neuron
    (default: Norse's own ``super``, i.e. ``FastSigmoid(1, 1)``)."""
    import norse.torch as norse

    if not isinstance(model, nn.Sequential):
        raise UnsupportedNodeError(f"from_norse: expected norse.torch.SequentialState (or nn.Sequential), "
                                   f"got {type(model).__name__}")
    layers: list[nn.Module] = []
    mods = list(model)
    for i, m in enumerate(mods):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            layers.append(copy.deepcopy(m))
        elif isinstance(m, nn.Flatten):
            if (m.start_dim, m.end_dim) != (1, -1):
                raise UnsupportedNodeError(f"{_where(i, m)}: Flatten({m.start_dim}, {m.end_dim}); only "
                                           "Flatten(start_dim=1, end_dim=-1) (per step, batch first) is supported")
            layers.append(nn.Flatten())
        elif isinstance(m, nn.AvgPool2d):
            if m.padding not in (0, (0, 0)) or m.ceil_mode or m.divisor_override is not None:
                raise UnsupportedNodeError(f"{_where(i, m)}: only AvgPool2d without padding, ceil_mode or "
                                           "divisor_override is supported")
            layers.append(copy.deepcopy(m))
        elif isinstance(m, nn.MaxPool2d):
            raise UnsupportedNodeError(f"{_where(i, m)}: max pooling has no NIR node and no hardware mapping; "
                                       "use nn.AvgPool2d (or a strided Conv2d)")
        elif isinstance(m, norse.LIFBoxCell):
            p = m.p
            _zero(i, m, "v_leak", p.v_leak, "Norse starts v at v_leak, we start at 0")
            layers.append(LIF(LIFParameters(_t(p.tau_mem_inv), _t(p.v_th), _t(p.v_leak), _t(p.v_reset)),
                              dt_s=m.dt, reset=_reset_mode(i, m), surrogate=_surrogate(i, m, surrogate)))
        elif isinstance(m, norse.LIFCell):
            p = m.p
            _zero(i, m, "v_leak", p.v_leak, "Norse starts v at v_leak, we start at 0")
            layers.append(CubaLIF(CubaLIFParameters(_t(p.tau_syn_inv), _t(p.tau_mem_inv), _t(p.v_th),
                                                    _t(p.v_leak), _t(p.v_reset)),
                                  dt_s=m.dt, reset="zero", surrogate=_surrogate(i, m, surrogate),
                                  current_jump=True))
        elif isinstance(m, norse.IAFCell):
            p = m.p
            _zero(i, m, "v_reset", p.v_reset, "Norse's IAFCell starts v at v_reset, we start at 0")
            layers.append(IF(IFParameters(_t(p.v_th), _t(p.v_reset)), dt_s=m.dt, reset="zero",
                             surrogate=_surrogate(i, m, surrogate)))
        elif isinstance(m, norse.LIFRecurrentCell):
            p = m.p
            _zero(i, m, "v_leak", p.v_leak, "Norse starts v at v_leak, we start at 0")
            w_in = m.input_weights.detach()
            hidden, n_in = w_in.shape
            lin = nn.Linear(n_in, hidden, bias=False)
            with torch.no_grad():
                lin.weight.copy_(w_in)
            neuron = CubaLIF(CubaLIFParameters(_t(p.tau_syn_inv), _t(p.tau_mem_inv), _t(p.v_th),
                                               _t(p.v_leak), _t(p.v_reset)),
                             dt_s=m.dt, reset="zero", surrogate=_surrogate(i, m, surrogate),
                             current_jump=True, recurrent_features=hidden, autapses=bool(m.autapses))
            with torch.no_grad():
                neuron.w_rec.copy_(m.recurrent_weights.detach())
            layers += [lin, neuron]
        elif isinstance(m, norse.LICell):
            if i != len(mods) - 1:
                raise UnsupportedNodeError(f"{_where(i, m)}: a non-spiking LICell is supported only as the "
                                           "last layer (readout)")
            p = m.p
            _zero(i, m, "v_leak", p.v_leak, "Norse starts v at v_leak, we start at 0")
            resets = {x.reset for x in layers if isinstance(x, SpikingNeuron)}
            layers.append(CubaLI(CubaLIParameters(_t(p.tau_syn_inv), _t(p.tau_mem_inv), _t(p.v_leak)),
                                 dt_s=m.dt, reset=resets.pop() if len(resets) == 1 else "zero",
                                 surrogate=FastSigmoid(), current_jump=True))
        else:
            raise UnsupportedNodeError(f"{_where(i, m)} is not supported; supported: {SUPPORTED}")
    if not any(isinstance(x, SpikingNeuron) for x in layers):
        raise UnsupportedNodeError("from_norse: the model has no Norse neuron cell")
    return SpikingSequential(*layers)


def _norse_surrogate(layer: SpikingNeuron) -> dict:
    return {"method": "super", "alpha": torch.as_tensor(100.0)}


def to_norse(model: SpikingSequential) -> nn.Module:
    """A ``norse.torch.SequentialState`` computing what ``model`` computes (same spikes; Norse's
    cells use their ``super`` surrogate, so only the training gradients may differ). Refuses our
    layers without a Norse cell of the same equations (CubaLIF with β on the input, SumPool2d,
    non-zero v_leak, subtract reset on LIFCell/IAFCell, recurrent LIF/IF)."""
    import norse.torch as norse
    from norse.torch.functional.reset import reset_subtract, reset_value

    mods = list(model)
    out: list[nn.Module] = []
    i = 0
    while i < len(mods):
        m = mods[i]
        where = f"layer {i} ({type(m).__name__})"
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        if isinstance(m, SpikingNeuron):
            p = m.p
            if "v_leak" in p._fields and bool((p.v_leak != 0).any()):
                raise UnsupportedNodeError(f"to_norse: {where}: v_leak ≠ 0 (Norse would start v at v_leak)")
            if m.w_rec is not None:
                raise UnsupportedNodeError(f"to_norse: {where}: a recurrent neuron maps to Norse only as "
                                           "Linear(bias=False) + CubaLIF(current_jump=True) → LIFRecurrentCell")
            if isinstance(m, (CubaLIF, IF, CubaLI)) and m.reset != "zero" and not isinstance(m, CubaLI):
                raise UnsupportedNodeError(f"to_norse: {where}: Norse's {'LIFCell' if isinstance(m, CubaLIF) else 'IAFCell'} "
                                           "resets to v_reset only; reset = 'subtract' has no Norse cell")
            if isinstance(m, (CubaLIF, CubaLI)) and not m.current_jump:
                raise UnsupportedNodeError(f"to_norse: {where}: NIR-style input gain β has no Norse cell "
                                           "(LIFCell/LICell add the input without β); use current_jump=True")
            sur = _norse_surrogate(m)
            t = {k: getattr(m, k).detach().clone() for k in p._fields}
            if isinstance(m, LIF):
                cell = norse.LIFBoxCell(norse.LIFBoxParameters(
                    tau_mem_inv=t["tau_mem_inv"], v_leak=t["v_leak"], v_th=t["v_th"], v_reset=t["v_reset"],
                    reset_method=reset_value if m.reset == "zero" else reset_subtract, **sur), dt=m.dt_s)
            elif isinstance(m, CubaLIF):
                cell = norse.LIFCell(norse.LIFParameters(
                    tau_syn_inv=t["tau_syn_inv"], tau_mem_inv=t["tau_mem_inv"], v_leak=t["v_leak"],
                    v_th=t["v_th"], v_reset=t["v_reset"], **sur), dt=m.dt_s)
            elif isinstance(m, IF):
                cell = norse.IAFCell(norse.IAFParameters(v_th=t["v_th"], v_reset=t["v_reset"], **sur), dt=m.dt_s)
            else:
                cell = norse.LICell(norse.LIParameters(tau_syn_inv=t["tau_syn_inv"], tau_mem_inv=t["tau_mem_inv"],
                                                       v_leak=t["v_leak"]), dt=m.dt_s)
            out.append(cell)
        elif (isinstance(m, nn.Linear) and m.bias is None and isinstance(nxt, CubaLIF)
              and nxt.w_rec is not None):
            p = nxt.p
            if bool((p.v_leak != 0).any()) or nxt.reset != "zero" or not nxt.current_jump:
                raise UnsupportedNodeError(f"to_norse: layer {i + 1} (recurrent CubaLIF): LIFRecurrentCell needs "
                                           "v_leak = 0, reset = 'zero' and current_jump=True")
            cell = norse.LIFRecurrentCell(
                m.in_features, m.out_features,
                p=norse.LIFParameters(tau_syn_inv=nxt.tau_syn_inv.detach().clone(),
                                      tau_mem_inv=nxt.tau_mem_inv.detach().clone(),
                                      v_leak=nxt.v_leak.detach().clone(), v_th=nxt.v_th.detach().clone(),
                                      v_reset=nxt.v_reset.detach().clone(), **_norse_surrogate(nxt)),
                input_weights=nn.Parameter(m.weight.detach().clone()),
                recurrent_weights=nn.Parameter(nxt.w_rec.detach().clone()),
                autapses=nxt.autapses, dt=nxt.dt_s)
            out.append(cell)
            i += 1
        elif isinstance(m, (nn.Linear, nn.Conv2d, nn.AvgPool2d)):
            out.append(copy.deepcopy(m))
        elif isinstance(m, nn.Flatten):
            out.append(nn.Flatten(1, -1))
        else:
            raise UnsupportedNodeError(f"to_norse: {where} has no Norse module with the same equations")
        i += 1
    return norse.SequentialState(*out)


@torch.no_grad()
def run_norse(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run a Norse ``SequentialState`` step by step over ``x`` (T, B, …); outputs (T, B, …)."""
    state = None
    outs = []
    for t in range(x.shape[0]):
        y, state = model(x[t], state)
        outs.append(y)
    return torch.stack(outs)
