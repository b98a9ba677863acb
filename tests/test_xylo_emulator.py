"""Our integer Xylo emulator equals XyloSim (SynSense's C++ core) on every spike and step.

Random feed-forward and recurrent specifications, one and two hidden synapses, weak and saturating
regimes (up to 31 spikes per hidden neuron per step, 16-bit saturation), 100 steps, several seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodeploy.targets.xylo import _rockpool
from neurodeploy.targets.xylo.emulator import XyloEmulator, accumulate, decay

needs_xylosim = pytest.mark.skipif(not _rockpool.available(), reason=_rockpool.MISSING)


def random_spec(seed: int, n_in=16, n_hidden=32, n_out=4, rec=True, n_syn=1, big=False, bias=False):
    rng = np.random.default_rng(seed)
    lo, hi = (-128, 128) if big else (-40, 60)

    def w(*shape):
        return (rng.integers(lo, hi, shape) * (rng.random(shape) < 0.5)).astype(np.int64)

    spec = {"weights_in": w(n_in, n_hidden, n_syn), "weights_out": w(n_hidden, n_out),
            "dash_mem": rng.integers(0, 8, n_hidden), "dash_syn": rng.integers(0, 8, n_hidden),
            "dash_syn_2": rng.integers(0, 8, n_hidden), "dash_mem_out": rng.integers(0, 8, n_out),
            "dash_syn_out": rng.integers(0, 8, n_out),
            "threshold": rng.integers(1, 30000 if big else 300, n_hidden),
            "threshold_out": rng.integers(1, 300, n_out), "dt": 1e-3}
    if rec:
        spec["weights_rec"] = w(n_hidden, n_hidden, n_syn)
    if bias:
        spec["bias"] = rng.integers(-20, 20, n_hidden)
        spec["bias_out"] = rng.integers(-20, 20, n_out)
    # up to 3 events per channel and step; odd seeds up to 40 (the chip clips at 15)
    x = (rng.random((100, 3, n_in)) < 0.2) * rng.integers(1, 40 if seed % 2 else 4, (100, 3, n_in))
    return spec, x


def test_decay_rule():
    a = torch.tensor([10, 1, 3, -1, -3, 0, 35])
    assert decay(a, torch.tensor([1, 2, 2, 1, 1, 3, 1])).tolist() == [5, 0, 2, 0, -1, 0, 18]


def test_accumulate_saturates_per_source():
    start = torch.tensor([[30000]])
    x = torch.tensor([[1, 1]])
    w = torch.tensor([[5000], [-5000]])
    # 30000 + 5000 saturates at 32767 before the -5000 arrives
    assert accumulate(start, x, w, -32768, 32767).item() == 27767


CASES = [("syns61201", seed) for seed in range(8)] + [("syns63300", seed) for seed in (0, 3, 5)]


@needs_xylosim
@pytest.mark.parametrize(("chip", "seed"), CASES)
def test_emulator_equals_xylosim(chip, seed):
    """syns61201 = Xylo Audio 2; syns63300 = Xylo IMU (also Audio 3's XyloSim in Rockpool 3.1.0)."""
    XyloSim = _rockpool.xylosim_class(chip)
    spec, x = random_spec(seed, rec=seed % 2 == 0, n_syn=1 + (seed % 3 == 0), big=seed % 4 == 3,
                          bias=seed in (5, 6))
    run = XyloEmulator(spec).run(torch.as_tensor(x), record=True)
    assert run.hidden_spikes.max() > 1 or seed % 4 != 3  # multi-spike steps are exercised
    for b in range(x.shape[1]):
        sim = XyloSim.from_specification(**spec)
        out, _, rec = sim(x[:, b], record=True)
        np.testing.assert_array_equal(np.asarray(rec["Spikes"]), run.hidden_spikes[:, b].numpy())
        np.testing.assert_array_equal(np.asarray(out), run.output_spikes[:, b].numpy())
        np.testing.assert_array_equal(np.asarray(rec["Vmem"]), run.v_mem[:, b].numpy())
        np.testing.assert_array_equal(np.asarray(rec["Vmem_out"]), run.v_out[:, b].numpy())
