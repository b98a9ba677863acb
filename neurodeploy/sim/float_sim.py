"""Float reference simulation of a NIR graph over (T, B, …) inputs.

The graph is built into our ``SpikingSequential`` by :func:`neurodeploy.ir.from_nir` and run
with the exact discrete step of docs/nir-conventions.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import nir
import torch

from neurodeploy.errors import DataError
from neurodeploy.ir.conventions import Conventions
from neurodeploy.ir.from_nir import from_nir


@dataclass(frozen=True)
class SimResult:
    """``output``: (T, B, …) output spikes; ``layers``: NIR node name → (T, B, …) layer output."""

    output: torch.Tensor
    layers: dict[str, torch.Tensor]


def prepare_input(x: torch.Tensor, input_shape: tuple[int, ...]) -> torch.Tensor:
    """Reshape dataset input (T, B, …) to the graph's Input shape (flattening C,H,W if needed)."""
    t, b = x.shape[:2]
    if tuple(x.shape[2:]) == tuple(input_shape) or not input_shape:
        return x
    if x[0, 0].numel() != int(torch.tensor(input_shape).prod()):
        raise DataError(f"input of shape {tuple(x.shape[2:])} per step does not fit the graph's "
                        f"Input {tuple(input_shape)}")
    return x.reshape(t, b, *input_shape)


@torch.no_grad()
def simulate(graph: nir.NIRGraph, x: torch.Tensor, dt_s: float | None = None,
             reset: str | None = None, record: bool = False, *,
             conventions: Conventions | None = None) -> SimResult:
    """Run ``graph`` on ``x`` (T, B, …) from zero state; dt/reset from ``conventions`` (the
    source's, else the graph's metadata), ``dt_s``/``reset`` override."""
    model, conv = from_nir(graph, dt_s, reset, conventions=conventions)
    x = prepare_input(x.float(), conv.input_shape)
    if not record:
        return SimResult(model(x), {})
    out, outs = model(x, record=True)
    return SimResult(out, dict(zip(model.node_names, outs)))
