import numpy as np
import pytest
import torch

from neurodeploy.data.digits_events import (
    DigitsEventsParams,
    _split_indices,
    generate,
    load_digits_events,
    saccade_path,
)
from neurodeploy.errors import DataError


def _images(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 17, size=(n, 8, 8)).astype(float)


def test_generation_is_deterministic_for_a_seed():
    p = DigitsEventsParams()
    a, b = generate(_images(), p), generate(_images(), p)
    assert a.dtype == np.uint8 and a.shape == (6, 16, 2, 18, 18)
    assert np.array_equal(a, b)
    c = generate(_images(), DigitsEventsParams(seed=1))
    assert not np.array_equal(a, c)  # noise and mismatch depend on the seed


def test_blank_image_without_noise_emits_nothing_and_a_bright_pixel_emits_on_and_off():
    p = DigitsEventsParams(noise_rate=0.0, mismatch=0.0)
    blank = np.zeros((1, 8, 8))
    assert generate(blank, p).sum() == 0
    dot = np.zeros((1, 8, 8))
    dot[0, 4, 4] = 16
    ev = generate(dot, p)
    assert ev[0, :, 0].sum() > 0 and ev[0, :, 1].sum() > 0  # moving edge: ON ahead, OFF behind
    ys, xs = np.nonzero(ev[0].sum(axis=(0, 1)))
    # the dot sits at canvas rows/cols 9-10 (8·2 upsampled, offset 1); motion ±1 px plus bilinear blur
    assert ys.min() >= 6 and ys.max() <= 13 and xs.min() >= 6 and xs.max() <= 13


def test_saccade_is_a_closed_triangle_of_the_given_amplitude():
    p = DigitsEventsParams(microsteps=48, amplitude_px=2.0)
    path = saccade_path(p)
    assert path.shape == (48, 2)
    assert np.allclose(path[0], [-1, -1])
    assert np.allclose(path[16], [-1, 1]) and np.allclose(path[32], [1, 0])
    assert np.abs(path).max() <= 1.0 + 1e-12


def test_split_is_fixed_stratified_and_disjoint():
    labels = np.repeat(np.arange(10), 10)
    tr, te = _split_indices(labels)
    assert len(te) == 20 and len(tr) == 80 and not set(tr) & set(te)
    assert np.bincount(labels[te]).tolist() == [2] * 10


def test_load_caches_on_disk_and_reloads_identically(tmp_path, digits):
    train, test = digits
    assert len(train) + len(test) == 1797
    assert set(torch.unique(train.frames).tolist()) <= {0, 1}
    x, y = train[0]
    assert x.shape == (16, 2, 18, 18) and x.dtype == torch.float32 and isinstance(y, int)
    p = DigitsEventsParams(time_steps=4, microsteps=12)
    a_train, _ = load_digits_events(p, tmp_path)
    files = list(tmp_path.glob("digits-events-*.npz"))
    assert len(files) == 1
    b_train, _ = load_digits_events(p, tmp_path)
    assert torch.equal(a_train.frames, b_train.frames)


def test_bad_parameters_raise_a_clear_error():
    with pytest.raises(DataError, match="multiple of time_steps"):
        generate(_images(1), DigitsEventsParams(time_steps=5, microsteps=48))
    with pytest.raises(DataError, match="does not fit canvas"):
        generate(_images(1), DigitsEventsParams(upsample=3, canvas=18))
