"""Fidelity criteria: declared in the profile, every one judged and printed, overrides recorded,
small samples handled by the paired test, inputs without a dataset, unrolled ONNX files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurodeploy.cli import main
from neurodeploy.errors import ConfigError
from neurodeploy.hw_profiles import load_profile
from neurodeploy.hw_profiles.schema import FIDELITY_KEYS
from neurodeploy.targets.loihi.verify import judge, load_thresholds, mcnemar_p


def _run(capsys, *args):
    code = main(list(map(str, args)))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("name", ["loihi1", "loihi2"])
def test_profiles_declare_every_criterion_with_provenance(name):
    prof = load_profile(name)
    assert set(prof.fidelity) == set(FIDELITY_KEYS)
    for q in prof.fidelity.values():
        assert q.source.strip() and q.value >= 0
    assert prof.criterion("max_accuracy_drop_pts") == 1.0 and prof.criterion("min_vendor_agreement") == 1.0


def test_unknown_fidelity_key_is_an_error(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text('name = "x"\n[fidelity.min_spike_agreemnt]\nvalue = 0.9\nsource = "me"\nkind = "measured"\n')
    with pytest.raises(ConfigError, match=r"fidelity: unknown key 'min_spike_agreemnt' \(did you mean 'min_spike_agreement'"):
        load_profile(p)


def test_overrides_are_marked_and_validated():
    th = load_thresholds("loihi2", {"min_count_corr": 0.5, "min_spike_agreement": None})
    assert th["min_count_corr"] == {"value": 0.5, "source": "command line"}
    assert th["min_spike_agreement"]["source"] == "profile loihi2"
    with pytest.raises(ConfigError, match="finite number >= 0"):
        load_thresholds("loihi2", {"min_count_corr": float("nan")})


def test_mcnemar_small_samples():
    assert mcnemar_p(0, 0) == 1.0 and mcnemar_p(0, 1) == 1.0
    assert mcnemar_p(0, 3) == pytest.approx(0.25)          # 3 of 8 flipped: not significant
    assert mcnemar_p(0, 10) == pytest.approx(2 / 1024)


def _report(float_only, fixed_only, n, agree=0.99, corr=0.99):
    return {"layers": [{"index": 0, "identical_spike_fraction": agree, "count_correlation": corr,
                        "counts_equal": False}],
            "predictions": {"emulator": {"samples": n, "float_only": float_only, "fixed_only": fixed_only}},
            "emulator_vs_lava": None}


def test_accuracy_criterion_needs_size_and_significance():
    th = load_thresholds()
    status = lambda rep: {r["name"]: r["status"] for r in judge(rep, th)}  # noqa: E731
    # one flipped prediction of 8 is 12.5 points but proves nothing: PASS
    assert status(_report(1, 0, 8))["accuracy emulator - float (points)"] == "PASS"
    # 12 of 64 lost: significant and far above 1 point: FAIL
    assert status(_report(12, 0, 64))["accuracy emulator - float (points)"] == "FAIL"
    # the emulator being *better* by a significant margin is also a mismatch
    assert status(_report(0, 12, 64))["accuracy emulator - float (points)"] == "FAIL"
    rows = judge(_report(0, 0, 8, agree=0.7, corr=None), th)
    bad = {(r["name"], r["status"]) for r in rows}
    assert ("spike agreement", "FAIL") in bad and ("count correlation", "FAIL") in bad
    assert ("emulator = Lava", "SKIP") in bad


@pytest.fixture(scope="module")
def demo_net(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("fid") / "m.net"
    assert main(["export", str(trained_run), "-t", "loihi", "-o", str(out)]) == 0
    return out


def test_verify_table_json_and_overrides(demo_net, tmp_path, capsys):
    code, out, err = _run(capsys, "verify", demo_net, "-n", "8", "--no-lava", "--json-out", tmp_path / "v.json")
    assert code == 0, err
    assert "fidelity criteria" in out and ">= 0.9" in out and "SKIP" in out
    res = json.loads((tmp_path / "v.json").read_text())
    assert res["passed"] and {r["status"] for r in res["criteria"]} <= {"PASS", "SKIP"}
    assert res["thresholds"]["min_count_corr"]["source"] == "profile loihi2"
    # an impossible override makes it fail, exit 8, and is recorded
    code, out, err = _run(capsys, "verify", demo_net, "-n", "8", "--no-lava", "--min-spike-agreement", "1",
                          "--json-out", tmp_path / "w.json")
    assert code == 8 and err.count("\n") == 1 and "spike agreement layer" in err
    res = json.loads((tmp_path / "w.json").read_text())
    assert res["thresholds"]["min_spike_agreement"] == {"value": 1.0, "source": "command line"}
    assert not res["passed"]


def test_verify_without_a_dataset(demo_net, tmp_path, capsys):
    code, out, err = _run(capsys, "verify", demo_net, "--random-input", "0.2", "-n", "4", "--no-lava",
                          "--json-out", tmp_path / "r.json")
    assert code == 0, err
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["inputs"] == "--random-input 0.2" and "accuracy" not in res
    assert res["criteria"][0]["status"] == "SKIP"
    x = (np.random.default_rng(1).random((12, 3, 648)) < 0.2).astype(np.int8)   # (T, N, …)
    np.save(tmp_path / "x.npy", x)
    code, out, err = _run(capsys, "verify", demo_net, "--input-spikes", tmp_path / "x.npy", "--no-lava")
    assert code == 0, err
    code, _, err = _run(capsys, "verify", demo_net, "--random-input", "1.5")
    assert code == 2 and "--random-input': 1.5 is above the maximum 1" in err


def test_unrolled_onnx_verifies(trained_run, tmp_path, capsys):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    for unroll in (16, 10):   # the data's T, and a shorter model (input cut to its T)
        out = tmp_path / f"u{unroll}.onnx"
        code, _, err = _run(capsys, "export", trained_run, "-t", "onnx", "--unroll", unroll, "-o", out)
        assert code == 0, err
        code, text, err = _run(capsys, "verify", out, "-n", "4", "--json-out", tmp_path / "o.json")
        assert code == 0, err
        res = json.loads((tmp_path / "o.json").read_text())
        assert res["passed"] and list(res["modes"]) == ["zero"] and "(zero state)" in text
        assert (res["note"] is None) == (unroll == 16)
