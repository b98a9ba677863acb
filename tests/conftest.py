"""Shared fixtures: a session-wide digits-events cache and a tiny trained run."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _data_cache(tmp_path_factory):
    """Generated data goes to a per-session cache unless NEURODEPLOY_CACHE is set."""
    if "NEURODEPLOY_CACHE" not in os.environ:
        os.environ["NEURODEPLOY_CACHE"] = str(tmp_path_factory.mktemp("nd-cache"))
    torch.set_num_threads(2)
    yield


@pytest.fixture(scope="session")
def digits():
    from neurodeploy.data.digits_events import load_digits_events

    return load_digits_events()


@pytest.fixture(scope="session")
def small_data(digits):
    """A 256/128-sample subset of digits-events as LoadedData (fast training in tests)."""
    from neurodeploy.data.digits_events import EventDataset
    from neurodeploy.data.registry import LoadedData

    train, test = digits
    return LoadedData(EventDataset(train.frames[:256], train.labels[:256]),
                      EventDataset(test.frames[:128], test.labels[:128]),
                      tuple(train.frames.shape[2:]), 10, "digits-events")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, small_data):
    """An 8-epoch run directory of the default MLP on the subset."""
    from neurodeploy.train.config import load_config
    from neurodeploy.train.trainer import Trainer

    run = tmp_path_factory.mktemp("run") / "r"
    cfg = load_config("configs/digits.toml", ["train.epochs=8"])
    Trainer(cfg, run, progress=False, data=small_data).fit()
    return run


@pytest.fixture(scope="session")
def use_small_data(small_data):
    """``with use_small_data():`` every dataset load returns ``small_data``. Patches the name in
    the trainer too: patching only the registry while ``trainer`` is first imported binds the mock
    there for the rest of the session (it did: a later CLI test then 'trained' on SHD)."""
    import contextlib
    from unittest import mock

    import neurodeploy.train.trainer as trainer

    @contextlib.contextmanager
    def patched():
        with mock.patch("neurodeploy.data.registry.load_data", return_value=small_data), \
                mock.patch.object(trainer, "load_data", return_value=small_data):
            yield

    return patched
