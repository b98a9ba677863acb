"""One instrumented pass of a ``SpikingSequential``: the same results as ``model(x, record=True)``
plus what counting needs without a second pass — the first layer's binary CSR indices and each
neuron layer's pre-reset membrane potential ``v'`` (T, B·N).

It follows :meth:`SpikingSequential.forward` step for step: the first ``nn.Linear`` uses the CSR
path under the same density rule (``model.sparse_max_density``) and the same compiled
``csr_linear``; neuron layers run the same scan kernel, asking it to also return ``v'``. Where
the compiled extension or the fast scan does not apply (recurrent layers, other dtypes), the
layer runs as in the model and ``v'`` is ``None`` (counting then replays the scan).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from neurodeploy.neurons import _scan_cpp, kernels
from neurodeploy.neurons.modules import SpikingNeuron


class Pass(NamedTuple):
    """``outputs``: per layer (T, B, …); ``csr``: (crow, cols) of a binary network input or None;
    ``vpre``: per layer index, the pre-reset membrane potentials (T, M) of neuron layers."""

    outputs: list[torch.Tensor]
    csr: tuple[torch.Tensor, torch.Tensor] | None
    vpre: dict[int, torch.Tensor]


def _first_linear(x: torch.Tensor, layer: nn.Linear, max_density: float):
    """(output or None, csr or None) for the first Linear on binary ``x`` (T, B, F)."""
    module = _scan_cpp.load() if x.dtype == torch.float32 and x.device.type == "cpu" else None
    if module is None or x.dim() != 3 or x.shape[2] != layer.in_features or x.dtype != layer.weight.dtype:
        return None, None
    t, b, f = x.shape
    csr = module.binary_csr(x.reshape(t * b, f).contiguous(), 1.0)
    if len(csr) != 2:
        return None, None
    crow, cols = csr
    if max_density <= 0 or int(crow[-1]) > max_density * t * b * f:
        return None, (crow, cols)
    bias = layer.bias.detach() if layer.bias is not None else x.new_empty(0)
    y = module.csr_linear(crow, cols, layer.weight.detach().t().contiguous(), bias)
    return y.reshape(t, b, layer.out_features), (crow, cols)


def _neuron(x: torch.Tensor, layer: SpikingNeuron):
    """(spikes, v' (T, M) or None) with the model's own scan kernel."""
    if layer.w_rec is not None or kernels.get_backend() == "reference":
        return layer(x), None
    prepared = kernels._prepare(x, layer.coefficients(), None)
    if prepared is None:
        return layer(x), None
    coefs, v0, i0 = prepared
    t, shape, m = x.shape[0], x.shape[1:], x[0].numel()
    flat = [kernels._flat(k, shape, m) for k in coefs]
    impl = kernels._choose_impl(x, kernels.get_backend())
    z, vpre, _ = impl.forward(x.reshape(t, m).contiguous(), v0.reshape(m).clone(),
                              i0.reshape(m).clone() if coefs[3] is not None else None, *flat,
                              layer.reset != "zero", save=True, save_i=False)
    return z.view(x.shape), vpre


@torch.no_grad()
def run(model: nn.Sequential, x: torch.Tensor) -> Pass:
    """Run ``model`` on ``x`` (T, B, …) once, recording outputs, CSR and ``v'``."""
    outputs, vpre, csr = [], {}, None
    for k, layer in enumerate(model):
        if k == 0 and isinstance(layer, nn.Linear):
            y, csr = _first_linear(x, layer, getattr(model, "sparse_max_density", 0.25))
            if y is not None:
                x = y
                outputs.append(x)
                continue
        if isinstance(layer, SpikingNeuron):
            x, v = _neuron(x, layer)
            if v is not None:
                vpre[k] = v
        else:
            t, b = x.shape[:2]
            y = layer(x.reshape(t * b, *x.shape[2:]))
            x = y.reshape(t, b, *y.shape[1:])
        outputs.append(x)
    return Pass(outputs, csr, vpre)
