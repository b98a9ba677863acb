"""Every registered target obeys the same contract; a third-party target plugs in from outside.

The suite runs over the registry's entries (``TARGETS.names()``, builtins and installed plugins),
not a hard-coded list: each capability is present or explicitly ``None``, and every target with
``verify`` round-trips export → check_file → input_shape → verify (and ``read`` where present)."""

import dataclasses
import hashlib
import importlib
import sys
import textwrap
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from neurodeploy.errors import ConfigError, NeurodeployError
from neurodeploy.hw_profiles import load_profile
from neurodeploy.ir import to_nir
from neurodeploy.registry import Registry
from neurodeploy.targets.base import (
    TARGETS,
    ExportResult,
    Target,
    TrainingTransform,
    VerifyRequest,
    get_target,
    target_for_file,
)
from neurodeploy.train.config import load_config
from neurodeploy.train.models import build_model

NAMES = TARGETS.names()  # every registered target: builtins and installed plugins
CALLABLES = ("export", "check", "verify", "input_shape", "read", "check_file")


@pytest.fixture(scope="module")
def graph():
    """A graph inside every built-in target's limits: ≤ 16 inputs and time constants 2^n·dt (Xylo),
    CUBA neurons. Zero reset (Loihi's); Xylo resets by subtraction, so it is lossy there and the
    tests that write pass ``allow_lossy`` to targets that check."""
    torch.manual_seed(0)
    cfg = load_config(None, ["model.hidden=[8]", "model.neuron=cuba_lif",
                             "model.tau_mem_s=0.008", "model.tau_syn_s=0.004"])
    model = build_model(cfg, (1, 4, 4), 3)
    return to_nir(model, (1, 4, 4), time_steps=4)


def test_the_builtin_targets_are_registered():
    assert {"nir", "onnx", "loihi"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_capability_is_present_or_explicitly_none(name):
    target = get_target(name)
    assert isinstance(target, Target) and target.name == name and target.description
    assert target_for_file(Path("x" + target.suffix)) is target  # suffixes are unique
    for f in dataclasses.fields(Target):
        assert hasattr(target, f.name)
    for cap in CALLABLES:
        value = getattr(target, cap)
        assert value is None or callable(value), f"{name}.{cap} must be callable or None"
    assert target.training_transform is None or isinstance(target.training_transform, TrainingTransform)
    if target.training_transform is not None:
        assert callable(target.training_transform.forward) and callable(target.training_transform.evaluate)
    assert isinstance(target.wants_samples, bool)
    if target.default_profile is not None:
        assert load_profile(target.default_profile).name == target.default_profile
    if target.verify is not None:  # verify needs the input shape of the file it verifies
        assert target.input_shape is not None


@pytest.mark.parametrize("name", [n for n in NAMES if get_target(n).verify is not None])
def test_export_then_verify_round_trip(graph, tmp_path, name):
    target = get_target(name)
    path = tmp_path / f"m{target.suffix}"
    res = target.export(graph, path, {"allow_lossy": True} if target.check is not None else {})
    assert isinstance(res, ExportResult) and res.path == path
    if target.check_file is not None:
        target.check_file(path)
        bad = tmp_path / f"bad{target.suffix}"
        bad.write_bytes(b"not a " + target.name.encode() + b" file")
        with pytest.raises(NeurodeployError):
            target.check_file(bad)
    shape = tuple(target.input_shape(path))
    assert int(np.prod(shape)) == 1 * 4 * 4
    x = (np.random.default_rng(0).random((4, 6, *shape)) < 0.3).astype(np.float32)
    report = target.verify(VerifyRequest(path, graph, torch.from_numpy(x), None, {}, False))
    assert report["passed"], report["criteria"]
    assert report["criteria"] and all(r["status"] in ("PASS", "SKIP", "FAIL") for r in report["criteria"])
    assert isinstance(report.get("text", []), list)
    if target.read is not None:
        back = target.read(path, graph.metadata["dt_s"])
        assert isinstance(back, nir.NIRGraph) and back.nodes


@pytest.mark.parametrize("name", [n for n in NAMES if get_target(n).check is not None])
def test_check_writes_nothing_and_reports(graph, tmp_path, name):
    text, report = get_target(name).check(graph, {})
    assert isinstance(text, str) and text and isinstance(report, dict)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", NAMES)
def test_target_writes_atomically_and_deterministically(graph, tmp_path, name):
    target = get_target(name)
    assert target.name == name and target.suffix.startswith(".") and target.supported_nodes
    a, b = tmp_path / f"a{target.suffix}", tmp_path / f"b{target.suffix}"
    opts = {"allow_lossy": True} if target.check is not None else {}
    ra = target.export(graph, a, opts)
    target.export(graph, b, opts)
    assert ra.path == a and a.is_file()
    if name != "nir":  # nir.write stores HDF5 object timestamps
        assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    assert not [p for p in tmp_path.iterdir() if "tmp" in p.name]


@pytest.mark.parametrize("name", NAMES)
def test_target_rejects_unknown_options_and_check_only_writes_nothing(graph, tmp_path, name):
    target = get_target(name)
    with pytest.raises(ConfigError, match=r"unknown option.*'colour'.*allowed"):
        target.export(graph, tmp_path / f"x{target.suffix}", {"colour": "blue"})
    target.export(graph, tmp_path / f"y{target.suffix}", {"check_only": True})
    assert not list(tmp_path.iterdir())


def test_registry_rejects_duplicates_and_suggests_names():
    reg = Registry("thing")
    reg.register("alpha", 1)
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("alpha", 2)
    with pytest.raises(ConfigError, match="unknown thing 'alpah'.*Did you mean 'alpha'"):
        reg.get("alpah")


TOY = textwrap.dedent('''
    """A target written outside neurodeploy: JSON of the node names; verify compares them."""
    import json
    from pathlib import Path

    import numpy as np

    from neurodeploy.targets.base import ExportResult, Target, TrainingTransform

    CALLS = []


    def export(graph, out_path, options):
        inp = next(n for n in graph.nodes.values() if type(n).__name__ == "Input")
        shape = [int(v) for v in np.asarray(inp.input_type["input"]).reshape(-1)]
        if not options.get("check_only"):
            Path(out_path).write_text(json.dumps({"nodes": sorted(graph.nodes), "input_shape": shape}))
        return ExportResult(Path(out_path), summary={"nodes": len(graph.nodes)})


    def verify(request):
        ok = json.loads(Path(request.artefact).read_text())["nodes"] == sorted(request.graph.nodes)
        row = {"name": "node names", "layer": None, "value": float(ok), "op": ">=", "threshold": 1.0,
               "status": "PASS" if ok else "FAIL", "note": ""}
        return {"passed": ok, "criteria": [row], "text": [f"toy: {len(request.inputs)} samples seen"]}


    def input_shape(path):
        return tuple(json.loads(Path(path).read_text())["input_shape"])


    def forward(model, x, record=False):
        CALLS.append("forward")
        return model(x, record=record)


    def evaluate(model, dataset, batch_size=256):
        from neurodeploy.train.trainer import evaluate as plain

        CALLS.append("evaluate")
        return plain(model, dataset, batch_size)


    TARGET = Target("toy", ".toy", "writes the node names", export, verify=verify,
                    input_shape=input_shape, training_transform=TrainingTransform(forward, evaluate))
''')


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy target installed as a distribution with a ``neurodeploy.targets`` entry point."""
    (tmp_path / "toy_target.py").write_text(TOY)
    dist = tmp_path / "toy_target-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-target\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[neurodeploy.targets]\ntoy = toy_target:TARGET\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setattr(TARGETS, "_plugins_loaded", False)
    try:
        yield tmp_path
    finally:
        TARGETS._items.pop("toy", None)
        sys.modules.pop("toy_target", None)


def test_third_party_target_loads_through_an_entry_point(toy, graph):
    target = get_target("toy")
    target.export(graph, toy / "m.toy", {})
    assert '"1_linear"' in (toy / "m.toy").read_text()
    assert "toy" in TARGETS.names() and target_for_file(toy / "m.toy") is target


def test_third_party_target_trains_exports_and_verifies_through_the_cli(toy, trained_run, tmp_path,
                                                                       use_small_data, capsys):
    from neurodeploy.cli import main

    run = tmp_path / "ft"
    with use_small_data():
        code = main(["train", "--init", str(trained_run), "--target", "toy", "--epochs", "1", "-q",
                     "-o", str(run)])
    out = capsys.readouterr()
    assert code == 0, out.err
    calls = sys.modules["toy_target"].CALLS
    assert "forward" in calls and "evaluate" in calls  # the trainer asked the registry, not a branch
    assert main(["export", str(run), "--target", "toy", "-o", str(tmp_path / "m.toy")]) == 0
    assert (tmp_path / "m.toy.source.nir").is_file()  # the sidecar every non-NIR export gets
    capsys.readouterr()
    with use_small_data():
        code = main(["verify", str(tmp_path / "m.toy"), "-n", "8"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "toy: 8 samples seen" in out.out and "node names" in out.out
    code, out, _ = main(["inspect", "--targets"]), capsys.readouterr().out, None
    assert code == 0 and "toy" in out.split()
