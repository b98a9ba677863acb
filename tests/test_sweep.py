"""`neurodeploy sweep` (neurodeploy/sweeps): the space file is checked like a config, a sweep of
6 tiny trials runs, and a sweep killed mid-trial resumes without repeating finished trials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neurodeploy.cli import main

ROOT = Path(__file__).resolve().parents[1]
SPACE = """
[sweep]
seed = 3
energy_samples = 16

[params."train.lr"]
type = "float"
low = 1e-3
high = 2e-2
log = true

[params."model.hidden"]
type = "categorical"
choices = [[4], [8], [12]]
"""
BASE = ["-s", "train.epochs=1", "-s", "train.augment_shift_px=0"]


def _space(tmp_path: Path, text: str = SPACE) -> Path:
    p = tmp_path / "space.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text,message", [
    ('[params."train.lr"]\ntype = "float"\nlow = 1e-2\nhigh = 1e-3\n',
     r'space.toml: \[params."train.lr"\]: low = 0.01 must be below high = 0.001$'),
    ('[params."train.lrr"]\ntype = "float"\nlow = 1e-3\nhigh = 1e-2\n',
     r"unknown key 'train.lrr' \(did you mean 'train.lr'\?\)"),
    ('[params."train.lr"]\ntype = "flaot"\nlow = 1e-3\nhigh = 1e-2\n',
     r"type = 'flaot' is not one of float, int, categorical \(did you mean 'float'\?\)"),
    ('[params."train.lr"]\ntype = "float"\nlow = 1e-3\nhigh = 1e-2\nlogg = true\n',
     r"unknown key 'logg' \(did you mean 'log'\?\)"),
    ('[params."train.lr"]\ntype = "float"\nlow = -1.0\nhigh = 1e-2\n', r"\[train\] lr: -1.0 is"),
    ('[params."train.lr"]\ntype = "float"\nlow = 0.0\nhigh = 1e-2\nlog = true\n', r"log = true needs low > 0"),
    ('[params."model.neuron"]\ntype = "categorical"\nchoices = ["lif", "lfi"]\n',
     r"choice \"lfi\": \[model\] neuron: 'lfi' is not one of"),
    ('[sweep]\nseeds = 1\n[params."train.lr"]\ntype = "float"\nlow = 1e-3\nhigh = 1e-2\n',
     r"\[sweep\]: unknown key 'seeds' \(did you mean 'seed'\?\)"),
    ('[sweep]\nseed = 1\n', r"no \[params"),
])
def test_bad_space_files_are_one_line_errors(tmp_path, capsys, text, message):
    import re

    code = main(["sweep", "configs/digits.toml", "--space", str(_space(tmp_path, text)), "--trials", "2",
                 "-o", str(tmp_path / "sw")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("neurodeploy: error: "), err
    assert re.search(message, err[0]), err[0]
    assert not (tmp_path / "sw").exists()  # nothing started


def _complete(out: Path) -> list[dict]:
    data = json.loads((out / "sweep.json").read_text())
    return [t for t in data["trials"] if t["state"] == "complete"]


def _cli(*args):
    return [sys.executable, str(ROOT / "tests" / "small_data_cli.py"), *args]


@pytest.mark.slow
def test_six_trials_then_kill_and_resume_without_repeats(tmp_path):
    space = _space(tmp_path)
    out = tmp_path / "sw"
    cmd = _cli("sweep", "configs/digits.toml", "--space", str(space), "--trials", "6", "-o", str(out), *BASE)
    env = dict(os.environ)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not (out / "trials" / "3").is_dir():
        time.sleep(0.02)  # trials 0-2 are told, trial 3 is training
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "sweep.json").exists(), "the sweep finished before the kill"
    before = {n: (out / "trials" / str(n) / "last.pt").stat().st_mtime_ns for n in range(3)}

    # resume with 2 worker processes sharing the study (they load the full digits-events data:
    # only this process is patched to the subset; the bookkeeping is what is tested)
    res = subprocess.run([*cmd, "--workers", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "were interrupted by a kill; they run again with the same parameters" in res.stderr
    done = _complete(out)
    assert len(done) == 6 and len(json.loads((out / "sweep.json").read_text())["trials"]) == 6  # exactly N
    params = [json.dumps(t["params"], sort_keys=True) for t in done]
    assert len(set(params)) == 6  # no trial ran twice
    retry = [t for t in done if t["retry_of"] is not None]
    assert len(retry) == 1 and retry[0]["retry_of"] == 3
    for n, mtime in before.items():  # finished trials were not trained again
        assert (out / "trials" / str(n) / "last.pt").stat().st_mtime_ns == mtime
    assert all(0 <= t["accuracy"] <= 1 and t["energy_pj"] > 0 for t in done)
    summary = json.loads((out / "sweep.json").read_text())
    front = summary["pareto_front"]
    assert front and set(front) <= {t["number"] for t in done}
    for a in front:  # nothing else dominates a front trial
        ta = next(t for t in done if t["number"] == a)
        assert not any(t["accuracy"] >= ta["accuracy"] and t["energy_pj"] <= ta["energy_pj"]
                       and (t["accuracy"], t["energy_pj"]) != (ta["accuracy"], ta["energy_pj"]) for t in done)
    page = (out / "report.html").read_text()
    assert "<svg" in page and "Pareto front" in page and page.count("<circle") == 6

    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "6 of 6 trials complete" in again.stdout
    assert len(_complete(out)) == 6  # a finished sweep runs nothing more


def test_a_resumed_sweep_must_keep_its_setup(tmp_path, capsys):
    out = tmp_path / "sw"
    out.mkdir()
    (out / "sweep-setup.json").write_text(json.dumps({"format_version": 1, "profile": "loihi2"}))
    code = main(["sweep", "configs/digits.toml", "--space", str(_space(tmp_path)), "--trials", "1", "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "holds a sweep with another cfg, params, profile" in err


def test_trials_that_do_not_fit_are_never_on_the_front(tmp_path):
    """The fit constraint as Optuna sees it (Trial.set_constraint, ≤ 0 feasible), on recorded trials:
    the cheapest, most accurate trial does not fit, so the front is the best of the others."""
    import optuna

    from neurodeploy.sweeps.space import Param, Space
    from neurodeploy.sweeps.study import open_study, summarise

    space = Space("space.toml", (Param("train.lr", "float", 1e-3, 1e-2),), fit_target="loihi")
    study = open_study(tmp_path, 0)
    dist = {"train.lr": optuna.distributions.FloatDistribution(1e-3, 1e-2)}
    for i, (acc, pj, fits) in enumerate([(0.9, 10.0, False), (0.8, 20.0, True), (0.7, 30.0, True),
                                         (0.85, 40.0, True)]):
        study.add_trial(optuna.trial.create_trial(
            params={"train.lr": 1e-3 * (i + 1)}, distributions=dist, values=[acc, pj],
            user_attrs={"accuracy": acc, "energy_pj": pj, "fits": fits}, constraints={"fits": 0.0 if fits else 1.0}))
    summary = summarise(tmp_path, 4, "cmos45-fp32", "fanout", space)
    assert summary["pareto_front"] == [1, 3]  # 0 does not fit; 2 is dominated by 1
    page = (tmp_path / "report.html").read_text()
    assert page.count('fill="none" stroke="#9aa3ab"') == 1  # the one that does not fit: hollow
    assert "fits loihi" in page
