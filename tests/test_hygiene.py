"""Run-directory hygiene and a quiet console: stale temp files, clean starts, finished resumes,
one-line warnings, silenced import noise, ``-o`` with the format's suffix, shape validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest

from neurodeploy.atomic import atomic_path, clean_stale_temp_files, write_text
from neurodeploy.cli import main


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    stale = tmp_path / f".last.pt.nd{_dead_pid()}-abc123.tmp"
    stale.write_bytes(b"x" * 100)
    alive = tmp_path / f".last.pt.nd{os.getpid()}-def456.tmp"  # a running writer's: kept
    alive.write_bytes(b"y")
    foreign = tmp_path / ".other.tmp"  # not our naming: kept
    foreign.write_bytes(b"z")
    write_text(tmp_path / "config.json", "{}")
    assert not stale.exists() and alive.exists() and foreign.exists()
    assert clean_stale_temp_files(tmp_path) == []


def test_temp_file_removed_on_error_and_interrupt(tmp_path):
    for exc in (ValueError, KeyboardInterrupt, SystemExit):
        with pytest.raises(exc):
            with atomic_path(tmp_path / "f.bin") as tmp:
                tmp.write_bytes(b"partial")
                raise exc()
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_a_write_leaves_nothing(tmp_path):
    """SIGTERM becomes an exit in the CLI, so the temp file's `finally` runs."""
    code = ("import os, signal, time, sys\n"
            "from neurodeploy.cli import _terminate\n"
            "from neurodeploy.atomic import atomic_path\n"
            "signal.signal(signal.SIGTERM, _terminate)\n"
            f"with atomic_path({str(tmp_path / 'out.bin')!r}) as t:\n"
            "    t.write_bytes(b'x' * 1000)\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n"
            "    time.sleep(5)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 143, proc.stderr
    assert list(tmp_path.iterdir()) == []


def _tiny_trainer(run, small_data, **kw):
    from neurodeploy.train.config import load_config
    from neurodeploy.train.trainer import Trainer

    cfg = load_config(None, ["train.epochs=1", "model.hidden=[16]", "data.time_steps=16"])
    return Trainer(cfg, run, progress=False, data=small_data, **kw)


def test_fresh_start_after_a_kill_before_the_first_checkpoint_is_clean(tmp_path, small_data):
    run = tmp_path / "r"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"epoch": 0, "train_loss": 9.0, "test_accuracy": 0.1}\n' * 3)
    (run / "best.pt").write_bytes(b"old")
    _tiny_trainer(run, small_data).fit()
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0] and rows[0]["train_loss"] != 9.0


def test_resume_of_a_finished_run_says_so(trained_run, capsys):
    before = (trained_run / "metrics.jsonl").read_text()
    assert main(["train", "--resume", "--out", str(trained_run)]) == 0
    out = capsys.readouterr().out
    assert "already finished after 8 epochs" in out and "nan" not in out
    assert (trained_run / "metrics.jsonl").read_text() == before


def test_training_that_diverges_stops_with_one_error(tmp_path, small_data):
    import torch

    from neurodeploy.errors import ConfigError
    from neurodeploy.train.config import load_config
    from neurodeploy.train.trainer import Trainer

    cfg = load_config(None, ["train.epochs=2", "model.hidden=[16]", "train.lr=1000.0",
                             "train.optimizer=sgd"])
    trainer = Trainer(cfg, tmp_path / "r", progress=False, data=small_data)
    with torch.no_grad():  # as if a step had blown up
        next(trainer.model.parameters()).view(-1)[0] = float("nan")
    with pytest.raises(ConfigError, match=r"training diverged in epoch 1: .*train.lr = 1000"):
        trainer.fit()
    assert not (tmp_path / "r" / "last.pt").exists()
    for name in ("last.pt", "best.pt"):  # whatever was saved holds finite weights
        if (tmp_path / "r" / name).exists():
            from neurodeploy.train.checkpoint import load_checkpoint

            load_checkpoint(tmp_path / "r" / name)


def test_our_warnings_are_one_line_and_third_party_noise_is_dropped(capsys):
    from neurodeploy import quiet

    restore = quiet.install()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = quiet.showwarning
            quiet.showwarning(UserWarning("line one\n  line two"), UserWarning, quiet.__file__, 1)
            quiet.showwarning(UserWarning("torch says"), UserWarning, "/usr/lib/torch/x.py", 1)
    finally:
        restore()
    err = capsys.readouterr().err
    assert err == "neurodeploy: warning: line one line two\n"


def test_import_noise_is_dropped_but_other_output_kept():
    import io

    from neurodeploy.quiet import _replay

    buf = io.StringIO()
    _replay("No CUDA runtime is found, using CUDA_HOME='/usr/local/cuda'\nreal message\n",
            ("No CUDA runtime is found",), buf)
    assert buf.getvalue() == "real message\n"


@pytest.mark.slow
def test_console_script_has_no_import_noise(trained_run, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "neurodeploy.cli", "export", str(trained_run), "-t", "loihi",
                           "-o", str(tmp_path / "m.net")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "" and "Prophesee" not in proc.stdout and "CUDA" not in proc.stdout


@pytest.mark.parametrize("out, formats, written", [
    ("report.html", ["html"], ["report.html"]),
    ("report", ["json", "md"], ["report.json", "report.md"]),
    ("report.json", ["json", "md"], ["report.json", "report.md"]),
    ("report.v2", ["json"], ["report.v2.json"]),
])
def test_energy_out_accepts_a_stem_or_the_formats_suffix(tmp_path, monkeypatch, out, formats, written):
    import neurodeploy.energy.html as html
    import neurodeploy.energy.render as render

    class Fake:
        def to_dict(self):
            return {"x": 1}

    monkeypatch.setattr(render, "to_markdown", lambda r: "md")
    monkeypatch.setattr(html, "to_html", lambda r: "<html></html>")
    paths = render.write_report(Fake(), tmp_path / out, formats)
    assert sorted(p.name for p in paths) == sorted(written)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written)


def test_valid_graphs_pass_validation(trained_run):
    """Our own exports and Norse's braille.nir (recurrent CubaLIF) are not refused."""
    import nir

    from neurodeploy.ir.validate import validate_graph
    from neurodeploy.pipeline import graph_from_run

    validate_graph(graph_from_run(trained_run).graph)
    norse = pytest.importorskip("norse.torch")
    braille = os.path.join(os.path.dirname(norse.__file__), "utils", "test", "braille.nir")
    validate_graph(nir.read(braille, type_check=False), "braille.nir")


def test_a_group_alone_prints_its_help(capsys):
    assert main([]) == 0 and "Usage: neurodeploy" in capsys.readouterr().out
    assert main(["profiles"]) == 0 and "show" in capsys.readouterr().out
