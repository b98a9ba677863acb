"""Deliberately broken exports: each fails export or verify with one clear line and a non-zero exit,
``export --check-only`` makes exactly the export's decision, and the correct demo still passes.

Runs in both environments; with Lava installed the verify cases also run Lava (``--lava`` auto).
"""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest

from neurodeploy.cli import main

pytestmark = pytest.mark.slow   # each case runs the CLI's export/verify end to end on the demo graph


def _run(capsys, *args):
    code = main(list(map(str, args)))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def demo_nir(trained_run, tmp_path_factory):
    path = tmp_path_factory.mktemp("broken") / "m.nir"
    assert main(["export", str(trained_run), "-t", "nir", "-o", str(path)]) == 0
    return path


def _names(nodes) -> dict[str, str]:
    """{syn0}, {neu0}, {syn1}: the demo graph's node names (they depend on the model's layout)."""
    order = sorted(nodes, key=lambda n: int(n.split("_")[0]) if n[0].isdigit() else 1 << 30)
    syn = [n for n in order if isinstance(nodes[n], (nir.Linear, nir.Affine))]
    neu = [n for n in order if isinstance(nodes[n], (nir.LIF, nir.CubaLIF, nir.IF))]
    return {"syn0": syn[0], "neu0": neu[0], "syn1": syn[1]}


def _mutated(demo_nir, tmp_path, change) -> str:
    g = nir.read(str(demo_nir))
    change(g.nodes, _names(g.nodes))
    path = tmp_path / "src.nir"
    nir.write(str(path), g)
    return str(path)


def _outlier(factor):
    def change(nodes, nm):
        w = np.array(nodes[nm["syn0"]].weight, dtype=np.float64)
        w[0, 0] = factor * np.abs(w).max() if factor < 1e3 else factor
        nodes[nm["syn0"]].weight = w
    return change


def _threshold(value):
    def change(nodes, nm):
        lif = nodes[nm["neu0"]]
        lif.v_threshold = np.full_like(np.asarray(lif.v_threshold, dtype=np.float64), value)
    return change


def _nan(nodes, nm):
    w = np.array(nodes[nm["syn1"]].weight, dtype=np.float64)
    w[2, 5] = np.nan
    nodes[nm["syn1"]].weight = w


# name → (graph change, exit code, pattern of the one error line)
EXPORT_CASES = {
    "outlier-100x": (_outlier(100.0), 7,
                     r"{syn0}\+{neu0}: \d+% of non-zero weights round to 0 \(budget 25%\) because the largest "
                     r"weight is \d+x the layer's typical magnitude .*clip outlier weights of '{syn0}'"),
    "outlier-1e4": (_outlier(1e4), 7,
                    r"{syn0}\+{neu0}: (\d+% of non-zero weights|every non-zero weight) round.* because the "
                    r"largest weight is \d+x the layer's typical magnitude"),
    "huge-threshold": (_threshold(1e9), 7,
                       r"{syn0}\+{neu0}: every non-zero weight rounds to 0 \(an all-zero layer\) because "
                       r"v_threshold = 1e\+09 is .*threshold mantissa"),
    "tiny-threshold": (_threshold(1e-6), 7,
                       r"{syn0}\+{neu0}: threshold mantissa k\*v_threshold = .* < 1 is clipped to 1 because "
                       r"v_threshold = 1e-06 is tiny"),
    "nan-weight": (_nan, 2, r"src.nir: node '\w+' \(Linear\): weight has 1 NaN/inf value"),  # refused when read
}


def _one_error_line(err: str, pattern: str):
    import re

    lines = [ln for ln in err.strip().splitlines() if ln.startswith("neurodeploy: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


@pytest.mark.parametrize("case", sorted(EXPORT_CASES))
def test_broken_source_is_refused_and_check_only_agrees(case, demo_nir, tmp_path, capsys):
    change, code, pattern = EXPORT_CASES[case]
    src = _mutated(demo_nir, tmp_path, change)
    from neurodeploy.pipeline import load_source

    pattern = pattern.format(**_names(load_source(demo_nir).graph.nodes))   # names as the exporter reads them
    out = tmp_path / "m.net"
    c1, _, err1 = _run(capsys, "export", src, "-t", "loihi", "-o", out)
    assert c1 == code, err1
    line = _one_error_line(err1, pattern)
    assert not out.exists() and not list(tmp_path.glob("m.net*"))
    c2, text, err2 = _run(capsys, "export", src, "-t", "loihi", "-o", out, "--check-only")
    assert c2 == c1 and _one_error_line(err2, pattern) == line        # same decision, same line
    assert not list(tmp_path.glob("m.net*"))
    if code == 7:   # the text report (not JSON) lists the loss and the decision
        assert "Quantisation per layer" in text and "Decision: refuse (LossyConversionError)" in text
        assert not text.lstrip().startswith("{")


def test_all_zero_layer_is_not_written_even_with_allow_lossy(demo_nir, tmp_path, capsys):
    """v_threshold = 1e9 rounds every weight of the layer to 0: Lava cannot load such a layer, so
    --allow-lossy cannot write it either (same decision with --check-only)."""
    src = _mutated(demo_nir, tmp_path, EXPORT_CASES["huge-threshold"][0])
    out = tmp_path / "m.net"
    for extra in ([], ["--check-only"]):
        code, text, err = _run(capsys, "export", src, "-t", "loihi", "-o", out, "--allow-lossy", *extra)
        assert code == 7, err
        _one_error_line(err, r"all-zero layer.*Lava cannot load an all-zero layer, so it is not written even "
                             r"with --allow-lossy")
        assert not list(tmp_path.glob("m.net*"))


@pytest.mark.parametrize("case", ["outlier-100x"])
def test_allow_lossy_writes_warns_and_records(case, demo_nir, tmp_path, capsys):
    src = _mutated(demo_nir, tmp_path, EXPORT_CASES[case][0])
    out = tmp_path / "m.net"
    code, text, err = _run(capsys, "export", src, "-t", "loihi", "-o", out, "--allow-lossy", "--check-only")
    assert code == 0 and "Decision: write (lossy steps allowed)" in text and not out.exists()
    code, _, err = _run(capsys, "export", src, "-t", "loihi", "-o", out, "--allow-lossy")
    assert code == 0 and out.exists()
    manifest = json.loads((tmp_path / "m.net.manifest.json").read_text())
    warnings = [ln[len("neurodeploy: warning: "):] for ln in err.splitlines()
                if ln.startswith("neurodeploy: warning: ")]
    assert manifest["lossy_steps"] and warnings == manifest["lossy_steps"]
    # the written lossy network does not compute what the source computes: verify says so
    code, _, err = _run(capsys, "verify", out, "-n", "16")
    assert code == 8
    _one_error_line(err, r"fidelity criteria failed: .*(spike agreement|count correlation|accuracy)")


def test_wrong_source_fails_verify(demo_nir, tmp_path, capsys):
    out = tmp_path / "m.net"
    assert _run(capsys, "export", demo_nir, "-t", "loihi", "-o", out)[0] == 0

    def shuffle(nodes, nm):   # another model of the same shape: hidden neurons get other weights
        w = np.array(nodes[nm["syn0"]].weight)
        nodes[nm["syn0"]].weight = w[np.random.default_rng(0).permutation(w.shape[0])]
    wrong = _mutated(demo_nir, tmp_path, shuffle)
    code, out_text, err = _run(capsys, "verify", out, "--source", wrong, "-n", "8", "--json-out", tmp_path / "v.json")
    assert code == 8
    _one_error_line(err, r"fidelity criteria failed: spike agreement layer 0 = .*count correlation layer 0")
    res = json.loads((tmp_path / "v.json").read_text())
    assert not res["passed"] and any(r["status"] == "FAIL" for r in res["criteria"])
    # the correct source passes, with the same options
    code, out_text, err = _run(capsys, "verify", out, "-n", "8")
    assert code == 0, err
    assert "fidelity criteria" in out_text and "FAIL" not in out_text


def test_input_spikes_shape_checked_before_any_simulator(demo_nir, tmp_path, capsys):
    out = tmp_path / "m.net"
    assert _run(capsys, "export", demo_nir, "-t", "loihi", "-o", out)[0] == 0
    np.save(tmp_path / "bad.npy", np.zeros((16, 3, 100), dtype=np.int8))
    code, _, err = _run(capsys, "verify", out, "--input-spikes", tmp_path / "bad.npy")
    assert code == 3
    _one_error_line(err, r"--input-spikes .*bad.npy: per-step input shape \(100,\) \(100 values\) does not "
                         r"fit m.net's input \(648,\) .*\(T, N, 648\)")
    np.save(tmp_path / "flat.npy", np.zeros((16, 3), dtype=np.int8))
    code, _, err = _run(capsys, "verify", out, "--input-spikes", tmp_path / "flat.npy")
    assert code == 3
    _one_error_line(err, r"expected \(T, N, \*input_shape\)")
    code, _, err = _run(capsys, "export", demo_nir, "-t", "loihi", "-o", tmp_path / "x.net",
                        "--input-spikes", tmp_path / "bad.npy")
    assert code == 3 and not (tmp_path / "x.net").exists()
    _one_error_line(err, r"--input-spikes .*bad.npy: per-step input shape \(100,\) does not fit")
