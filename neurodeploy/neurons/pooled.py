"""A conv layer's neuron scan fused with the ``SumPool2d`` after it (CPU, C++).

In a chain ``… → Conv2d → LIF → SumPool2d → …`` the spikes (T, B, C, H, W) are read by the pool
only. :class:`~neurodeploy.neurons.sequential.SpikingSequential` then runs the neuron scan and the
non-overlapping k×k sum pool as one pass (``pool_scan_forward`` in ``scan.cpp``): per plane of
H·W neurons and per step, the scan's spikes go into a plane-sized scratch buffer and straight
into the pooled counts (T, B, C, H/k, W/k); the full-size spikes are never written to memory,
and the pool's own pass over them (``avg_pool2d`` forward, its backward with a zero-filled
full-size gradient) disappears. The backward (``pool_scan_backward``) reads ∂L/∂(pooled counts)
and hands each neuron its window's gradient inside the reverse scan.

Exact: the step is the C++ scan's (same operations, same order; ``v'`` saved as before), the
spikes are 0/1, so each pooled count is a small integer whatever the order of the sum, equal to
``SumPool2d``'s ``avg_pool2d(z, k)·k²`` bit for bit when k is a power of two (for other k,
``SumPool2d``'s ``/k²·k²`` can round by one ulp; the fused count is the exact sum). Each neuron
of a window gets the window's gradient g; ``SumPool2d``'s backward computes ``(g·k²)/k²``, the
same bits for k a power of two, within one rounding otherwise.

Where it runs: a spiking neuron (``LIF``/``CubaLIF``/``IF``, no recurrent weight, no learnable
coefficient, Heaviside training spikes) on a (T, B, C, H, W) CPU float32/float64 input with the
``cpp`` or ``auto`` backend, followed by a ``SumPool2d`` with ``stride == kernel_size`` (alone,
or first in an ``nn.Sequential``), neither with forward hooks, outside ``record=True``. Anywhere
else :func:`pooled_spikes` returns ``None`` and the layers run one after the other (the PyTorch
fallback included).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn.modules import module as _module

from neurodeploy.neurons import _scan_cpp
from neurodeploy.neurons import kernels as _k
from neurodeploy.neurons.functional import NeuronState
from neurodeploy.neurons.modules import CubaLIF, SpikingNeuron, SumPool2d


def _hooked(m: nn.Module) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks)


def _global_hooks() -> bool:
    return bool(_module._global_forward_hooks or _module._global_forward_pre_hooks)


def pool_after(layer: nn.Module | None) -> tuple[int, list[nn.Module]] | None:
    """``(k, rest)`` if ``layer`` starts with a non-overlapping ``SumPool2d`` of window k (``rest``:
    the layers after it inside an ``nn.Sequential``, run on the pooled rows), else ``None``."""
    rest: list[nn.Module] = []
    if type(layer) is nn.Sequential and len(layer) > 0 and not _hooked(layer):
        rest = list(layer)[1:]
        layer = layer[0]
    if type(layer) is not SumPool2d or _hooked(layer) or layer.stride != layer.kernel_size:
        return None
    return layer.kernel_size, rest


def fusable_neuron(layer: nn.Module) -> bool:
    """A spiking neuron whose forward is the plain ``run_sequence`` of its coefficients."""
    return (isinstance(layer, SpikingNeuron) and layer.spiking and layer.w_rec is None
            and type(layer).forward in (SpikingNeuron.forward, CubaLIF.forward)
            and not _hooked(layer))


def pooled_spikes(neuron: SpikingNeuron, x: torch.Tensor, k: int) -> torch.Tensor | None:
    """``SumPool2d(k)`` of ``neuron``'s spikes for input currents ``x`` (T, B, C, H, W), as
    (T, B, C, H//k, W//k), from the fused scan; ``None`` where it does not apply."""
    if (x.dim() != 5 or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64)
            or x.shape[3] < k or x.shape[4] < k or k < 1 or _global_hooks()
            or _k.get_backend() not in ("auto", "cpp")
            or _k._noisy_form(neuron.surrogate) is not None):
        return None
    zero = x.new_zeros(()).expand(x.shape[1:])  # the scan's state starts at 0 (not allocated)
    prepared = _k._prepare(x, neuron.coefficients(), NeuronState(zero, zero))
    if prepared is None:
        return None
    coefs = prepared[0]
    if any(c is not None and c.requires_grad for c in coefs):
        return None
    module = _scan_cpp.load()
    if module is None:
        return None
    shape = x.shape[1:]
    m = math.prod(shape)
    flat = [None if c is None else (c.detach().reshape(1) if c.numel() == 1 else _k._flat(c, shape, m))
            for c in coefs]
    if torch.is_grad_enabled() and x.requires_grad:
        return _PooledScan.apply(x, neuron.surrogate, neuron.reset != "zero", k, module, *flat)
    return _pool_forward(module, x.detach(), flat, neuron.reset != "zero", k, save=False)[0]


def _pool_forward(module, x, flat, subtract, k, save):
    t, b, c, h, w = x.shape
    m = b * c * h * w
    e = x.new_empty(0)
    x2 = x.reshape(t, m).contiguous()
    p_out = _k._POOL.take(x.new_empty(1).expand(t, b * c * (h // k) * (w // k)))  # by shape
    vpre_out = _k._POOL.take(x2) if save else None
    dv, lv, gv, di, gi, vth, vr = (e if f is None else f for f in flat)
    p, vpre = module.pool_scan_forward(x2, dv, lv, gv, di, gi, vth, vr, subtract, save,
                                       b * c, h, w, k, e if p_out is None else p_out,
                                       e if vpre_out is None else vpre_out)
    return p.view(t, b, c, h // k, w // k), (vpre if save else None)


class _PooledScan(torch.autograd.Function):
    """Pooled spike counts of the whole sequence; saves only ``v'`` (T, M)."""

    @staticmethod
    def forward(ctx, x, surrogate, subtract, k, module, *flat):
        p, vpre = _pool_forward(module, x.detach(), flat, subtract, k, save=True)
        ctx.save_for_backward(vpre, *(f if f is not None else x.new_empty(0) for f in flat))
        ctx.meta = (surrogate, subtract, k, module, x.shape)
        return p

    @staticmethod
    @once_differentiable
    def backward(ctx, gp):
        surrogate, subtract, k, module, x_shape = ctx.meta
        vpre, dv, lv, gvc, di, gic, vth, vr = ctx.saved_tensors
        t, b, c, h, w = x_shape
        m = b * c * h * w
        e = vpre.new_empty(0)
        inline, sg = _k.backward_surrogate(_k._CppImpl, surrogate, vpre, vth)
        kind, values = inline if inline is not None else (0, (0.0, 0.0, 0.0, 0.0))
        gx_out = _k._POOL.take(vpre)
        gx, active = module.pool_scan_backward(
            gp.reshape(t, -1).contiguous(), e if sg is None else sg, vpre, dv, gvc, di, gic, vth, vr,
            subtract, kind, *values, b * c, h, w, k, e if gx_out is None else gx_out)
        _k.count_active(surrogate, inline, active, t * m)
        return (gx.view(x_shape), None, None, None, None) + (None,) * 7
