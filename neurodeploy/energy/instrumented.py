"""One instrumented pass of a ``SpikingSequential``: the same results as ``model(x, record=True)``
plus what counting needs without a second pass — the first layer's binary CSR indices and each
neuron layer's pre-reset membrane potential ``v'`` (T, B·N).

It follows :meth:`SpikingSequential.forward` step for step: every ``nn.Linear`` fed binary input
uses the CSR path under the same density rule (``model.sparse_max_density``,
:func:`~neurodeploy.neurons.sequential.density_limit`) and the same compiled ``csr_linear``;
neuron layers run the same scan kernel, asking it to also return ``v'``. Where the compiled
extension or the fast scan does not apply (recurrent layers, other dtypes), the layer runs as in
the model and ``v'`` is ``None`` (counting then replays the scan).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from neurodeploy.neurons.kernels import trace_pre_reset
from neurodeploy.neurons.modules import SpikingNeuron
from neurodeploy.neurons.sequential import (
    binary_csr,
    density_limit,
    linear_from_csr,
    sparse_binary_linear,
)


class Pass(NamedTuple):
    """``outputs``: per layer (T, B, …); ``csr``: (crow, cols) of a binary network input or None;
    ``vpre``: per layer index, the pre-reset membrane potentials (T, M) of neuron layers."""

    outputs: list[torch.Tensor]
    csr: tuple[torch.Tensor, torch.Tensor] | None
    vpre: dict[int, torch.Tensor]


def _first_linear(x: torch.Tensor, layer: nn.Linear, max_density: float | None):
    """(output or None, csr or None) for the first Linear on binary ``x`` (T, B, F)."""
    if x.dim() != 3 or x.shape[2] != layer.in_features or x.dtype != layer.weight.dtype:
        return None, None
    t, b, f = x.shape
    csr = binary_csr(x.reshape(t * b, f))
    if csr is None:
        return None, None
    limit = density_limit(layer, max_density)
    if limit <= 0 or int(csr[0][-1]) > limit * t * b * f:
        return None, csr
    return linear_from_csr(*csr, layer).reshape(t, b, layer.out_features), csr


def _neuron(x: torch.Tensor, layer: SpikingNeuron):
    """(spikes, v' (T, M) or None) with the model's own scan kernel."""
    traced = None if layer.w_rec is not None else trace_pre_reset(x, layer.coefficients(), layer.reset)
    return (layer(x), None) if traced is None else traced


@torch.no_grad()
def run(model: nn.Sequential, x: torch.Tensor) -> Pass:
    """Run ``model`` on ``x`` (T, B, …) once, recording outputs, CSR and ``v'``."""
    outputs, vpre, csr = [], {}, None
    for k, layer in enumerate(model):
        if isinstance(layer, nn.Linear):
            max_density = getattr(model, "sparse_max_density", None)
            if k == 0:
                y, csr = _first_linear(x, layer, max_density)
            else:
                y = sparse_binary_linear(x, layer, max_density)
            if y is not None:
                x = y
                outputs.append(x)
                continue
        if isinstance(layer, SpikingNeuron):
            x, v = _neuron(x, layer)
            if v is not None:
                vpre[k] = v
        elif getattr(layer, "over_time", False):  # e.g. StepDelay: needs the (T, B, …) layout
            x = layer(x)
        else:
            t, b = x.shape[:2]
            y = layer(x.reshape(t * b, *x.shape[2:]))
            x = y.reshape(t, b, *y.shape[1:])
        outputs.append(x)
    return Pass(outputs, csr, vpre)
