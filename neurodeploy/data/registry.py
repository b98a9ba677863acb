"""Dataset lookup by config: returns (train, test, input shape, number of classes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from neurodeploy.errors import DataError


@dataclass(frozen=True)
class LoadedData:
    """Both splits and what a model builder needs. ``input_shape`` is one time step, no batch."""

    train: Dataset
    test: Dataset
    input_shape: tuple[int, ...]
    classes: int
    name: str


def load_data(data_cfg: dict) -> LoadedData:
    """Load the dataset named by the ``[data]`` config section (sum-pooled by ``input_pool``,
    clipped to ``input_clip`` events, restricted to the first ``classes`` classes; :mod:`neurodeploy.data.pooling`)."""
    data = _load(data_cfg)
    block = data_cfg.get("input_pool") or []
    keep = int(data_cfg.get("classes") or 0)
    clip = int(data_cfg.get("input_clip") or 0)
    if not block and not keep and not clip:
        return data
    from neurodeploy.data.pooling import PooledDataset, pooled_shape

    if keep > data.classes:
        raise DataError(f"[data] classes = {keep}, but {data.name} has only {data.classes} classes")
    shape = pooled_shape(data.input_shape, block) if block else data.input_shape
    return LoadedData(PooledDataset(data.train, block, keep, clip),
                      PooledDataset(data.test, block, keep, clip), shape,
                      keep or data.classes, data.name)


def _load(data_cfg: dict) -> LoadedData:
    name = data_cfg["dataset"]
    if name == "digits-events":
        from neurodeploy.data.digits_events import DigitsEventsParams, load_digits_events

        params = DigitsEventsParams(time_steps=data_cfg["time_steps"], seed=data_cfg["seed"],
                                    microsteps=3 * data_cfg["time_steps"])
        train, test = load_digits_events(params, data_cfg["cache_dir"] or None)
        return LoadedData(train, test, tuple(train.frames.shape[2:]), 10, name)
    from neurodeploy.data.tonic_loaders import DATASETS, load_tonic_dataset

    if not data_cfg["data_dir"]:
        raise DataError(f"[data] dataset = {name!r} reads local files: set [data] data_dir "
                        "(or --data-dir) to the folder holding them")
    root = Path(data_cfg["data_dir"])
    t = data_cfg["time_steps"]
    train = load_tonic_dataset(name, root, split="train", time_steps=t)
    test = load_tonic_dataset(name, root, split="test", time_steps=t)
    x0, _ = train[0]
    return LoadedData(train, test, tuple(x0.shape[1:]), DATASETS[name].num_classes, name)
