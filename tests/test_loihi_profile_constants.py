"""Loihi hardware constants come from the profile only (#17): a range limit absent from the
profile is "not checked" (one warning + manifest), a number-format field absent is refused, and
no target's name or file suffix is spelled in code outside its package."""

from __future__ import annotations

import ast
import json
import re
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from test_loihi_export import dense_net

from neurodeploy.errors import ConfigError
from neurodeploy.targets.loihi.emulator import LoihiEmulator, cuba_step
from neurodeploy.targets.loihi.export import export
from neurodeploy.targets.loihi.fixed_point import FixedPoint, fixed_point
from neurodeploy.targets.loihi.training import quantise_weight

LOIHI2 = resources.files("neurodeploy.hw_profiles").joinpath("loihi2.toml").read_text()


def _without(tmp_path: Path, *keys: str) -> Path:
    text = LOIHI2.replace('name = "loihi2"', 'name = "my-loihi"')
    for key in keys:
        text = re.sub(rf"\[limits\.{key}\]\n(?:[^\[\n][^\n]*\n)*\n?", "", text)
        assert f"limits.{key}" not in text
    path = tmp_path / "my-loihi.toml"
    path.write_text(text)
    return path


def test_profile_values_are_the_format():
    fp = fixed_point("loihi2")
    assert (fp.weight_max, fp.decay_one, fp.state_half, fp.state_scale) == (254, 4096, 2 ** 23, 64)
    assert (fp.threshold_mant_max, fp.bias_mant_max, fp.delay_max) == (131071, 4095, 62)
    assert fp.not_checked == ()


def test_an_absent_range_limit_is_not_checked_said_once(tmp_path):
    prof = _without(tmp_path, "threshold_mant_max", "bias_mant_max")
    g = dense_net(np.random.default_rng(1))
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        res = export(g, tmp_path / "m.net", {"profile": str(prof)})
    said = [w for w in got if "not checked" in str(w.message)]
    assert len(said) == 1 and "threshold_mant_max, bias_mant_max" in str(said[0].message)
    manifest = json.loads(res.extra_paths[0].read_text())
    assert manifest["limits_not_checked"] == ["threshold_mant_max", "bias_mant_max"]
    assert all(lay["scale_set_by"] == "weights" for lay in manifest["layers"])  # no fallback 131071


def test_an_absent_format_field_is_refused_naming_it(tmp_path):
    prof = _without(tmp_path, "decay_bits")
    with pytest.raises(ConfigError, match=r"profile 'my-loihi' has no \[limits.decay_bits\]"):
        export(dense_net(np.random.default_rng(1)), tmp_path / "m.net", {"profile": str(prof)})
    assert not list(tmp_path.glob("m.net*"))


def test_emulator_and_training_use_the_profile_values(tmp_path):
    wide = FixedPoint("wide", weight_max=254, decay_bits=12, state_bits=24, state_shift_bits=7)
    u, v, _ = cuba_step(torch.tensor([0]), torch.tensor([0]), torch.tensor([3]), 4096, 4096, 0, 1 << 30, wide)
    assert int(u) == 3 << 7 and int(v) == 3 << 7
    res = export(dense_net(np.random.default_rng(1)), tmp_path / "m.net", {"profile": "loihi1"})
    assert LoihiEmulator(res.path).fp.profile == "loihi1"  # from the manifest
    w = torch.tensor([1.0, -0.5, 0.26])
    q, _ = quantise_weight(w, weight_max=4)
    assert torch.allclose(q, torch.tensor([1.0, -0.5, 0.5]))


def _code_strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_no_target_name_or_suffix_in_code_outside_its_package():
    """Done-when of #17: callers dispatch through the registry (names, suffixes) — only
    docstrings and the registry's built-in list (targets/base.py BUILTIN) may name a target."""
    root = Path(__file__).resolve().parents[1] / "neurodeploy"
    pattern = re.compile(r"loihi|netx|\.net\b|\.onnx\b", re.I)
    found = []
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).as_posix()
        if re.match(r"targets/[^/]+/", rel) or rel.startswith("hw_profiles/") or rel == "targets/base.py":
            continue
        found += [f"{rel}:{line}: {text!r}" for line, text in _code_strings(f) if pattern.search(text)]
    assert not found, "\n".join(found)
