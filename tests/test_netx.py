"""netx (.net) source reader, emulator delays/pool, float and ONNX agreement — core env, no Lava.

Fixtures in tests/fixtures/lavadl_*.net were written by lava-dl 0.6.0's slayer blocks
(``export_hdf5``) with tests/fixtures/make_netx.py; tests/test_netx_lava.py compares them with Lava.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from neurodeploy.errors import NeurodeployError, UnsupportedNodeError
from neurodeploy.pipeline import load_source
from neurodeploy.sim.float_sim import simulate
from neurodeploy.targets.loihi.emulator import LoihiEmulator
from neurodeploy.targets.loihi.export import export as export_loihi
from neurodeploy.targets.loihi.netx_reader import load_netx, read_netx, ungroup

FIX = Path(__file__).parent / "fixtures"
NETS = ["lavadl_dense_delay", "lavadl_dense_if", "lavadl_recurrent", "lavadl_conv_pool"]


def _kernel(lay):
    """pool/grouped conv kernels compare as their groups = 1 form (how the export writes them)."""
    return lay.weight if lay.conv is None else ungroup(lay.weight, lay.conv["groups"])


def _x(emu, t=30, b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(t, b, *emu.input_shape, generator=g) < 0.3).float()


def _float_vs_emulator(path):
    """(fraction of differing spike bins, per layer) between the float NIR simulation and the
    emulator, aligned by the emulator's one step per layer; runs padded so nothing is cut."""
    emu = LoihiEmulator(path)
    x = _x(emu)
    xe = torch.cat([x, torch.zeros(emu.latency + 1, *x.shape[1:])])
    fixed = emu.run(xe.to(torch.int8), record=True).layers
    res = simulate(load_netx(path), xe, record=True)
    neurons = [k for k in res.layers if k.split("_")[1] in ("if", "cubalif")]
    out = []
    for j, (name, e) in enumerate(zip(neurons, fixed)):
        f = res.layers[name].reshape(e.shape)
        f = torch.cat([torch.zeros_like(f[:j + 1]), f[:-(j + 1)]]).to(torch.int8)
        n = e.shape[0] - (j + 1)   # bins both runs cover
        out.append(float((f[:n] != e[:n]).float().mean()))
        assert int(e.sum()) > 0
    return out


def test_read_layers_and_nir():
    nx = read_netx(FIX / "lavadl_dense_delay.net")
    assert [lay.kind for lay in nx.layers] == ["dense", "dense", "dense"]
    assert nx.input_shape == (16,)
    assert nx.layers[0].delay is not None and nx.layers[0].delay.max() > 0
    g = load_netx(FIX / "lavadl_dense_delay.net")
    assert {type(n).__name__ for n in g.nodes.values()} >= {"Linear", "Delay", "CubaLIF"}
    meta = g.metadata
    assert meta["dt_s"] == 1e-3 and "assumed" in meta["dt_source"]
    layers = json.loads(meta["netx_layers"])
    assert layers[0]["iDecay"] == 1024 and layers[0]["vThMant"] == 80
    pool = read_netx(FIX / "lavadl_conv_pool.net").layers[1]
    assert pool.kind == "pool" and pool.conv["groups"] == 4 and pool.weight.shape == (4, 1, 2, 2)


def test_pipeline_source_and_dt():
    src = load_source(FIX / "lavadl_dense_if.net", dt_s=1e-4)
    assert src.graph.metadata["dt_s"] == 1e-4 and src.graph.metadata["dt_source"] == "--dt"
    delays = [n for n in src.graph.nodes.values() if type(n).__name__ == "Delay"]
    assert delays and float(np.max(delays[0].delay)) == pytest.approx(4e-4)


@pytest.mark.parametrize("net", NETS)
def test_loihi_round_trip_same_integers(tmp_path, net):
    path = FIX / f"{net}.net"
    out = export_loihi(load_netx(path), tmp_path / "r.net", {}).path
    theirs = [lay for lay in read_netx(path).layers if lay.kind != "flatten"]
    ours = [lay for lay in read_netx(out).layers if lay.kind != "flatten"]
    for a, b in zip(theirs, ours, strict=True):
        assert np.array_equal(_kernel(a), _kernel(b))
        assert (a.i_decay, a.v_decay, a.v_th_mant) == (b.i_decay, b.v_decay, b.v_th_mant)
        for f in ("weight_rec", "delay", "bias"):
            assert (getattr(a, f) is None) == (getattr(b, f) is None), f
    manifest = json.loads(Path(str(out) + ".manifest.json").read_text())
    assert all(lay.get("scale_k_source", "graph metadata loihi_layer_scale") == "graph metadata loihi_layer_scale"
               for lay in manifest["layers"])
    x = _x(LoihiEmulator(path))
    assert torch.equal(LoihiEmulator(path).run(x).output_spikes, LoihiEmulator(out).run(x).output_spikes)


def test_float_exact_for_if_layers():
    """iDecay = 4096, vDecay = 0 (IF): no truncating decay, so float = fixed point exactly."""
    assert _float_vs_emulator(FIX / "lavadl_dense_if.net") == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("net", ["lavadl_dense_delay", "lavadl_recurrent", "lavadl_conv_pool"])
def test_float_bound_for_cuba_layers(net):
    """Lava truncates each decay toward zero; the float model does not. Measured on these
    fixtures: dense 0 %, conv/pool at most 0.4 % of spike bins per layer (docs/lava-migration.md);
    the bound checked is 1 %."""
    assert max(_float_vs_emulator(FIX / f"{net}.net")) <= 0.01


def test_delay_shifts_emulator_output(tmp_path):
    path = tmp_path / "d.net"
    shutil.copy(FIX / "lavadl_dense_if.net", path)
    x = _x(LoihiEmulator(path))
    base = LoihiEmulator(path).run(x.to(torch.int8), record=True).layers[0]
    with h5py.File(path, "r+") as f:
        d = f["layer/0/delay"]
        old = d[()]
        d[...] = np.where(np.arange(old.size) == 0, old + 5, old)
    moved = LoihiEmulator(path).run(x.to(torch.int8), record=True).layers[0]
    assert torch.equal(moved[5:, :, 0], base[:-5, :, 0]) and not moved[:5, :, 0].any()
    assert torch.equal(moved[:, :, 1:], base[:, :, 1:])


def test_onnx_equals_emulator_for_if_net(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from neurodeploy.targets.onnx.export import export as export_onnx

    path = FIX / "lavadl_dense_if.net"
    emu = LoihiEmulator(path)
    x = _x(emu, t=25)
    xe = torch.cat([x, torch.zeros(emu.latency, *x.shape[1:])])
    t = xe.shape[0]
    out = export_onnx(load_netx(path), tmp_path / "m.onnx", {"unroll": t, "state_inputs": False}).path
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    y = torch.from_numpy(sess.run(["y"], {"x": xe.numpy()})[0])
    fixed = emu.run(xe.to(torch.int8)).output_spikes
    lat = 3   # one step per layer in the fixed-point net; the delays are in both
    assert torch.equal(y[:t - lat].to(torch.int8).reshape(fixed[lat:].shape), fixed[lat:])
    assert int(fixed.sum()) > 0


def test_recorded_scale_beyond_limits_is_lossy(tmp_path):
    from neurodeploy.errors import LossyConversionError

    g = load_netx(FIX / "lavadl_dense_if.net")
    scales = json.loads(g.metadata["loihi_layer_scale"])
    g.metadata["loihi_layer_scale"] = json.dumps({k: v * 8 for k, v in scales.items()})
    with pytest.raises(LossyConversionError, match="recorded scale k=512 .* refitted"):
        export_loihi(g, tmp_path / "r.net", {})


def _edit(tmp_path, src, fn):
    path = tmp_path / "e.net"
    shutil.copy(FIX / f"{src}.net", path)
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


def _set(key, value):
    def fn(f):
        if key in f:
            del f[key]
        f[key] = value
    return fn


@pytest.mark.parametrize("src,fn,match", [
    ("lavadl_dense_if", _set("layer/1/neuron/type", b"SDNN"), r"layer 1: neuron type 'SDNN'"),
    ("lavadl_dense_if", _set("layer/1/neuron/gradedSpike", True), r"layer 1: graded spikes"),
    ("lavadl_dense_if", _set("layer/0/neuron/refDelay", 3), r"layer 0: refractory delay refDelay = 3"),
    ("lavadl_dense_if", _set("layer/2/neuron/vThMant", 262143), r"layer 2: vThMant 262143 .*Affine"),
    ("lavadl_dense_if", _set("layer/0/type", np.array([b"average"], dtype="S10")), r"layer 0: .*'average'"),
    ("lavadl_dense_if", _set("layer/0/weight", np.full((24, 16), 0.5)), r"layer 0: weight has non-integer"),
    ("lavadl_dense_if", _set("layer/0/weight", np.full((24, 16), 300.0)), r"layer 0: weight range"),
    ("lavadl_dense_if", _set("layer/0/delay", np.full(24, 70.0)), r"layer 0: delays must be integers in \[0, 62\]"),
    ("lavadl_dense_if", _set("layer/0/neuron/wgtExp", 2), r"layer 0: neuron/wgtExp = 2"),
    ("lavadl_conv_pool", _set("layer/0/delay", np.ones(4)), r"layer 0: axonal delays on a conv layer"),
    ("lavadl_dense_delay", _set("layer/1/neuron/vDecay", 0), r"layer 1: vDecay = 0 with iDecay < 4096"),
])
def test_refusals_name_layer_and_feature(tmp_path, src, fn, match):
    path = _edit(tmp_path, src, fn)
    with pytest.raises(NeurodeployError, match=match):
        load_netx(path)


def test_emulator_refuses_like_reader(tmp_path):
    path = _edit(tmp_path, "lavadl_dense_if", _set("layer/1/neuron/type", b"SDNN"))
    with pytest.raises(UnsupportedNodeError, match="neuron type 'SDNN'"):
        LoihiEmulator(path)


@pytest.mark.slow
def test_cli_energy_and_exports(tmp_path, capsys):
    from neurodeploy.cli import main

    def run(*args):
        code = main(list(map(str, args)))
        return code, capsys.readouterr()

    src = FIX / "lavadl_conv_pool.net"   # 2x18x18 input: the default digits-events data fits
    code, out = run("inspect", src)
    assert code == 0, out.err
    for target, suffix in (("nir", ".nir"), ("onnx", ".onnx"), ("loihi", ".net")):
        code, out = run("export", src, "--target", target, "-o", tmp_path / f"m{suffix}")
        assert code == 0, (target, out.err)
        assert (tmp_path / f"m{suffix}").is_file()
    import nir

    assert "2_pool" in nir.read(str(tmp_path / "m.nir")).nodes   # reads back (pool as groups = 1)
    code, out = run("verify", tmp_path / "m.net", "-n", "2", "--no-lava")   # via m.net.source.nir
    assert code == 0, out.err
    code, out = run("energy", src, "-n", "4", "-o", tmp_path / "e")
    assert code == 0, out.err
    assert (tmp_path / "e.json").is_file()


def test_cli_refusal_is_one_line(tmp_path, capsys):
    from neurodeploy.cli import main

    path = _edit(tmp_path, "lavadl_dense_if", _set("layer/1/neuron/type", b"SDNN"))
    code = main(["export", str(path), "--target", "nir", "-o", str(tmp_path / "m.nir")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.count("\n") == 0 and err.startswith("neurodeploy: error:")
    assert "layer 1" in err and "SDNN" in err and not (tmp_path / "m.nir").exists()
