"""Hardware-aware fine-tuning trains through exactly the weights the Loihi exporter writes."""

import json

import h5py
import numpy as np
import pytest
import torch

from neurodeploy.cli import main
from neurodeploy.ir import to_nir
from neurodeploy.targets.loihi.training import loihi_tensors, quantise_weight
from neurodeploy.train.config import load_config
from neurodeploy.train.models import build_model
from neurodeploy.train.trainer import Trainer


def test_quantised_weights_are_the_exported_integers_over_the_scale(tmp_path):
    torch.manual_seed(0)
    model = build_model(load_config(None, ["model.hidden=[16]", "model.recurrent=true"]), (2, 4, 4), 3)
    from neurodeploy.targets.loihi import TARGET

    TARGET.export(to_nir(model, (2, 4, 4), time_steps=4), tmp_path / "m.net", {})
    manifest = json.loads((tmp_path / "m.net.manifest.json").read_text())
    q = loihi_tensors(model)
    with h5py.File(tmp_path / "m.net") as f:
        for layer, (lin, neu) in zip(manifest["layers"], [(1, 2), (3, 4)]):
            name, k = str(layer["index"]), layer["scale_k"]
            w_int = f[f"layer/{name}/weight"][()]
            alpha = float(model[neu].dt_s * model[neu].tau_mem_inv)
            wq = q[f"{lin}.weight"].detach().numpy()
            # exported integers = k·α·W_q exactly (k is the common factor)
            ratio = w_int[wq != 0] / (alpha * wq[wq != 0])
            assert np.allclose(ratio, ratio[0], rtol=1e-5), name
            assert np.isclose(ratio[0], k, rtol=1e-5)
            if lin == 1:
                rec_int = f[f"layer/{name}/weight_rec"][()]
                rq = q["2.w_rec"].detach().numpy()
                assert np.allclose(rec_int[rq != 0] / (alpha * rq[rq != 0]), ratio[0], rtol=1e-5)
    decays = q["2.tau_mem_inv"] * model[2].dt_s * 4096
    assert torch.allclose(decays, decays.round())


def test_straight_through_gradient():
    w = torch.randn(5, 3, requires_grad=True)
    q, _ = quantise_weight(w)
    (q * torch.arange(15.0).reshape(5, 3)).sum().backward()
    assert torch.equal(w.grad, torch.arange(15.0).reshape(5, 3))
    step = 2 * w.detach().abs().max() / 254
    assert torch.allclose(q / step, (q / step).round(), atol=1e-4)


def test_finetune_from_a_run_and_from_a_nir_graph(trained_run, tmp_path, small_data, capsys):
    cfg = load_config(None, ["train.epochs=1", "train.target=loihi", f"train.init={json.dumps(str(trained_run))}"])
    Trainer(cfg, tmp_path / "ft", progress=False, data=small_data).fit()
    assert main(["export", str(trained_run), "-t", "nir", "-o", str(tmp_path / "m.nir")]) == 0
    cfg = load_config(None, ["train.epochs=1", f"train.init={json.dumps(str(tmp_path / 'm.nir'))}"])
    Trainer(cfg, tmp_path / "ft2", progress=False, data=small_data).fit()
    assert main(["export", str(tmp_path / "ft2"), "-t", "loihi", "-o", str(tmp_path / "ft2.net")]) == 0
    capsys.readouterr()


@pytest.mark.slow
def test_reported_accuracy_is_the_emulators_over_seeds(trained_run, tmp_path, small_data):
    """The test accuracy a `--target loihi` run reports = the bit-exact emulator's accuracy on the
    exported integers, for several seeds (the float surrogate differed from it before)."""
    from neurodeploy.pipeline import graph_from_run
    from neurodeploy.targets.loihi.emulator import LoihiEmulator
    from neurodeploy.targets.loihi.export import export

    frames, labels = small_data.test.frames, small_data.test.labels
    for seed in (0, 1, 2):
        cfg = load_config(None, ["train.epochs=1", "train.target=loihi", f"train.seed={seed}",
                                 f"train.init={json.dumps(str(trained_run))}"])
        res = Trainer(cfg, tmp_path / f"s{seed}", progress=False, data=small_data).fit()
        net = export(graph_from_run(tmp_path / f"s{seed}").graph, tmp_path / f"s{seed}.net",
                     {"allow_lossy": True}).path
        emu = LoihiEmulator(net)
        x = frames.transpose(0, 1).reshape(frames.shape[1], frames.shape[0], *emu.input_shape)
        acc = float((emu.predict(x.to(torch.int8)) == labels).double().mean())
        assert res.last_accuracy == acc, seed
