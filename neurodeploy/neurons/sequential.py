"""``SpikingSequential``: a chain of synaptic layers and spiking neurons over (T, B, …) inputs.

Synaptic layers (``nn.Linear``, ``nn.Conv2d``, ``nn.Flatten``, ``SumPool2d``) are stateless, so
they run on all T·B rows at once; neuron modules run their recurrence over T.

A spiking neuron followed by a ``SumPool2d`` whose stride is its window (alone, or first in an
``nn.Sequential``) runs as one fused scan that writes the pooled spike counts directly
(:mod:`neurodeploy.neurons.pooled`: CPU float32/float64, C++ backend, no learnable coefficients,
no hooks, not under ``record=True``); the rest of that ``nn.Sequential`` then runs on the pooled
rows. Same spikes and gradients as the layers run separately (bitwise for 2×2 windows). Set
``model.fuse_pool = False`` to run them separately.

Sparse event input: when the first layer is an ``nn.Linear``, the input does not require grad and
is a dense (T, B, F) binary tensor (every entry 0 or 1) with at most ``sparse_max_density`` of its entries set, that layer
is computed from the CSR indices of the active inputs: each output row is the bias plus the sum
of the weight columns of its active inputs (ascending input index), and the weight gradient is
the matching scatter-add of output gradients. On CPU float32 this runs in the C++ extension of
:mod:`neurodeploy.neurons._scan_cpp` (detection and CSR build in two passes over ``x``);
elsewhere, or if that extension cannot be built, via ``to_sparse_csr`` and ``F.embedding_bag``. This is exact fp32 arithmetic (no
input dropped, no lower precision); only the summation order differs from the dense matmul, so
results agree with the dense path to fp32 rounding (≈1e-7 relative), not bit for bit. Set
``model.sparse_max_density = 0`` to always use the dense path. Sparse torch tensors (COO/CSR,
binary values) are accepted as input and densified first.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn import functional as F

from neurodeploy.neurons import _scan_cpp
from neurodeploy.neurons.modules import SpikingNeuron
from neurodeploy.neurons.pooled import fusable_neuron, pool_after, pooled_spikes


class SpikingSequential(nn.Sequential):
    """Runs ``x`` (T, B, …) through its children; returns the last layer's output (T, B, …)."""

    sparse_max_density: float = 0.25  # fraction of non-zero inputs up to which the CSR path runs
    fuse_pool: bool = True  # a neuron followed by a SumPool2d: one fused scan (neurons/pooled.py)

    def forward(self, x: torch.Tensor, record: bool = False):
        outputs = []
        if x.layout != torch.strided:
            x = x.to_dense()
        pooled_at, rest = -1, ()  # a neuron fused with the SumPool2d at index pooled_at (pooled.py)
        for n, layer in enumerate(self):
            if n == pooled_at:  # the pool already ran inside the neuron's scan
                for m in rest:
                    x = _rows(m, x)
                continue
            if self.fuse_pool and not record and fusable_neuron(layer) and n + 1 < len(self):
                pool = pool_after(self[n + 1])
                y = pooled_spikes(layer, x, pool[0]) if pool is not None else None
                if y is not None:
                    x, pooled_at, rest = y, n + 1, pool[1]
                    continue
            if n == 0 and isinstance(layer, nn.Linear):
                y = sparse_binary_linear(x, layer, self.sparse_max_density)
                if y is not None:
                    x = y
                    if record:
                        outputs.append(x)
                    continue
            if isinstance(layer, SpikingNeuron) or getattr(layer, "over_time", False):
                x = layer(x)
            else:
                t, b = x.shape[:2]
                y = layer(x.reshape(t * b, *x.shape[2:]))
                x = y.reshape(t, b, *y.shape[1:])
            if record:
                outputs.append(x)
        return (x, outputs) if record else x


def _rows(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A stateless layer applied to all T·B rows of ``x`` (T, B, …) at once."""
    t, b = x.shape[:2]
    y = layer(x.reshape(t * b, *x.shape[2:]))
    return y.reshape(t, b, *y.shape[1:])


def binary_csr(x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """CSR row offsets and column indices of a 2-D float32 CPU tensor whose entries are all
    0 or 1 (built in C++); ``None`` if it is not binary or the extension is unavailable."""
    module = _scan_cpp.load() if (x2.device.type == "cpu" and x2.dtype == torch.float32) else None
    if module is None:
        return None
    found = module.binary_csr(x2.contiguous(), 1.0)
    return (found[0], found[1]) if len(found) == 2 else None


def linear_from_csr(crow: torch.Tensor, cols: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``layer`` applied to the binary rows given by ``binary_csr`` (no autograd): (rows, out)."""
    module = _scan_cpp.load()
    bias = layer.bias.detach() if layer.bias is not None else layer.weight.new_empty(0)
    return module.csr_linear(crow, cols, layer.weight.detach().t().contiguous(), bias)


def sparse_binary_linear(x: torch.Tensor, layer: nn.Linear, max_density: float):
    """``layer`` applied to binary (T, B, F) ``x`` through its CSR indices, or ``None`` when ``x``
    is not binary, not sparse enough, requires grad, or is not a 3-D floating tensor."""
    if max_density <= 0 or x.dim() != 3 or x.requires_grad or not x.is_floating_point():
        return None
    t, b, f = x.shape
    if f != layer.in_features or x.dtype != layer.weight.dtype or x.device != layer.weight.device:
        return None
    x2 = x.reshape(t * b, f)
    module = _scan_cpp.load() if (x.device.type == "cpu" and x.dtype == torch.float32) else None
    if module is not None:  # compiled: detection, CSR build, forward and weight grad in C++
        csr = module.binary_csr(x2.contiguous(), float(max_density))
        if len(csr) == 1:
            return None
        bias = layer.bias if layer.bias is not None else x.new_empty(0)
        y = _CsrLinear.apply(layer.weight, bias, csr[0], csr[1], module)
        return y.reshape(t, b, layer.out_features)
    # count first (one cheap pass) so that dense input is rejected before building the CSR
    nnz = int(torch.count_nonzero(x2))
    if nnz > max_density * x2.numel():
        return None
    with warnings.catch_warnings():  # torch: "Sparse CSR tensor support is in beta state"
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
        csr = x2.to_sparse_csr()
    if nnz and not bool((csr.values() == 1).all()):
        return None
    offsets = csr.crow_indices()
    cols = csr.col_indices().to(offsets.dtype)
    y = F.embedding_bag(cols, layer.weight.t(), offsets, mode="sum", include_last_offset=True)
    if layer.bias is not None:
        y = y + layer.bias
    return y.reshape(t, b, layer.out_features)


class _CsrLinear(torch.autograd.Function):
    """y = bias + Σ of the weight columns of each row's active inputs; grads for weight and bias."""

    @staticmethod
    def forward(ctx, weight, bias, crow, cols, module):
        ctx.save_for_backward(crow, cols)
        ctx.module, ctx.in_features, ctx.has_bias = module, weight.shape[1], bias.numel() > 0
        return module.csr_linear(crow, cols, weight.detach().t().contiguous(), bias.detach())

    @staticmethod
    def backward(ctx, gy):
        crow, cols = ctx.saved_tensors
        gy = gy.contiguous()
        gw = gb = None
        if ctx.needs_input_grad[0]:
            gw = ctx.module.csr_linear_wgrad(crow, cols, gy, ctx.in_features).t().contiguous()
        if ctx.has_bias and ctx.needs_input_grad[1]:
            gb = gy.sum(0)
        return gw, gb, None, None, None
