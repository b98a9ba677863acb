"""Every registered target obeys the same contract; a third-party target plugs in from outside."""

import hashlib
import importlib
import sys
import textwrap

import pytest
import torch

from neurodeploy.errors import ConfigError
from neurodeploy.ir import to_nir
from neurodeploy.registry import Registry
from neurodeploy.targets.base import TARGETS, get_target
from neurodeploy.train.config import load_config
from neurodeploy.train.models import build_model

BUILTIN = ["nir", "loihi", "onnx"]


@pytest.fixture(scope="module")
def graph():
    torch.manual_seed(0)
    model = build_model(load_config(None, ["model.hidden=[8]"]), (2, 4, 4), 3)
    return to_nir(model, (2, 4, 4), time_steps=4)


@pytest.mark.parametrize("name", BUILTIN)
def test_target_writes_atomically_and_deterministically(graph, tmp_path, name):
    target = get_target(name)
    assert target.name == name and target.suffix.startswith(".") and target.supported_nodes
    a, b = tmp_path / f"a{target.suffix}", tmp_path / f"b{target.suffix}"
    ra = target.export(graph, a, {})
    target.export(graph, b, {})
    assert ra.path == a and a.is_file()
    if name != "nir":  # nir.write stores HDF5 object timestamps
        assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    assert not [p for p in tmp_path.iterdir() if "tmp" in p.name]


@pytest.mark.parametrize("name", BUILTIN)
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


def test_third_party_target_loads_through_an_entry_point(tmp_path, graph, monkeypatch):
    pkg = tmp_path / "toy_target.py"
    pkg.write_text(textwrap.dedent('''
        from pathlib import Path
        from neurodeploy.targets.base import ExportResult, Target

        def export(graph, out_path, options):
            Path(out_path).write_text(",".join(sorted(graph.nodes)))
            return ExportResult(Path(out_path))

        TARGET = Target("toy", ".toy", "writes the node names", export)
    '''))
    dist = tmp_path / "toy_target-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-target\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[neurodeploy.targets]\ntoy = toy_target:TARGET\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setattr(TARGETS, "_plugins_loaded", False)
    try:
        toy = get_target("toy")
        toy.export(graph, tmp_path / "m.toy", {})
        assert (tmp_path / "m.toy").read_text().startswith("1_linear")
        assert "toy" in TARGETS.names()
    finally:
        TARGETS._items.pop("toy", None)
        sys.modules.pop("toy_target", None)
