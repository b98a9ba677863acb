"""Training-time augmentation of event frames."""

from __future__ import annotations

import torch


def random_shift(x: torch.Tensor, max_px: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each sample of ``x`` (B, T, C, H, W) by a random integer offset in
    [−max_px, max_px]² (same offset for all its time steps), filling with zeros (no events)."""
    if max_px <= 0 or x.dim() != 5:
        return x
    b, _, _, h, w = x.shape
    shifts = torch.randint(-max_px, max_px + 1, (b, 2), generator=generator)
    padded = torch.nn.functional.pad(x, (max_px, max_px, max_px, max_px))
    out = torch.empty_like(x)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        out[i] = padded[i, :, :, max_px - dy:max_px - dy + h, max_px - dx:max_px - dx + w]
    return out
