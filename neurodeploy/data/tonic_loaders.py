"""Offline loaders for SHD, N-MNIST and DVS Gesture through :mod:`tonic`; nothing is downloaded.

``data_dir`` is tonic's ``save_to``: each dataset lives in ``data_dir/<tonic class name>/``
exactly as tonic lays it out (see :data:`DATASETS` and :func:`expected_path`).

A sample is ``(frames, label)``:

* ``frames``: ``torch.float32`` binary spikes (every value 0.0 or 1.0).
  N-MNIST / DVS Gesture: shape ``(T, 2, H, W)``; channel = polarity bit as stored in the file,
  index ``[t, p, y, x]`` with x, y in pixels. SHD: shape ``(T, 700)``, index ``[t, unit]``
  (cochlea channel).
* ``label``: ``int`` class index.

Time binning is ``tonic.transforms.ToFrame(n_time_bins=T)`` on event times in microseconds
(SHD stores seconds, truncated to whole us after x1e6; N-MNIST stores us; tonic's DVS Gesture
stores ms, x1000). Tonic makes T bins of width ``w = (t_last - t_first) // T`` us, bin ``k``
covering ``[t_first + k*w, t_first + (k+1)*w)``. Events at or after ``t_first + T*w`` -- always
including those at ``t_last`` -- are dropped, and a sample whose events share one timestamp
gives all-zero frames. Several events in one bin and pixel count once (clipped to 1).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tonic
import torch
from torch.utils.data import Dataset

from neurodeploy.errors import ConfigError, DataError


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about one dataset.

    ``sensor_size`` is in tonic order ``(x size, y size, polarities)``; ``train``/``test`` are
    the file or folder each split needs, relative to ``data_dir``.
    """

    title: str
    tonic_class: str
    sensor_size: tuple[int, int, int]
    num_classes: int
    train: str
    test: str
    files: str
    source: str


DATASETS: dict[str, DatasetInfo] = {
    "shd": DatasetInfo(
        title="SHD",
        tonic_class="SHD",
        sensor_size=(700, 1, 1),
        num_classes=20,
        train="SHD/shd_train.h5",
        test="SHD/shd_test.h5",
        files="HDF5 file with spikes/times (s), spikes/units, labels, extra/keys, extra/speaker",
        source="download {zip} from the Zenke lab (https://zenkelab.org/datasets/) and unzip it",
    ),
    "nmnist": DatasetInfo(
        title="N-MNIST",
        tonic_class="NMNIST",
        sensor_size=(34, 34, 2),
        num_classes=10,
        train="NMNIST/Train",
        test="NMNIST/Test",
        files="folder with digit subfolders 0..9 of 40-bit-per-event .bin files",
        source="download {zip} from https://www.garrickorchard.com/datasets/n-mnist and unzip it",
    ),
    "dvsgesture": DatasetInfo(
        title="DVS Gesture",
        tonic_class="DVSGesture",
        sensor_size=(128, 128, 2),
        num_classes=11,
        train="DVSGesture/ibmGestureTrain",
        test="DVSGesture/ibmGestureTest",
        files="tonic's preprocessed folder of userNN_<lighting>/<label>.npy files (x, y, p, t in ms)",
        source="download {zip} (tonic's preprocessed version, https://figshare.com/ndownloader/"
        "files/{fig}) and extract it",
    ),
}
_ARCHIVES = {
    ("shd", "train"): "shd_train.h5.zip",
    ("shd", "test"): "shd_test.h5.zip",
    ("nmnist", "train"): "train.zip",
    ("nmnist", "test"): "test.zip",
    ("dvsgesture", "train"): "ibmGestureTrain.tar.gz",
    ("dvsgesture", "test"): "ibmGestureTest.tar.gz",
}
_FIGSHARE = {"train": "38022171", "test": "38020584"}
_EXT = {"nmnist": ".bin", "dvsgesture": ".npy"}


class _NoDownload:
    """Mixin: trust our own file check and refuse tonic's download path."""

    def _check_exists(self) -> bool:
        return True

    def download(self) -> None:
        raise DataError(f"{type(self).__name__}: refusing to download; put the files in place")


# Class names must equal tonic's: tonic reads from save_to/<class name>/.
class SHD(_NoDownload, tonic.datasets.SHD):
    """tonic's SHD reading only from disk."""


class NMNIST(_NoDownload, tonic.datasets.NMNIST):
    """tonic's NMNIST reading only from disk."""


class DVSGesture(_NoDownload, tonic.datasets.DVSGesture):
    """tonic's DVSGesture reading only from disk, samples sorted by (folder, label)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        order = sorted(
            range(len(self.data)), key=lambda i: (Path(self.data[i]).parent, self.targets[i])
        )
        for attr in ("data", "targets", "users", "lighting"):
            setattr(self, attr, [getattr(self, attr)[i] for i in order])


_CLASSES = {"shd": SHD, "nmnist": NMNIST, "dvsgesture": DVSGesture}


class BinaryFrames:
    """Events -> float32 binary frames ``(T, P, H, W)``, or ``(T, W)`` when ``flat`` (SHD)."""

    def __init__(self, sensor_size: tuple[int, int, int], time_steps: int, flat: bool) -> None:
        self.to_frame = tonic.transforms.ToFrame(sensor_size=sensor_size, n_time_bins=time_steps)
        self.flat = flat

    def __call__(self, events: np.ndarray) -> torch.Tensor:
        frames = torch.from_numpy(np.asarray(self.to_frame(events))).clamp_(max=1).float()
        return frames.reshape(frames.shape[0], -1) if self.flat else frames


def _resolve(name: str) -> str:
    key = name.lower().replace("-", "").replace("_", "").replace(" ", "")
    if key not in DATASETS:
        close = difflib.get_close_matches(key, DATASETS, n=1, cutoff=0.0)
        raise DataError(
            f"unknown dataset {name!r}; known: {', '.join(DATASETS)}"
            + (f"; closest match: {close[0]!r}" if close else "")
        )
    return key


def expected_path(name: str, data_dir: str | Path, split: str = "train") -> Path:
    """Return the file (SHD) or folder (N-MNIST, DVS Gesture) ``split`` needs under ``data_dir``."""
    key = _resolve(name)
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    info = DATASETS[key]
    return Path(data_dir).expanduser() / (info.train if split == "train" else info.test)


def _check_files(key: str, data_dir: Path, split: str) -> Path:
    info, path = DATASETS[key], expected_path(key, data_dir, split)
    ext = _EXT.get(key)
    if ext is None:
        ok, what = path.is_file(), f"file {path}"
    else:
        ok = path.is_dir() and next(path.rglob(f"*{ext}"), None) is not None
        what = f"folder {path} containing {ext} files"
    if not ok:
        how = info.source.format(zip=_ARCHIVES[key, split], fig=_FIGSHARE[split])
        raise DataError(
            f"{info.title} {split} data not found: expected {what} ({info.files}) under "
            f"data_dir {data_dir}; {how} into {path.parent}"
        )
    return path


def load_tonic_dataset(
    name: str, data_dir: str | Path, split: str = "train", time_steps: int = 16
) -> Dataset:
    """Load ``name`` ("shd", "nmnist" or "dvsgesture") from local files; see the module docstring.

    Returns a map-style dataset of ``(frames, label)``: frames float32 binary spikes of shape
    ``(time_steps, 2, H, W)`` (``(time_steps, 700)`` for SHD), label an ``int``.
    Raises :class:`DataError` if the files are missing or unreadable, or the name is unknown.
    """
    key = _resolve(name)
    if time_steps < 1:
        raise ConfigError(f"time_steps must be >= 1, got {time_steps}")
    data_dir = Path(data_dir).expanduser()
    path = _check_files(key, data_dir, split)
    info = DATASETS[key]
    transform = BinaryFrames(info.sensor_size, time_steps, flat=key == "shd")
    try:
        return _CLASSES[key](
            os.fspath(data_dir), train=split == "train", transform=transform, target_transform=int
        )
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{info.title} {split} data at {path} is unreadable: {exc}") from exc
