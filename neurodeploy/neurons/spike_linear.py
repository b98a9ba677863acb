"""A hidden spiking neuron layer fused with the spike-fed ``nn.Linear`` after it (CPU, C++).

In a chain ``… → LIF → Linear → …`` the spikes z (T, B, N) are read by the Linear only, and
(:mod:`neurodeploy.neurons.sequential`'s exact CSR path) only through the indices of their ones.
:class:`~neurodeploy.neurons.sequential.SpikingSequential` then runs both as one autograd
Function: the C++ scan keeps the pre-reset membrane v' (T, B·N) that its backward needs anyway
and does not write z at all; the Linear's CSR comes from v' by the scan's own spike test
(``v' − v_th > 0``, ``spike_csr`` in ``scan.cpp``), its forward is the CSR gather-sum. Backward:
∂L/∂z = gy·W (dense), the weight and bias gradients from the CSR, then the neuron's reverse
scan. This saves one (T, B·N) write per layer (measured ~0.35 ms for (100, 64·256) float32 with
cold caches) and one autograd node.

Exact: the same kernels on the same values in the same order as the two layers run one after
the other, so the same outputs and gradients bit for bit (tested). Where the spikes are denser
than the layer's CSR limit (``sequential.density_limit``), z is computed from v' by the same
test and the Linear runs dense (``addmm``, as ``nn.Linear`` does), also bit for bit.

Where it runs: a spiking neuron (``LIF``/``CubaLIF``/``IF``, no recurrent weight, no learnable
coefficient, Heaviside training spikes) on a (T, B, N) CPU float32 input with autograd on and the
``cpp`` or ``auto`` backend, followed by an ``nn.Linear`` with a CSR limit > 0, neither with
forward hooks, outside ``record=True``; ``model.fuse_linear = False`` turns it off. Anywhere else
:func:`spikes_into_linear` returns ``None`` and the layers run one after the other.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from neurodeploy.neurons import _scan_cpp
from neurodeploy.neurons import kernels as _k
from neurodeploy.neurons.modules import SpikingNeuron
from neurodeploy.neurons.pooled import _global_hooks, _hooked


def spikes_into_linear(neuron: SpikingNeuron, x: torch.Tensor, linear: nn.Linear,
                       limit: float) -> torch.Tensor | None:
    """``linear`` applied to ``neuron``'s spikes for input currents ``x`` (T, B, N), as
    (T, B, out_features), with CSR density limit ``limit``; ``None`` where the fused path does
    not apply (then run the two layers)."""
    if (limit <= 0 or x.dim() != 3 or x.device.type != "cpu" or x.dtype != torch.float32
            or not torch.is_grad_enabled() or x.shape[2] != linear.in_features
            or linear.weight.dtype != torch.float32 or linear.weight.device.type != "cpu"
            or _hooked(linear) or _global_hooks() or _k.get_backend() not in ("auto", "cpp")
            or _k._noisy_form(neuron.surrogate) is not None):
        return None
    module = _scan_cpp.load()
    prepared = _k._prepare(x, neuron.coefficients(), None) if module is not None else None
    if prepared is None or any(k is not None and k.requires_grad for k in prepared[0]):
        return None
    bias = linear.bias if linear.bias is not None else x.new_empty(0)
    return _SpikesLinear.apply(x, linear.weight, bias, tuple(prepared[0]), neuron.surrogate,
                               neuron.reset != "zero", float(limit), module)


class _SpikesLinear(torch.autograd.Function):
    """y (T, B, N_out) = Linear(spikes of the neuron scan of x (T, B, N)); saves v' and the CSR."""

    @staticmethod
    def forward(ctx, x, weight, bias, coefs, surrogate, subtract, limit, module):
        t, b, n = x.shape
        m = b * n
        impl = _k._CppImpl(module)
        flat = [_k._flat(k, x.shape[1:], m) for k in coefs]
        cur = x.new_zeros(m) if flat[3] is not None else None
        _, vpre, _ = impl.forward(x.detach().reshape(t, m).contiguous(), x.new_zeros(m), cur,
                                  *flat, subtract, save=True, save_i=False, write_z=False)
        csr = module.spike_csr(vpre.view(t * b, n), flat[5], b, limit)
        w = weight.detach().contiguous()
        z = None
        if len(csr) == 2:
            y = module.csr_linear(csr[0], csr[1], w, bias.detach())
        else:  # denser than the limit: the spikes by the scan's test, then nn.Linear's product
            csr = (None, None)
            z = (vpre - flat[5] > 0).to(vpre.dtype).view(t * b, n)
            y = torch.addmm(bias.detach(), z, w.t()) if bias.numel() else z.mm(w.t())
        ctx.save_for_backward(vpre, csr[0], csr[1], z, w, *flat)
        ctx.meta = (surrogate, subtract, impl, bias.numel() > 0, x.shape)
        return y.view(t, b, y.shape[1])

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        vpre, crow, cols, z, w, *flat = ctx.saved_tensors
        surrogate, subtract, impl, has_bias, x_shape = ctx.meta
        t, b, n = x_shape
        m = b * n
        gy = gy.reshape(t * b, gy.shape[2]).contiguous()
        gz = gy @ w  # ∂L/∂z (T·B, N), dense
        gw = gb = None
        want_b = has_bias and ctx.needs_input_grad[2]
        if ctx.needs_input_grad[1] and crow is not None:
            gw, gb = impl.m.csr_linear_wgrad(crow, cols, gy, n, want_b)
            gb = gb if want_b else None
        elif ctx.needs_input_grad[1]:
            gw = gy.t().mm(z)  # as addmm's backward for nn.Linear's weight
        if want_b and gb is None:
            gb = gy.sum(0)
        inline, sg = _k.backward_surrogate(impl, surrogate, vpre, flat[5])
        gv = vpre.new_zeros(m)
        gi = vpre.new_zeros(m) if flat[3] is not None else None
        gz = gz.view(t, m)  # ours alone: ∂L/∂x overwrites it (the scan reads each element first)
        out, _, active = impl.backward(gz, sg, vpre, None, None, None, None, None, gv, gi, *flat,
                                       subtract, False, inline, gx_out=gz)
        _k.count_active(surrogate, inline, active, t * m)
        return out[0].view(x_shape), gw, gb, None, None, None, None, None
