"""``python tests/small_data_cli.py ARGS…`` = ``neurodeploy ARGS…`` with every dataset load
returning the 256/128-sample subset of digits-events that tests/conftest.py's ``small_data``
uses: for tests that must run the CLI in a process they can kill."""

from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def small_data():
    from neurodeploy.data.digits_events import EventDataset, load_digits_events
    from neurodeploy.data.registry import LoadedData

    train, test = load_digits_events()
    return LoadedData(EventDataset(train.frames[:256], train.labels[:256]),
                      EventDataset(test.frames[:128], test.labels[:128]),
                      tuple(train.frames.shape[2:]), 10, "digits-events")


if __name__ == "__main__":
    import neurodeploy.train.trainer as trainer
    from neurodeploy.cli import main

    data = small_data()
    with mock.patch("neurodeploy.data.registry.load_data", return_value=data), \
            mock.patch.object(trainer, "load_data", return_value=data):
        sys.exit(main(sys.argv[1:]))
