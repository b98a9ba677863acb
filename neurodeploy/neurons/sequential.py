"""``SpikingSequential``: a chain of synaptic layers and spiking neurons over (T, B, …) inputs.

Synaptic layers (``nn.Linear``, ``nn.Conv2d``, ``nn.Flatten``, ``SumPool2d``) are stateless, so
they run on all T·B rows at once; neuron modules run their recurrence over T.

A spiking neuron followed by a ``SumPool2d`` whose stride is its window (alone, or first in an
``nn.Sequential``) runs as one fused scan that writes the pooled spike counts directly
(:mod:`neurodeploy.neurons.pooled`: CPU float32/float64, C++ backend, no learnable coefficients,
no hooks, not under ``record=True``); the rest of that ``nn.Sequential`` then runs on the pooled
rows. Same spikes and gradients as the layers run separately (bitwise for 2×2 windows). Set
``model.fuse_pool = False`` to run them separately. Likewise a spiking neuron followed by an
``nn.Linear`` that takes the CSR path below runs as one Function whose scan never writes the
spikes (:mod:`neurodeploy.neurons.spike_linear`: the ``Linear`` reads them from the saved
membrane; bitwise equal to the two layers; autograd on only); ``model.fuse_linear = False``.

Spike input (exact CSR path): every ``nn.Linear`` whose input is a dense (T, B, F) floating tensor
with every entry 0 or 1 — the network's event input, or the spikes of the neuron layer before it
— and at most :func:`density_limit` of its entries set is computed from the CSR indices of the
active inputs (rows = the T·B steps, ascending input index):

* forward: each output row is the bias plus the sum of the weight columns of its active inputs
  (a gather-sum, ~d·F·N adds per row instead of F·N multiply-adds);
* weight gradient: for each input k, the sum of the output gradients of the rows where k is
  active (outer products over active inputs only; summed in ascending row order, so the same
  result at any thread count); bias gradient: the column sums of the output gradient;
* input gradient (when the input requires grad, i.e. a hidden layer fed by spikes): dense,
  ``gy · W`` (a surrogate gradient is non-zero almost everywhere).

On CPU float32 this runs in the C++ extension of :mod:`neurodeploy.neurons._scan_cpp`: detection
and CSR build in one pass over ``x`` (refused as soon as a value is not 0/1 or the count passes
the limit), then forward and weight gradient in one of two layouts of the same sums (the same
bits either way): layers with more than 64 outputs gather whole weight / gradient rows summed in
vector registers; narrower ones work on 16-output tiles whose data stays in L1 (1.5–3× faster
there). Elsewhere (CUDA, other
dtypes, or the extension cannot be built) an input that does not require grad goes through
``to_sparse_csr`` and ``F.embedding_bag``, and a spike-fed layer that needs its input gradient
runs dense. This is exact fp32 arithmetic (no input dropped, no lower precision); only the
summation order differs from the dense matmul, so results agree with the dense path to fp32
rounding (≈1e-7 relative), not bit for bit: a spike can flip where the membrane lies within
rounding of the threshold.

Which path runs: ``model.sparse_max_density`` (default ``None``) is the user's override. ``None``:
the measured crossover per layer, :data:`AUTO_DENSITY` — up to 25 % ones for layers with ≥ 128
outputs, 10 % for 32–127 outputs, and for 16–31 outputs 10 % with ≥ 256 inputs, 6 % with
128–255 inputs; never for any other layer. It was chosen from the time of CSR build + forward +
weight gradient against the dense forward + weight-gradient matmuls (the dense input gradient is
the same on both sides). First sweep: 6400 rows (the bench: 700→256, 256→256, 256→20, 256→64)
and 1024 rows (the demo: 648→256, 256→10, 256→128), densities 2–40 %, 1 thread (min of 15,
interleaved, on a loaded 2-core machine): sparse/dense reached 1 at 30–35 % for 256 outputs,
~27 % for 128, 12–15 % for 64; at 5 % it is 0.2–0.3 for 256 outputs. Second sweep (2026-12-03
afternoon, 6400 rows, medians of 30 interleaved, 1/2 threads, an idle machine): with few outputs
the number of inputs decides. 256→20 costs 0.64/0.68× dense at 6 %, 0.71/0.79× at 10 %;
256→16 0.72/0.74× at 10 %; 700→20 0.67/0.70× at 10 %; 128→20 0.84/0.90× at 6 %, 0.91/0.98× at
8 %, ~1 at 10 %; 128→16 0.68/0.74× at 5 %; but 64→20 1.14–1.49× at every density from 6 %
(per-row overheads on ~4 active inputs a row), 64→64 0.75–1.13× (a tie), while 64→128 and 64→256
stay at 0.3–0.7× up to 25 %; 100→64 0.73/0.77× at 10 %; 256→32 0.62/0.64× and 256→64 0.50/0.55×
at 10 %; 256→10 is 1.0–1.1× even at 5 % (the CSR build, a full pass over the input, dominates
such narrow layers).
A number sets that limit for every Linear; ``0`` always runs dense (ONNX verify uses this to
follow the reference arithmetic). A Linear with forward hooks (or while global module hooks are
set) runs through its own call, dense, so that its hooks see it run. Sparse torch tensors (COO/CSR, binary values) are accepted as
input and densified first.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from neurodeploy.neurons import _scan_cpp
from neurodeploy.neurons.modules import SpikingNeuron
from neurodeploy.neurons.pooled import (
    _global_hooks,
    _hooked,
    fusable_neuron,
    pool_after,
    pooled_spikes,
)
from neurodeploy.neurons.spike_linear import spikes_into_linear


class SpikingSequential(nn.Sequential):
    """Runs ``x`` (T, B, …) through its children; returns the last layer's output (T, B, …)."""

    # None: the measured per-layer rule (density_limit); 0: always dense; a number in (0, 1]:
    # that fraction of non-zero inputs is the limit for every Linear
    sparse_max_density: float | None = None
    fuse_pool: bool = True  # a neuron followed by a SumPool2d: one fused scan (neurons/pooled.py)
    # a neuron followed by a spike-fed Linear on the CSR path: one Function, the spikes never
    # written (neurons/spike_linear.py)
    fuse_linear: bool = True

    def forward(self, x: torch.Tensor, record: bool = False):
        outputs = []
        if x.layout != torch.strided:
            x = x.to_dense()
        pooled_at, rest = -1, ()  # a neuron fused with the SumPool2d at index pooled_at (pooled.py)
        linear_at = -1  # a neuron fused with the Linear at index linear_at (spike_linear.py)
        for n, layer in enumerate(self):
            if n == pooled_at:  # the pool already ran inside the neuron's scan
                for m in rest:
                    x = _rows(m, x)
                continue
            if n == linear_at:  # the Linear already ran on the neuron's spikes
                continue
            if (self.fuse_linear and not record and n + 1 < len(self)
                    and isinstance(self[n + 1], nn.Linear) and fusable_neuron(layer)):
                y = spikes_into_linear(layer, x, self[n + 1],
                                       density_limit(self[n + 1], self.sparse_max_density))
                if y is not None:
                    x, linear_at = y, n + 1
                    continue
            if self.fuse_pool and not record and fusable_neuron(layer) and n + 1 < len(self):
                pool = pool_after(self[n + 1])
                y = pooled_spikes(layer, x, pool[0]) if pool is not None else None
                if y is not None:
                    x, pooled_at, rest = y, n + 1, pool[1]
                    continue
            if isinstance(layer, nn.Linear) and not (_hooked(layer) or _global_hooks()):
                # (a hooked Linear runs through its __call__, so that its hooks see it run)
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


# The measured crossover (CSR build + gather-sum forward + weight gradient vs the dense matmuls;
# see the module docstring): (minimum out_features, minimum in_features, density limit), first
# match from the top; other layers always run dense.
AUTO_DENSITY = ((128, 1, 0.25), (32, 1, 0.1), (16, 256, 0.1), (16, 128, 0.06))


def density_limit(layer: nn.Linear, max_density: float | None) -> float:
    """The fraction of ones in the input up to which ``layer`` runs the CSR path: ``max_density``
    if given (0: never), else the measured crossover for its shape (:data:`AUTO_DENSITY`)."""
    if max_density is not None:
        return float(max_density)
    for min_out, min_in, limit in AUTO_DENSITY:
        if layer.out_features >= min_out and layer.in_features >= min_in:
            return limit
    return 0.0


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
    return module.csr_linear(crow, cols, layer.weight.detach().contiguous(), bias)


def sparse_binary_linear(x: torch.Tensor, layer: nn.Linear, max_density: float | None):
    """``layer`` applied to binary (T, B, F) ``x`` through its CSR indices, or ``None`` when ``x``
    is not binary, denser than the limit (:func:`density_limit`), not a 3-D floating tensor, or
    requires grad where the compiled extension is unavailable (the fallback has no input
    gradient)."""
    if x.dim() != 3 or not x.is_floating_point():
        return None
    limit = density_limit(layer, max_density)
    if limit <= 0:
        return None
    t, b, f = x.shape
    if f != layer.in_features or x.dtype != layer.weight.dtype or x.device != layer.weight.device:
        return None
    module = _scan_cpp.load() if (x.device.type == "cpu" and x.dtype == torch.float32) else None
    if module is not None:  # compiled: detection + CSR build in one pass, forward and grads in C++
        csr = module.binary_csr(x.detach().reshape(t * b, f).contiguous(), float(limit))
        if len(csr) == 1:
            return None
        bias = layer.bias if layer.bias is not None else x.new_empty(0)
        return _CsrLinear.apply(x, layer.weight, bias, csr[0], csr[1], module)
    x2 = x.reshape(t * b, f)
    if x.requires_grad:
        return None
    # count first (one cheap pass) so that dense input is rejected before building the CSR
    nnz = int(torch.count_nonzero(x2))
    if nnz > limit * x2.numel():
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
    """y (T, B, N) = bias + Σ of the weight columns of each row's active inputs (x binary
    (T, B, F), given by the CSR of its T·B rows); grads: weight (sum over active inputs only),
    bias, and x dense (gy · W). Takes and returns (T, B, …) so that no reshape adds autograd
    nodes around it."""

    @staticmethod
    def forward(ctx, x, weight, bias, crow, cols, module):
        ctx.save_for_backward(crow, cols, weight if x.requires_grad else None)
        ctx.module, ctx.x_shape, ctx.has_bias = module, x.shape, bias.numel() > 0
        y = module.csr_linear(crow, cols, weight.detach().contiguous(), bias.detach())
        return y.view(x.shape[0], x.shape[1], y.shape[1])

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        crow, cols, weight = ctx.saved_tensors
        t, b, f = ctx.x_shape
        gy = gy.reshape(t * b, gy.shape[2]).contiguous()
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = (gy @ weight).view(t, b, f)
        want_b = ctx.has_bias and ctx.needs_input_grad[2]
        if ctx.needs_input_grad[1]:  # bias grad in the same pass
            gw, gb = ctx.module.csr_linear_wgrad(crow, cols, gy, f, want_b)
            gb = gb if want_b else None
        elif want_b:
            gb = gy.sum(0)
        return gx, gw, gb, None, None, None
