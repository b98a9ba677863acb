"""The CLI end to end on a tiny run, and bad input → one clear line, exit ≠ 0, no traceback."""

import json
import subprocess
import sys

import nir
import pytest

from neurodeploy.cli import main


def _run(capsys, *args):
    code = main(list(map(str, args)))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_export_nir_and_loihi_then_verify(trained_run, tmp_path, capsys):
    code, out, _ = _run(capsys, "export", trained_run, "--target", "nir", "-o", tmp_path / "m.nir")
    assert code == 0 and "wrote" in out
    graph = nir.read(str(tmp_path / "m.nir"))
    assert graph.metadata["dt_s"] == 1e-3 and json.loads(graph.metadata["data_config"])["dataset"] == "digits-events"
    code, out, _ = _run(capsys, "export", tmp_path / "m.nir", "--target", "loihi", "-o", tmp_path / "m.net")
    assert code == 0 and (tmp_path / "m.net").is_file() and (tmp_path / "m.net.source.nir").is_file()
    code, out, _ = _run(capsys, "verify", tmp_path / "m.net", "-n", "8", "--no-lava", "--json-out", tmp_path / "v.json")
    assert code == 0, out
    res = json.loads((tmp_path / "v.json").read_text())
    assert res["samples"] == 8 and res["accuracy"]["float"] == res["accuracy"]["emulator"]


def test_check_only_writes_nothing(trained_run, tmp_path, capsys):
    code, out, _ = _run(capsys, "export", trained_run, "--target", "loihi", "--check-only", "-o", tmp_path / "m.net")
    assert code == 0 and not list(tmp_path.iterdir())


def test_inspect_and_profiles(trained_run, capsys):
    code, out, _ = _run(capsys, "inspect", trained_run)
    assert code == 0 and "epoch   8" in out and "1_linear" in out
    code, out, _ = _run(capsys, "profiles", "list")
    assert code == 0 and "cmos45-fp32" in out and "loihi2" in out
    code, out, _ = _run(capsys, "inspect", "--targets")
    assert {"nir", "loihi", "onnx"} <= set(out.split())


@pytest.mark.parametrize("args, message, code", [
    (["export", "{tmp}/nope"], "nope does not exist: pass a run directory", 4),
    (["export", "{tmp}", "--target", "loihi"], "has no last.pt", 4),
    (["export", "{run}", "--target", "lohi"], "unknown target 'lohi'.*Did you mean 'loihi'", 2),
    (["train", "{tmp}/missing.toml", "--out", "{tmp}/r"], "config file .*missing.toml does not exist", 2),
    (["train", "--out", "{tmp}/r", "-s", "train.epoch=1"], "unknown key 'epoch' \\(did you mean 'epochs'", 2),
    (["train", "--out", "{tmp}/r", "-s", "data.dataset=shd"], "set \\[data\\] data_dir", 3),
    (["train", "--out", "{tmp}/r", "-s", "data.dataset=nmnist", "--data-dir", "{tmp}"], "N-MNIST", 3),
    (["profiles", "show", "loihi3"], "unknown profile 'loihi3'.*Did you mean", 2),
    (["verify", "{run}/config.json"], "source graph .* is missing", 2),
])
def test_bad_input_gives_one_line_and_nonzero_exit(trained_run, tmp_path, capsys, args, message, code):
    import re

    args = [a.format(tmp=tmp_path, run=trained_run) for a in args]
    got, out, err = _run(capsys, *args)
    assert got == code, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurodeploy: error: "), err
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_corrupt_checkpoint_from_the_console_script(trained_run, tmp_path):
    bad = tmp_path / "last.pt"
    bad.write_bytes((trained_run / "last.pt").read_bytes()[:1000])  # truncated
    proc = subprocess.run([sys.executable, "-m", "neurodeploy.cli", "export", str(tmp_path), "-t", "nir",
                           "-o", str(tmp_path / "m.nir")], capture_output=True, text=True)
    assert proc.returncode == 4
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "not a readable checkpoint" in proc.stderr and not (tmp_path / "m.nir").exists()


def test_export_onnx_and_verify_with_onnxruntime(trained_run, tmp_path, capsys):
    code, out, err = _run(capsys, "export", trained_run, "--target", "onnx", "-o", tmp_path / "m.onnx")
    assert code == 0, err
    code, out, err = _run(capsys, "verify", tmp_path / "m.onnx", "-n", "4")
    assert code == 0, err
    assert "FAIL" not in out and "(zero state)" in out and "(random state)" in out


def test_energy_from_a_run_and_from_a_nir_file(trained_run, tmp_path, capsys):
    code, out, err = _run(capsys, "energy", trained_run, "-n", "16", "--format", "json", "--format", "md",
                          "-o", tmp_path / "e")
    assert code == 0, err
    report = json.loads((tmp_path / "e.json").read_text())
    assert (tmp_path / "e.md").is_file() and "SNN/ANN" in out
    assert _run(capsys, "export", trained_run, "-t", "nir", "-o", tmp_path / "m.nir")[0] == 0
    code, out, err = _run(capsys, "energy", tmp_path / "m.nir", "-n", "16", "-o", tmp_path / "f")
    assert code == 0, err
    again = json.loads((tmp_path / "f.json").read_text())
    # same graph, same data → same counts, whether read from the run or from the NIR file
    def counts(r):
        return [{k: v for k, v in layer.items() if k != "name"} for layer in r["layers"]]
    assert counts(report) == counts(again) and report["totals"] == again["totals"]


def test_energy_with_an_invalid_user_profile(trained_run, tmp_path, capsys):
    bad = tmp_path / "p.toml"
    bad.write_text('name = "x"\n[costs.e_ac_pj]\nvalue = 1.0\nkind = "measured"\n')
    code, _, err = _run(capsys, "energy", trained_run, "-n", "4", "--profile", bad, "-o", tmp_path / "e")
    assert code == 2 and "missing 'source'" in err and not (tmp_path / "e.json").exists()


def test_corrupt_nir_file_and_input_scale(trained_run, tmp_path, capsys):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"\x89HDF\r\n garbage")
    code, _, err = _run(capsys, "export", bad, "-t", "loihi", "-o", tmp_path / "m.net")
    assert code == 2 and "bad.nir is not a readable NIR file" in err and len(err.strip().splitlines()) == 1
    assert _run(capsys, "export", trained_run, "-t", "nir", "-o", tmp_path / "m.nir")[0] == 0
    assert _run(capsys, "export", tmp_path / "m.nir", "-t", "nir", "--input-scale", "2", "-o", tmp_path / "s.nir")[0] == 0
    a, b = nir.read(str(tmp_path / "m.nir")), nir.read(str(tmp_path / "s.nir"))
    wa = next(n.weight for n in a.nodes.values() if hasattr(n, "weight"))
    wb = next(n.weight for n in b.nodes.values() if hasattr(n, "weight"))
    assert (wb == 2 * wa).all()


def test_foreign_nir_file_through_the_cli(tmp_path, capsys):
    """Norse's shipped braille.nir (NIR paper; no dt recorded): dt is required, then it exports."""
    import os

    norse = pytest.importorskip("norse.torch")
    braille = os.path.join(os.path.dirname(norse.__file__), "utils", "test", "braille.nir")
    code, _, err = _run(capsys, "export", braille, "-t", "onnx", "-o", tmp_path / "b.onnx")
    assert code == 2 and "--dt" in err and not (tmp_path / "b.onnx").exists()
    code, _, err = _run(capsys, "export", braille, "-t", "onnx", "--dt", "1e-4", "-o", tmp_path / "b.onnx")
    assert code == 0, err
    code, out, err = _run(capsys, "verify", tmp_path / "b.onnx", "-n", "2", "--data", "shd", "--data-dir", tmp_path)
    assert code == 3 and "SHD" in err  # verifying needs data of the graph's input size: named clearly
