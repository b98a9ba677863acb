"""Energy report writers: JSON / Markdown files and the terminal table (the HTML page, in a real
headless Chromium: tests/test_energy_html.py)."""

from __future__ import annotations

import json

import pytest
from rich.console import Console
from test_energy_counts import X_ANALOG, X_BIN, activity

from neurodeploy.energy import energy_report, render_table, write_report
from neurodeploy.errors import ConfigError
from neurodeploy.hw_profiles import load_profile

METRICS = [{"epoch": e, "train_loss": 2.0 / (e + 1), "test_accuracy": 0.5 + 0.1 * e} for e in range(4)]


def report(x=X_BIN, profiles=("cmos45-fp32", "cmos45-int8"), convention="fanout"):
    return energy_report(activity(x), [load_profile(p) for p in profiles], convention=convention,
                         metrics=METRICS, meta={"source": "tiny"})


def test_json_roundtrip(tmp_path):
    r = report(convention="neurobench")
    (path,) = write_report(r, tmp_path / "out" / "energy", ["json"])
    assert path.name == "energy.json"
    d = json.loads(path.read_text())
    assert d["format_version"] == 1 and d["convention"] == "neurobench"
    assert d["totals"]["cmos45-fp32"]["snn_pj"] == pytest.approx(8 * 0.9)
    assert d["convention_metrics"]["Effective_ACs"] == 8
    assert d["neurons"][0]["raster_sample0"] == [[0], [1], [0, 1]]
    assert not list(tmp_path.glob("out/.*.tmp"))  # atomic: no temp file left


def test_markdown_and_table():
    r = report(X_ANALOG, profiles=("cmos45-fp32", "truenorth"))
    text = Console(width=250, record=True)
    text.print(render_table(r))
    out = text.export_text()
    assert "0_linear" in out and "SNN/ANN energy" in out and "ratio unknown" in out and "e_mac_pj" in out


def test_markdown_file(tmp_path):
    (path,) = write_report(report(), tmp_path / "e", ["md"])
    md = path.read_text()
    assert "| 0_linear | linear |" in md and "## Assumptions" in md and "Horowitz" in md


def test_bad_format(tmp_path):
    with pytest.raises(ConfigError, match="unknown report format 'pdf'; choose from json, md, html"):
        write_report(report(), tmp_path / "e", ["pdf"])
