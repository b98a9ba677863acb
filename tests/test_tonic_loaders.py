"""Offline tonic loaders: tiny files in each dataset's real on-disk format, exact expected frames."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from neurodeploy.data.tonic_loaders import DATASETS, expected_path, load_tonic_dataset
from neurodeploy.errors import DataError

# ---------------------------------------------------------------- writers in the real formats


def write_shd(path: Path, samples: list[tuple[list[float], list[int]]], labels: list[int]) -> None:
    """SHD HDF5: vlen float16 spikes/times (s), vlen uint16 spikes/units, labels, extra/*."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u) in enumerate(samples):
            times[i] = np.asarray(t, dtype=np.float16)
            units[i] = np.asarray(u, dtype=np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint8))
        f.create_dataset("extra/keys", data=np.array([f"word{i}".encode() for i in range(20)]))
        f.create_dataset("extra/speaker", data=np.zeros(len(samples), dtype=np.uint16))


def write_nmnist_bin(path: Path, events: list[tuple[int, int, int, int]]) -> None:
    """N-MNIST: 5 bytes (40 bits) per event: x, y, p<<7 | t[22:16], t[15:8], t[7:0]; t in us."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = bytearray()
    for x, y, p, t in events:
        assert t < 2**23 and y != 240  # y == 240 marks a timestamp-overflow record
        raw += bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    path.write_bytes(bytes(raw))


def write_dvsgesture_npy(path: Path, events: list[tuple[int, int, int, int]]) -> None:
    """tonic's preprocessed DVS Gesture: (N, 4) array of x, y, p, t (ms) per event."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(events, dtype=np.int64).reshape(-1, 4))


def frames_from(shape: tuple[int, ...], ones: list[tuple[int, ...]]) -> torch.Tensor:
    out = torch.zeros(shape)
    for idx in ones:
        out[idx] = 1.0
    return out


# ---------------------------------------------------------------- SHD


def test_shd_bins_units_and_labels(tmp_path):
    # Sample 0: us 0,0,250k,500k,500k,750k,1M -> width 250k; the event at t_last (1 s) is dropped.
    s0 = ([0.0, 0.0, 0.25, 0.5, 0.5, 0.75, 1.0], [3, 3, 10, 699, 0, 10, 5])
    # Sample 1: starts at 0.5 s -> width (2.5-0.5)/4 = 0.5 s, bins start at t_first.
    s1 = ([0.5, 0.625, 1.5, 2.5], [1, 2, 3, 4])
    write_shd(tmp_path / "SHD" / "shd_train.h5", [s0, s1], [7, 19])
    write_shd(tmp_path / "SHD" / "shd_test.h5", [([0.0, 0.5, 1.0], [42, 43, 44])], [11])

    train = load_tonic_dataset("shd", tmp_path, "train", time_steps=4)
    assert len(train) == 2
    frames, label = train[0]
    assert frames.dtype == torch.float32 and frames.shape == (4, 700)
    assert isinstance(label, int) and label == 7
    torch.testing.assert_close(
        frames, frames_from((4, 700), [(0, 3), (1, 10), (2, 699), (2, 0), (3, 10)]), rtol=0, atol=0
    )
    frames, label = train[1]
    assert label == 19
    torch.testing.assert_close(
        frames, frames_from((4, 700), [(0, 1), (0, 2), (2, 3)]), rtol=0, atol=0
    )

    test = load_tonic_dataset("SHD", tmp_path, "test", time_steps=2)
    assert len(test) == 1
    frames, label = test[0]
    assert label == 11
    torch.testing.assert_close(frames, frames_from((2, 700), [(0, 42), (1, 43)]), rtol=0, atol=0)

    batch, labels = next(iter(DataLoader(train, batch_size=2)))
    assert batch.shape == (2, 4, 700) and labels.tolist() == [7, 19]


def test_shd_missing_file_names_it(tmp_path):
    (tmp_path / "shd_train.h5").write_bytes(b"")  # wrong place: tonic wants data_dir/SHD/
    with pytest.raises(DataError) as err:
        load_tonic_dataset("shd", tmp_path, "train")
    msg = str(err.value)
    assert "\n" not in msg
    assert str(tmp_path / "SHD" / "shd_train.h5") in msg
    assert "shd_train.h5.zip" in msg and "zenkelab.org" in msg


def test_shd_corrupt_file_is_data_error(tmp_path):
    (tmp_path / "SHD").mkdir()
    (tmp_path / "SHD" / "shd_test.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(DataError, match="unreadable"):
        load_tonic_dataset("shd", tmp_path, "test")


# ---------------------------------------------------------------- N-MNIST


def test_nmnist_bins_pixels_polarity_and_labels(tmp_path):
    root = tmp_path / "NMNIST" / "Train"
    # t: 0 | 100, 150, 160 | 200 (dropped); width 100 us with T=2. x=33,y=1 checks x/y order.
    write_nmnist_bin(
        root / "3" / "00001.bin",
        [(0, 0, 0, 0), (33, 1, 1, 100), (5, 7, 1, 150), (5, 7, 1, 160), (9, 9, 0, 200)],
    )
    # Timestamps above 16 bits exercise all 23 time bits; width 70000 us.
    write_nmnist_bin(
        root / "8" / "00002.bin", [(1, 2, 1, 0), (20, 30, 0, 70000), (3, 3, 1, 140000)]
    )
    # All events at one timestamp: tonic's bin width is 0, so every frame is empty.
    write_nmnist_bin(
        tmp_path / "NMNIST" / "Test" / "5" / "00001.bin", [(4, 4, 1, 42), (6, 6, 0, 42)]
    )

    ds = load_tonic_dataset("N-MNIST", tmp_path, "train", time_steps=2)
    assert len(ds) == 2
    frames, label = ds[0]
    assert label == 3 and frames.shape == (2, 2, 34, 34) and frames.dtype == torch.float32
    expected = frames_from((2, 2, 34, 34), [(0, 0, 0, 0), (1, 1, 1, 33), (1, 1, 7, 5)])
    torch.testing.assert_close(frames, expected, rtol=0, atol=0)
    frames, label = ds[1]
    assert label == 8
    expected = frames_from((2, 2, 34, 34), [(0, 1, 2, 1), (1, 0, 30, 20)])
    torch.testing.assert_close(frames, expected, rtol=0, atol=0)

    frames, label = load_tonic_dataset("nmnist", tmp_path, "test", time_steps=3)[0]
    assert label == 5 and frames.shape == (3, 2, 34, 34) and frames.sum().item() == 0


def test_nmnist_random_events_match_reference_binning(tmp_path):
    rng = np.random.default_rng(1234)
    n, steps = 300, 7
    t = np.sort(rng.integers(0, 300_000, size=n))
    x, y, p = rng.integers(0, 34, size=n), rng.integers(0, 34, size=n), rng.integers(0, 2, size=n)
    write_nmnist_bin(
        tmp_path / "NMNIST" / "Train" / "6" / "00001.bin",
        [(int(a), int(b), int(c), int(d)) for a, b, c, d in zip(x, y, p, t)],
    )
    width = (t[-1] - t[0]) // steps
    k = (t - t[0]) // width
    keep = k < steps
    expected = torch.zeros(steps, 2, 34, 34)
    expected[k[keep], p[keep], y[keep], x[keep]] = 1.0
    assert keep.sum() < n  # the last event always falls outside the bins

    frames, label = load_tonic_dataset("nmnist", tmp_path, "train", time_steps=steps)[0]
    assert label == 6
    torch.testing.assert_close(frames, expected, rtol=0, atol=0)


def test_nmnist_empty_folder_names_it(tmp_path):
    (tmp_path / "NMNIST" / "Train" / "0").mkdir(parents=True)
    with pytest.raises(DataError) as err:
        load_tonic_dataset("nmnist", tmp_path, "train")
    msg = str(err.value)
    assert str(tmp_path / "NMNIST" / "Train") in msg and ".bin" in msg and "train.zip" in msg


# ---------------------------------------------------------------- DVS Gesture


def test_dvsgesture_bins_pixels_labels_and_order(tmp_path):
    root = tmp_path / "DVSGesture" / "ibmGestureTrain"
    # ms 0 | 10 | 20 (dropped) -> width 10 ms with T=2; x=127,y=0 checks x/y order.
    write_dvsgesture_npy(
        root / "user01_fluorescent" / "2.npy", [(127, 0, 1, 0), (0, 127, 0, 10), (64, 32, 1, 20)]
    )
    # ms 5,6 | - | 9 (dropped): width (9-5)//2 = 2 ms; the two equal events clip to one spike.
    write_dvsgesture_npy(
        root / "user01_fluorescent" / "10.npy", [(1, 2, 0, 5), (1, 2, 0, 6), (3, 4, 1, 9)]
    )
    write_dvsgesture_npy(root / "user02_led" / "5.npy", [(10, 20, 1, 0), (11, 21, 0, 30)])

    ds = load_tonic_dataset("dvsgesture", tmp_path, "train", time_steps=2)
    assert [ds[i][1] for i in range(len(ds))] == [2, 10, 5]  # sorted by folder, then label
    frames, label = ds[0]
    assert frames.shape == (2, 2, 128, 128) and frames.dtype == torch.float32
    torch.testing.assert_close(
        frames, frames_from((2, 2, 128, 128), [(0, 1, 0, 127), (1, 0, 127, 0)]), rtol=0, atol=0
    )
    torch.testing.assert_close(
        ds[1][0], frames_from((2, 2, 128, 128), [(0, 0, 2, 1)]), rtol=0, atol=0
    )

    frames, label = load_tonic_dataset("dvs_gesture", tmp_path, "train", time_steps=3)[2]
    assert label == 5
    torch.testing.assert_close(
        frames, frames_from((3, 2, 128, 128), [(0, 1, 20, 10)]), rtol=0, atol=0
    )


def test_dvsgesture_missing_split_names_it(tmp_path):
    write_dvsgesture_npy(
        tmp_path / "DVSGesture" / "ibmGestureTrain" / "user01_led" / "0.npy", [(0, 0, 0, 0)]
    )
    with pytest.raises(DataError) as err:
        load_tonic_dataset("dvsgesture", tmp_path, "test")
    msg = str(err.value)
    assert str(tmp_path / "DVSGesture" / "ibmGestureTest") in msg and "ibmGestureTest.tar.gz" in msg


# ---------------------------------------------------------------- names and paths


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("split", ["train", "test"])
def test_missing_data_dir_is_one_line_data_error(tmp_path, name, split):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        load_tonic_dataset(name, missing, split)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(expected_path(name, missing, split)) in msg and DATASETS[name].title in msg
    assert not missing.exists()  # nothing was created or downloaded


def test_unknown_name_lists_known_and_closest(tmp_path):
    with pytest.raises(DataError) as err:
        load_tonic_dataset("nmnsit", tmp_path)
    msg = str(err.value)
    assert (
        "'nmnsit'" in msg and "shd, nmnist, dvsgesture" in msg and "closest match: 'nmnist'" in msg
    )


def test_dataset_info():
    assert DATASETS["shd"].sensor_size == (700, 1, 1) and DATASETS["shd"].num_classes == 20
    assert DATASETS["nmnist"].sensor_size == (34, 34, 2) and DATASETS["nmnist"].num_classes == 10
    assert (
        DATASETS["dvsgesture"].sensor_size == (128, 128, 2)
        and DATASETS["dvsgesture"].num_classes == 11
    )


def test_train_cli_on_real_format_nmnist_files(tmp_path, capsys):
    """The whole path: real-format files → tonic → our trainer (tiny, 1 epoch)."""
    from neurodeploy.cli import main

    rng = np.random.default_rng(0)
    for split in ("Train", "Test"):
        for label in range(10):
            for k in range(2):
                ev = [(int(rng.integers(0, 34)), int(rng.integers(0, 34)), int(rng.integers(0, 2)),
                       int(t)) for t in sorted(rng.integers(0, 300_000, size=40))]
                write_nmnist_bin(tmp_path / "NMNIST" / split / str(label) / f"{k:05d}.bin", ev)
    code = main(["train", "--out", str(tmp_path / "run"), "-q", "--data-dir", str(tmp_path),
                 "-s", "data.dataset=nmnist", "-s", "data.time_steps=4", "-s", "model.hidden=[8]",
                 "--epochs", "1"])
    assert code == 0, capsys.readouterr().err
    import json

    ckpt_cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert ckpt_cfg["data"]["dataset"] == "nmnist"
    import torch

    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ckpt["input_shape"] == [2, 34, 34] and ckpt["classes"] == 10
