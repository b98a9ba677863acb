"""lava-dl-written netx files (slayer blocks, export_hdf5, generated here): our emulator = Lava
bit-exactly, every layer and step; netx → NIR → our Loihi export gives the same integers."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

pytest.importorskip("lava.lib.dl.netx",
                    reason="lava-dl is not installed (Python 3.10 env with neurodeploy[loihi])")
pytest.importorskip("lava.lib.dl.slayer", reason="lava-dl slayer is not installed")

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
import make_netx  # noqa: E402

from neurodeploy.targets.loihi.emulator import LoihiEmulator  # noqa: E402
from neurodeploy.targets.loihi.export import export  # noqa: E402
from neurodeploy.targets.loihi.lava_runner import run_lava  # noqa: E402
from neurodeploy.targets.loihi.netx_reader import load_netx, read_netx, ungroup  # noqa: E402

pytestmark = pytest.mark.lava


def _spikes(shape, seed=0, p=0.3):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < p).to(torch.int8)


def _equal_every_layer(path, x):
    emu = LoihiEmulator(path).run(x, record=True)
    lava = run_lava(path, x, record=True)
    assert len(emu.layers) == len(lava.layers)
    for j, (a, b) in enumerate(zip(emu.layers, lava.layers)):
        assert a.shape == b.shape, j
        assert torch.equal(a, b), f"layer {j}: {int((a != b).sum())} differing spikes"
    assert all(int(a.sum()) > 0 for a in emu.layers)   # every layer spikes: not vacuous
    return emu


def _same_integers(src: Path, exported: Path) -> None:
    ours, theirs = read_netx(exported), read_netx(src)
    compute = [lay for lay in theirs.layers if lay.kind != "flatten"]
    mine = [lay for lay in ours.layers if lay.kind != "flatten"]
    assert len(compute) == len(mine)
    for a, b in zip(compute, mine):
        ka, kb = (x.weight if x.conv is None else ungroup(x.weight, x.conv["groups"]) for x in (a, b))
        assert np.array_equal(ka, kb), a.index
        assert (a.i_decay, a.v_decay, a.v_th_mant) == (b.i_decay, b.v_decay, b.v_th_mant)
        for f in ("weight_rec", "delay", "bias"):
            x, y = getattr(a, f), getattr(b, f)
            assert (x is None and y is None) or np.array_equal(x, y), (a.index, f)


@pytest.mark.parametrize("maker,seed", [("dense_delay", 0), ("dense_delay", 3), ("recurrent", 0)])
def test_lavadl_dense_emulator_equals_lava(tmp_path, maker, seed):
    path = getattr(make_netx, maker)(tmp_path / "n.net", seed=seed)
    x = _spikes((24, 2, 16), seed)
    _equal_every_layer(path, x)
    out = export(load_netx(path), tmp_path / "round.net", {})
    _same_integers(path, out.path)
    _equal_every_layer(out.path, x)   # our file runs in Lava like the original


def test_lavadl_if_delay_emulator_equals_lava(tmp_path):
    path = make_netx.dense_delay(tmp_path / "if.net", seed=1, params=make_netx.IF_LIKE)
    _equal_every_layer(path, _spikes((24, 2, 16), 1))


def test_lavadl_conv_pool(tmp_path):
    """Lava's netx cannot load ``pool`` (NotImplementedError); our export of the read graph
    writes it as a grouped conv with the same integers, which Lava runs = our emulator of the
    original file."""
    path = make_netx.conv_pool(tmp_path / "c.net")
    with h5py.File(path) as f:
        assert f["layer/1/type"][0] == b"pool"
    x = _spikes((16, 2, 2, 18, 18), 2)
    out = export(load_netx(path), tmp_path / "round.net", {}).path
    _same_integers(path, out)
    emu = LoihiEmulator(path).run(x, record=True)
    lava = _equal_every_layer(out, x)
    for a, b in zip(emu.layers, lava.layers):
        assert torch.equal(a, b)


def test_odd_small_and_excitatory_weights_with_bias(tmp_path):
    """Weights lava-dl's quantiser may also produce: odd values, tiny ranges (Lava's
    optimize_weight_bits then shifts them by a weight exponent and back), an all-positive
    layer (up to 254: our Loihi check limits every layer to 254, although Lava also accepts
    255 in an all-positive layer), and a per-neuron bias. Emulator = Lava; the round trip keeps
    the integers."""
    path = make_netx.dense_delay(tmp_path / "w.net", seed=5)
    rng = np.random.default_rng(5)
    with h5py.File(path, "r+") as f:
        for key, w in (("layer/0/weight", rng.integers(-3, 4, (24, 16))),
                       ("layer/1/weight", rng.integers(0, 255, (12, 24)) * (rng.random((12, 24)) < 0.15)),
                       ("layer/2/weight", rng.integers(-255, 255, (5, 12)) | 1)):
            del f[key]
            f[key] = w.astype(np.float32)
        f["layer/0/bias"] = rng.integers(-40, 60, 24).astype(np.float32)
        for key in ("layer/0/neuron/vThMant",):
            del f[key]
            f[key] = 4
    x = _spikes((24, 2, 16), 5)
    _equal_every_layer(path, x)
    out = export(load_netx(path), tmp_path / "round.net", {}).path
    _same_integers(path, out)
