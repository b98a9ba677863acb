"""Loihi emulator: hand-computed fixed-point values (facts §3), latency, batching, devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_loihi_export import conv_net, dense_net, spikes  # noqa: I001  (tests dir on sys.path)

from neurodeploy.errors import DataError
from neurodeploy.targets.loihi.emulator import LoihiEmulator, cuba_step
from neurodeploy.targets.loihi.export import LoihiNet, NetLayer, export, write_netx


def _i64(*v):
    return torch.tensor(v, dtype=torch.int64)


def tiny_net(tmp_path, weight=100, bias=10, i_decay=1024, v_decay=512, vth=600):
    """1 input → 1 CUBA neuron, integers chosen by hand."""
    lay = NetLayer("dense", (1,), "tiny", np.array([[weight]]), None,
                   np.array([bias]) if bias else None, None, i_decay, v_decay, vth)
    path = tmp_path / "tiny.net"
    write_netx(LoihiNet((1,), [lay], 1e-3), path)
    return path


def test_cuba_step_hand_computed():
    # input spike every step, weight 100, iDecay 1024 (u keeps 3072/4096), vDecay 512, bias 10
    u = v = _i64(0)
    trace, spk = [], []
    for a in (0, 100, 100, 100, 100, 100):    # step 0 delivers the empty synapse buffer
        u, v, s = cuba_step(u, v, _i64(a), 1024, 512, 10 << 6, 600 << 6)
        trace.append(int(v))
        spk.append(bool(s))
    # v: 640; (640*3584>>12=560)+6400+640; (7600→6650)+11200+640; (18490→16178)+14800+640;
    # (31618→27665)+17500+640 = 45805 > 38400 → spike, v = 0; then 0+19525+640
    assert trace == [640, 7600, 18490, 31618, 0, 20165]
    assert spk == [False, False, False, False, True, False]


def test_cuba_step_truncates_toward_zero_and_wraps_24_bits():
    u, v, _ = cuba_step(_i64(-1001), _i64(-1001), _i64(0), 1024, 1024, 0, 1 << 20)
    assert int(u) == -750 and int(v) == -750 - 750       # floor would give -751
    u, _, _ = cuba_step(_i64(8388000), _i64(0), _i64(100), 1, 0, 0, 1 << 20)
    assert int(u) == 8385952 + 6400 - 2 ** 24           # 8392352 > 2^23 wraps to -8384864
    _, v, _ = cuba_step(_i64(0), _i64(-(2 ** 23) + 10), _i64(-2000), 4096, 0, 0, 131071 << 6)
    assert int(v) == -(2 ** 23 - 1)                      # v saturates at ±(2^23 - 1)


def test_emulator_tiny_net_matches_hand_values(tmp_path):
    emu = LoihiEmulator(tiny_net(tmp_path))
    assert emu.latency == 1 and emu.input_shape == (1,)
    out = emu.run(torch.ones(6, 1, 1, dtype=torch.int8)).output_spikes
    assert out[:, 0, 0].tolist() == [0, 0, 0, 0, 1, 0]


def test_one_step_latency_per_layer(tmp_path):
    rng = np.random.default_rng(0)
    path = export(dense_net(rng, "IF", sizes=(4, 3, 2), gain=1.0), tmp_path / "l.net", {}).path
    emu = LoihiEmulator(path)
    x = torch.zeros(8, 1, 4, dtype=torch.int8)
    x[0] = 1                                             # one input volley at step 0
    res = emu.run(x, record=True)
    assert emu.latency == 2
    # nothing can arrive at layer j before step j + 1 (no biases here)
    assert res.layers[0][:1].sum() == 0 and res.layers[1][:2].sum() == 0


def test_batch_equals_single_samples(tmp_path):
    rng = np.random.default_rng(1)
    path = export(conv_net(rng), tmp_path / "c.net", {}).path
    emu = LoihiEmulator(path)
    x = spikes(rng, (15, 4, *emu.input_shape))
    full = emu.run(x, record=True)
    for b in range(4):
        one = emu.run(x[:, b:b + 1], record=True)
        for a, c in zip(full.layers, one.layers):
            assert torch.equal(a[:, b:b + 1], c)


def test_predict_counts_aligned_window(tmp_path):
    rng = np.random.default_rng(2)
    path = export(dense_net(rng, sizes=(20, 16, 6)), tmp_path / "p.net", {}).path
    emu = LoihiEmulator(path)
    x = spikes(rng, (10, 5, 20))
    pad = torch.cat([x, torch.zeros(emu.latency, 5, 20, dtype=x.dtype)])
    counts = emu.run(pad).output_spikes[emu.latency:].sum(0)
    assert torch.equal(emu.predict(x), counts.argmax(-1))


def test_non_binary_input_rejected(tmp_path):
    emu = LoihiEmulator(tiny_net(tmp_path))
    with pytest.raises(DataError, match=r"binary spikes \{0, 1\}"):
        emu.run(torch.full((3, 1, 1), 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu(tmp_path):
    rng = np.random.default_rng(3)
    path = export(conv_net(rng), tmp_path / "g.net", {}).path
    x = spikes(rng, (12, 3, 2, 8, 8))
    cpu = LoihiEmulator(path).run(x, record=True)
    gpu = LoihiEmulator(path, device="cuda").run(x.cuda(), record=True)
    for a, b in zip(cpu.layers, gpu.layers):
        assert torch.equal(a, b.cpu())
