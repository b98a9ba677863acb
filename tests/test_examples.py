"""The scripts in examples/ run end to end at smoke size (--smoke: one short epoch, few samples)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, out: Path, *extra: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NEURODEPLOY_SMOKE="1")
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--out", str(out), *extra],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_norse_to_loihi(tmp_path):
    pytest.importorskip("norse.torch", reason="norse not installed")
    out = _run("norse_to_loihi.py", tmp_path)
    assert "LIFCell" in out and "verify: passed=True" in out
    assert (tmp_path / "model.net").is_file() and (tmp_path / "energy.json").is_file()


@pytest.mark.slow
def test_finetune_nir(tmp_path):
    out = _run("finetune_nir.py", tmp_path)
    assert "fine-tuned: test accuracy" in out and (tmp_path / "finetuned.nir").is_file()


@pytest.mark.slow
def test_compare_profiles(tmp_path):
    out = _run("compare_profiles.py", tmp_path)
    assert "cmos45-fp32 / cmos45-int8 = " in out
    assert (tmp_path / "energy.json").is_file() and (tmp_path / "energy.md").is_file()
