"""The Python API (neurodeploy.api, re-exported lazily at the package root)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import neurodeploy as nd
from neurodeploy.errors import ConfigError, NeurodeployError, UnsupportedNodeError

ROOT = Path(__file__).resolve().parents[1]


def _run_py(code: str) -> str:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=ROOT, check=True).stdout


def test_import_and_cli_help_do_not_import_torch():
    out = _run_py("import sys, neurodeploy; import neurodeploy.cli as c; print('torch' in sys.modules)")
    assert out.strip() == "False"
    out = _run_py("import sys\nfrom neurodeploy.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
                  "    pass\nprint('torch' in sys.modules)")
    assert out.strip().endswith("False")


def test_lazy_exports_resolve():
    for name in ("train", "load", "to_nir", "export", "verify", "energy", "Run", "ExportResult", "VerifyReport",
                 "EnergyReport", "from_norse", "to_norse", "LIF", "CubaLIF", "IF", "CubaLI", "SpikingSequential"):
        assert getattr(nd, name) is not None
        assert name in dir(nd)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nd.nope  # noqa: B018


@pytest.fixture(scope="module")
def api_run(tmp_path_factory, use_small_data):
    with use_small_data():
        return nd.train({"model": {"hidden": [24]}}, out=tmp_path_factory.mktemp("api") / "run", epochs=1,
                        train__lr=3e-3, data__time_steps=16)


def test_train_returns_run(api_run):
    assert isinstance(api_run, nd.Run) and api_run.epochs == 1 and api_run.model_kind == "config"
    assert 0 <= api_run.last_accuracy <= 1
    assert json.loads(api_run.to_json())["config"]["train"]["lr"] == 3e-3
    assert "<table>" in api_run._repr_html_() and "Run" in api_run._repr_html_()
    again = nd.load(api_run.path)
    assert again == api_run
    with pytest.raises(dataclasses.FrozenInstanceError):
        api_run.epochs = 3  # type: ignore[misc]


def test_train_errors():
    with pytest.raises(ConfigError, match="override 'lr' must name SECTION__KEY"):
        nd.train(lr=1e-3)
    with pytest.raises(ConfigError, match="unknown"):
        nd.train(train__lrr=1e-3)
    with pytest.raises(ConfigError, match="config must be a TOML path, a dict or None"):
        nd.train(config=3)


def test_user_module_with_our_layers_trains_and_exports(tmp_path, small_data, use_small_data):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.flat = nn.Flatten(2)  # (T, B, 2, 18, 18) → (T, B, 648) in a user's forward
            self.fc1 = nn.Linear(648, 16, bias=False)
            self.lif1 = nd.LIF(nd.LIFParameters(tau_mem_inv=200.0))
            self.fc2 = nn.Linear(16, 10, bias=False)
            self.lif2 = nd.LIF()

        def forward(self, x):
            return self.lif2(self.fc2(self.lif1(self.fc1(self.flat(x)))))

    net = Net()
    # the user's Flatten(2) acts on (T, B, …); as a chain layer it would run on (T·B, …): refused
    with pytest.raises(UnsupportedNodeError, match="Net: its forward is not the chain of its children"):
        nd.to_nir(net, (2, 18, 18))

    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(20, 16, bias=False)
            self.lif1 = nd.CubaLIF()
            self.fc2 = nn.Linear(16, 4)
            self.out = nd.IF()

        def forward(self, x):  # x: (T, B, 20)
            return self.out(self.fc2(self.lif1(self.fc1(x))))

    seq = nd.SpikingSequential(nn.Flatten(), nn.Linear(648, 16, bias=False), nd.LIF(), nn.Linear(16, 10, bias=False),
                               nd.CubaLIF(learn_tau=True))
    with use_small_data():
        run = nd.train(model=seq, out=tmp_path / "run", epochs=1)
    assert run.model_kind == "model"
    trained = run.model()
    assert [type(m).__name__ for m in trained] == [type(m).__name__ for m in seq]
    assert trained[1].bias is None and isinstance(trained[4].tau_mem_inv, nn.Parameter)
    assert not torch.equal(trained[1].weight, seq[1].weight)  # trained a copy; the user's model is untouched

    graph = nd.to_nir(Flat(), (20,), time_steps=10)
    kinds = [type(n).__name__ for n in graph.nodes.values()]
    assert kinds == ["Input", "Linear", "CubaLIF", "Affine", "IF", "Output"]
    assert graph.metadata["time_steps"] == 10
    out = nd.export(graph, "nir", tmp_path / "flat.nir")
    assert out.path.is_file() and isinstance(nd.load(out.path), type(graph))


def test_export_verify_energy(trained_run, tmp_path):
    res = nd.export(trained_run, "loihi", tmp_path / "m.net")
    assert isinstance(res, nd.ExportResult) and res.path.is_file() and res.source_graph.is_file()
    assert json.loads(res.to_json())["target"] == "loihi"
    rep = nd.verify(res, samples=8, lava=False)
    assert isinstance(rep, nd.VerifyReport) and rep.passed and rep.kind == "loihi"
    assert "layers" in rep.result and "passed" in rep._repr_html_()
    e = nd.energy(trained_run, samples=8, profiles=("cmos45-fp32", "cmos45-int8"), out=tmp_path / "e",
                  formats=("json",))
    assert e.profiles == ("cmos45-fp32", "cmos45-int8") and e.paths[0].is_file()
    assert e.snn_pj("cmos45-int8") < e.snn_pj("cmos45-fp32")
    assert json.loads(e.to_json())["report"]["convention"] == "fanout"
    assert "cmos45-int8" in e._repr_html_()


def test_api_errors_are_neurodeploy_errors(trained_run, tmp_path):
    with pytest.raises(NeurodeployError, match="unknown target|no target|loihii"):
        nd.export(trained_run, "loihii", tmp_path / "x")
    with pytest.raises(ConfigError, match="does not exist"):
        nd.verify(tmp_path / "missing.net")
    with pytest.raises(ConfigError, match="pass input_shape"):
        nd.to_nir(nd.SpikingSequential(nn.Linear(2, 2), nd.LIF()))
    with pytest.raises(NeurodeployError, match="does not exist"):
        nd.load(tmp_path / "nothing")


def test_to_nir_of_torch_tensor_input_matches_module():
    seq = nd.SpikingSequential(nn.Linear(6, 5, bias=False), nd.LIF())
    g = nd.to_nir(seq, (6,))
    assert torch.equal(torch.as_tensor(g.nodes["0_linear"].weight), seq[0].weight.detach())


def test_train_config_assembly_is_the_clis():
    """sets (the CLI's -s strings) and the shortcut arguments build the config the CLI builds."""
    from neurodeploy.api import _config, _shortcut_sets

    sets = ["model.hidden=[8]", *_shortcut_sets(2, 5, "d", None, "loihi", "norse", 1e-3, "subtract", 2.0)]
    assert sets[1:] == ['train.epochs=2', 'train.seed=5', 'data.data_dir="d"', 'train.target="loihi"',
                        'train.init_dt_s=0.001', 'train.init_reset="subtract"', 'train.init_dialect="norse"',
                        'train.init_input_scale=2.0']
    for config in (None, {"train": {"lr": 1e-2}}):
        cfg = _config(config, "digits-events", {"train__batch_size": 16}, sets)
        assert cfg["model"]["hidden"] == [8] and cfg["train"]["epochs"] == 2 and cfg["train"]["seed"] == 5
        assert cfg["train"]["init_dialect"] == "norse" and cfg["train"]["init_dt_s"] == 1e-3
        assert cfg["train"]["batch_size"] == 16 and cfg["data"]["data_dir"] == "d"
    assert _shortcut_sets(None, None, None, None, None, "neurodeploy", None, None, 1.0) == []
    with pytest.raises(ConfigError, match="command line.*epochs"):
        _config(None, None, {}, _shortcut_sets(0, None, None, None, None, "neurodeploy", None, None, 1.0))


def test_train_resume(api_run, use_small_data):
    with pytest.raises(ConfigError, match="--resume needs --out"):
        nd.train(resume=True)
    with pytest.raises(ConfigError, match="CONFIG, -s, --seed would be ignored"):
        nd.train("configs/digits.toml", out=api_run.path, sets=["train.lr=1e-3"], seed=3, resume=True)
    with pytest.raises(ConfigError, match="drop model=/data="):
        nd.train(out=api_run.path, data="shd", resume=True)
    before = (api_run.path / "metrics.jsonl").read_text()
    with use_small_data():
        again = nd.train(out=api_run.path, resume=True)
    assert again.already_finished and again.seconds == 0.0 and again == api_run
    assert (api_run.path / "metrics.jsonl").read_text() == before
    with pytest.raises(ConfigError, match="already holds a run"):
        nd.train(out=api_run.path)


def test_export_check_only_and_defaults(trained_run, tmp_path):
    res = nd.export(trained_run, "loihi", tmp_path / "c.net", check_only=True)
    assert res.path is None and res.error is None and "Decision: write" in res.text
    assert not list(tmp_path.iterdir())
    with pytest.raises(ConfigError, match="--input-spikes is used by --target loihi only"):
        nd.export(trained_run, "onnx", tmp_path / "x.onnx", input_spikes=tmp_path / "s.npy")
    nir_file = nd.export(trained_run, "nir", tmp_path / "m.nir").path
    with pytest.raises(ConfigError, match="is the source file itself"):
        nd.export(nir_file, "nir", nir_file)
    default = nd.export(nir_file, "nir")  # the source's own name: m.export.nir
    assert default.path == tmp_path / "m.export.nir" and default.source_graph is None
    e = nd.energy(nir_file, samples=4, formats=("json",))  # default report path: the file's stem
    assert e.paths == (tmp_path / "m.json",) and e.paths[0].is_file()
