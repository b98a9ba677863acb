"""``digits-events``: the embedded default dataset, real handwriting seen by a simulated event camera.

Source images are scikit-learn's bundled 8×8 handwritten digits (1797 images, 10 classes, shipped
inside the scikit-learn wheel, so nothing is downloaded). Each image is

1. upsampled ×``upsample`` (bilinear) and centred on a ``canvas``×``canvas`` black canvas;
2. moved along a saccade-like closed triangle of amplitude ``amplitude_px`` pixels (the same path
   for every sample, as N-MNIST's camera motion), sampled at ``microsteps`` positions with
   sub-pixel bilinear shifts;
3. watched by an ideal DVS pixel model: log intensity ``L = log(ε + I)`` (I in [0, 1],
   ε = ``log_eps``); a pixel emits an ON (OFF) event each time L rises (falls) by ``contrast``
   from its reference level, then moves the reference by that step; each pixel's threshold has a
   fixed Gaussian mismatch (``mismatch`` relative σ) and background-activity noise events fire
   with probability ``noise_rate`` per pixel, polarity and microstep;
4. binned into ``time_steps`` frames; a bin holds 1 if the pixel emitted at least one event of
   that polarity in it (binary spikes, so the first layer does accumulates, not MACs).

Result: uint8 tensors (N, T, 2, H, W), channel 0 = ON, 1 = OFF. Deterministic for a seed (NumPy
float64 throughout); the train/test split is fixed (stratified, 80/20, independent of the seed).
Generated once (~1 s) and cached as ``.npz`` under ``cache_dir`` (default ``$NEURODEPLOY_CACHE``
or ``~/.cache/neurodeploy``), keyed by a hash of the parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from neurodeploy.atomic import atomic_path
from neurodeploy.errors import DataError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class DigitsEventsParams:
    """Generator parameters (documented in the module docstring)."""

    time_steps: int = 16
    upsample: int = 2
    canvas: int = 18
    amplitude_px: float = 2.0
    microsteps: int = 48
    contrast: float = 0.2
    mismatch: float = 0.05
    log_eps: float = 0.05
    noise_rate: float = 0.001
    seed: int = 0

    def key(self) -> str:
        blob = json.dumps({"v": FORMAT_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EventDataset:
    """Frames (N, T, 2, H, W) uint8 and labels (N,) int64 of one split."""

    frames: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.frames[i].float(), int(self.labels[i])


def _upsampled_canvas(images: np.ndarray, p: DigitsEventsParams) -> np.ndarray:
    """(N, 8, 8) in [0, 16] → (N, canvas, canvas) intensities in [0, 1], bilinear upsampling."""
    n, h, w = images.shape
    size = h * p.upsample
    if size > p.canvas:
        raise DataError(f"digits-events: upsampled digit ({size} px) does not fit canvas {p.canvas} px")
    coords = (np.arange(size) + 0.5) / p.upsample - 0.5
    c = np.clip(coords, 0, h - 1)
    i0 = np.floor(c).astype(int)
    i1 = np.minimum(i0 + 1, h - 1)
    f = c - i0
    img = images / 16.0
    rows = img[:, i0, :] * (1 - f)[None, :, None] + img[:, i1, :] * f[None, :, None]
    up = rows[:, :, i0] * (1 - f)[None, None, :] + rows[:, :, i1] * f[None, None, :]
    canvas = np.zeros((n, p.canvas, p.canvas))
    o = (p.canvas - size) // 2
    canvas[:, o:o + size, o:o + size] = up
    return canvas


def _shift(canvas: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Bilinear sub-pixel shift of (N, H, W) by (dy, dx) pixels, zero fill."""
    def shift_axis(a, d, axis):
        k = int(np.floor(d))
        f = d - k
        out = np.zeros_like(a)
        for kk, wgt in ((k, 1 - f), (k + 1, f)):
            if wgt == 0:
                continue
            src = [slice(None)] * 3
            dst = [slice(None)] * 3
            n = a.shape[axis]
            if abs(kk) >= n:
                continue
            if kk >= 0:
                src[axis], dst[axis] = slice(0, n - kk), slice(kk, n)
            else:
                src[axis], dst[axis] = slice(-kk, n), slice(0, n + kk)
            out[tuple(dst)] += wgt * a[tuple(src)]
        return out
    return shift_axis(shift_axis(canvas, dy, 1), dx, 2)


def saccade_path(p: DigitsEventsParams) -> np.ndarray:
    """(microsteps, 2) positions (dy, dx) in pixels along a closed triangle centred on 0."""
    a = p.amplitude_px
    corners = np.array([[-a / 2, -a / 2], [-a / 2, a / 2], [a / 2, 0.0], [-a / 2, -a / 2]])
    s = np.linspace(0, 3, p.microsteps, endpoint=False)
    seg = np.floor(s).astype(int)
    frac = (s - seg)[:, None]
    return corners[seg] * (1 - frac) + corners[seg + 1] * frac


def generate(images: np.ndarray, p: DigitsEventsParams) -> np.ndarray:
    """Event frames (N, T, 2, H, W) uint8 for 8×8 ``images`` (values 0–16)."""
    if p.microsteps % p.time_steps:
        raise DataError(f"digits-events: microsteps ({p.microsteps}) must be a multiple of time_steps ({p.time_steps})")
    rng = np.random.default_rng(p.seed)
    canvas = _upsampled_canvas(images.astype(np.float64), p)
    n, h, w = canvas.shape
    threshold = p.contrast * np.clip(1 + p.mismatch * rng.standard_normal((h, w)), 0.5, 1.5)
    path = saccade_path(p)
    ref = np.log(p.log_eps + _shift(canvas, *path[-1]))
    per_bin = p.microsteps // p.time_steps
    frames = np.zeros((n, p.time_steps, 2, h, w), dtype=np.uint8)
    for m, (dy, dx) in enumerate(path):
        level = np.log(p.log_eps + _shift(canvas, dy, dx))
        diff = level - ref
        steps = np.trunc(diff / threshold)  # signed number of threshold crossings
        ref = ref + steps * threshold
        noise = rng.random((2, n, h, w)) < p.noise_rate
        t = m // per_bin
        frames[:, t, 0] |= ((steps > 0) | noise[0]).astype(np.uint8)
        frames[:, t, 1] |= ((steps < 0) | noise[1]).astype(np.uint8)
    return frames


def default_cache_dir() -> Path:
    return Path(os.environ.get("NEURODEPLOY_CACHE", Path.home() / ".cache" / "neurodeploy"))


def _split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed stratified 80/20 split (every 5th sample of each class, in dataset order, is test)."""
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        test[idx[4::5]] = True
    return np.flatnonzero(~test), np.flatnonzero(test)


def load_digits_events(params: DigitsEventsParams | None = None,
                       cache_dir: str | Path | None = None) -> tuple[EventDataset, EventDataset]:
    """(train, test) splits, generated on first use and cached on disk (atomic write)."""
    from sklearn.datasets import load_digits

    p = params or DigitsEventsParams()
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache / f"digits-events-{p.key()}.npz"
    frames = labels = None
    if path.exists():
        try:
            with np.load(path) as z:
                frames, labels = z["frames"], z["labels"]
        except (OSError, ValueError, KeyError):
            frames = None  # corrupt cache: regenerate
    if frames is None:
        digits = load_digits()
        frames, labels = generate(digits.images, p), digits.target.astype(np.int64)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, frames=frames, labels=labels)
    tr, te = _split_indices(labels)
    to = torch.from_numpy
    return (EventDataset(to(frames[tr]), to(labels[tr])), EventDataset(to(frames[te]), to(labels[te])))
