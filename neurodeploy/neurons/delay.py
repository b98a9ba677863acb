"""``StepDelay``: NIR ``Delay`` in discrete time, y[t] = x[t − d] per feature (zero before).

Takes the whole sequence (T, B, …) like the neuron modules (``over_time = True`` tells
``SpikingSequential`` not to fold T into the batch). ``steps`` holds one whole-step delay per
feature of one sample (shape ``…``), from NIR's delay in seconds divided by dt.
"""

from __future__ import annotations

import torch
from torch import nn


class StepDelay(nn.Module):
    over_time = True

    def __init__(self, steps: torch.Tensor):
        super().__init__()
        self.register_buffer("steps", torch.as_tensor(steps, dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[0]
        d = self.steps.expand(x.shape[2:])
        src = torch.arange(t, device=x.device).reshape(t, *([1] * d.dim())) - d   # (T, …)
        idx = src.clamp(min=0).unsqueeze(1).expand(x.shape)
        return torch.where((src >= 0).unsqueeze(1), x.gather(0, idx), torch.zeros_like(x))
