"""Input sum-pooling: fewer input channels for small chips (Xylo takes ≤ 16 inputs).

``[data] input_pool = [b1, b2, …]`` (one block size per feature dimension of a time step, e.g.
``[2, 5, 5]`` for digits-events' (2, 18, 18)) sums the events of each block into one channel:
(C, H, W) → (⌈C/b1⌉, ⌈H/b2⌉, ⌈W/b3⌉). Edges that do not fill a block are zero-padded, so a
pooled value is always the exact event count of its block (an integer ≥ 0; several events per
step are possible). ``[]`` (default) leaves the data unchanged.

``[data] input_clip = M`` clips every value to at most M events (after pooling), for chips that
accept at most M input events per channel per step (Xylo: 15); the float model then sees what
the chip sees. 0 (default) = no clipping.

``[data] classes = N`` keeps only the samples whose label is < N (a chip with N outputs, e.g.
Xylo Audio 2's 8); 0 (default) keeps all.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from neurodeploy.errors import ConfigError


def pooled_shape(shape: tuple[int, ...], block: list[int]) -> tuple[int, ...]:
    if len(block) != len(shape):
        raise ConfigError(f"[data] input_pool = {block} has {len(block)} block sizes, the data has "
                          f"{len(shape)} feature dimensions {tuple(shape)}: give one block size per dimension")
    if any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in block):
        raise ConfigError(f"[data] input_pool = {block}: block sizes must be ≥ 1")
    return tuple(math.ceil(s / b) for s, b in zip(shape, block))


def sum_pool(x: torch.Tensor, block: list[int]) -> torch.Tensor:
    """Sum ``x`` (…, d1, …, dk) over blocks of ``block`` in its last k dimensions (zero padding)."""
    k = len(block)
    dims = tuple(x.shape[-k:])
    out = pooled_shape(dims, block)
    pad = []
    for s, b, o in reversed(list(zip(dims, block, out))):
        pad += [0, o * b - s]
    y = F.pad(x, pad) if any(pad) else x
    lead = tuple(y.shape[:-k])
    shape = lead + tuple(v for o, b in zip(out, block) for v in (o, b))
    y = y.reshape(shape)
    return y.sum(dim=tuple(len(lead) + 2 * i + 1 for i in range(k)))


class PooledDataset:
    """A dataset whose (T, …) samples are sum-pooled over ``block`` ([] = not pooled) and, with
    ``classes`` > 0, restricted to labels < ``classes``; in-memory ``frames`` are pooled once."""

    def __init__(self, base, block: list[int], classes: int = 0, clip: int = 0):
        self.block = list(block)
        self.clip = int(clip)
        frames = getattr(base, "frames", None)
        self.base = None if frames is not None else base
        if frames is not None:
            labels = base.labels
            if classes:
                keep = labels < classes
                frames, labels = frames[keep], labels[keep]
            pooled = sum_pool(frames.to(torch.int32), self.block) if self.block else frames
            if self.clip:
                pooled = pooled.clamp(max=self.clip)
            big = pooled.numel() and int(pooled.max()) > 255
            self.frames = pooled if not (self.block or self.clip) else pooled.to(torch.int16 if big else torch.uint8)
            self.labels = labels
        else:
            self.index = [i for i in range(len(base)) if not classes or int(base[i][1]) < classes]

    def __len__(self) -> int:
        return len(self.labels) if self.base is None else len(self.index)

    def __getitem__(self, i):
        if self.base is None:
            return self.frames[i].float(), int(self.labels[i])
        x, y = self.base[self.index[i]]
        x = torch.as_tensor(x)
        x = sum_pool(x, self.block) if self.block else x
        return (x.clamp(max=self.clip) if self.clip else x).float(), y
