"""The HTML energy report in a real headless Chromium: layout at 1280 and 420 px for reports with
1, 2 and 4 profiles (one without costs), and the DOM's content against the JSON report.

Layout is measured by the browser itself: the test loads a copy of the page with a small script
appended that writes its findings (bounding boxes of labels, bars, cards, figures, tables) into the
DOM, read back with ``chromium --dump-dom``. No browser driver or websocket client is needed.
Set ``NEURODEPLOY_SHOTS=DIR`` to keep the screenshots for a look.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_energy_counts import X_ANALOG, X_BIN, activity

from neurodeploy.energy import energy_report, write_report
from neurodeploy.energy.html import energy_unit, mean_firing_rate, num, to_html
from neurodeploy.hw_profiles import load_profile

METRICS = [{"epoch": e, "train_loss": 2.0 / (e + 1), "test_accuracy": 0.5 + 0.1 * e} for e in range(4)]
PROFILE_SETS = {
    1: ("cmos45-fp32",),
    2: ("cmos45-fp32", "cmos45-int8"),
    3: ("cmos45-fp32-sram", "cmos45-int8", "loihi1"),  # memory convention, long layer names
    4: ("cmos45-fp32", "cmos45-int8", "truenorth", "loihi2"),  # truenorth lacks a MAC cost, loihi2 all costs
}
WIDTHS = (1280, 420)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (scripts/browser.sh installs Debian's; CI runs it)")


def report(k: int, x=None, convention=None, metrics=METRICS):
    """A report from real counts of the tiny IF network; 4 profiles use analog input (so MACs);
    3 profiles use the memory convention (many count columns) and long layer names."""
    x = x if x is not None else (X_ANALOG if k == 4 else X_BIN)
    convention = convention or ("memory" if k == 3 else "fanout")
    r = energy_report(activity(x), [load_profile(p) for p in PROFILE_SETS[k]], convention=convention,
                      metrics=metrics, meta={"source": "tiny IF network"})
    if k == 3:
        long = {n: f"encoder.block{i}.{'synapse' if 'linear' in n else 'neuron'}_population_{n}"
                for i, n in enumerate(["0_linear", "1_if", "2_linear", "3_if"])}
        r = dataclasses.replace(r, layers=tuple(dict(x, name=long[x["name"]]) for x in r.layers),
                                neurons=tuple(dict(x, name=long[x["name"]]) for x in r.neurons))
    return r


# ----------------------------------------------------------------------------- static checks
class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict]]:
    p = _Tags()
    p.feed(page)
    return p.tags


def test_self_contained_and_accessible():
    page = to_html(report(4))
    tags = _tags(page)
    names = [t for t, _ in tags]
    assert "script" not in names and "link" not in names and "pre" not in names
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page), "external resource"
    assert all(a.get("alt") for t, a in tags if t == "img")
    assert all(a.get("role") == "img" and a.get("aria-labelledby") for t, a in tags if t == "svg")
    assert names.count("table") >= 5 and "|---" not in page and "| 0_linear |" not in page
    assert "<meta name='viewport'" in page


def test_plain_words_and_units():
    page = to_html(report(4))
    for jargon in ("seed 004", "SNN ac", "ASGL B.2", "e_ac_pj"):
        assert jargon not in page, jargon
    assert "synaptic accumulates (AC)" in page and "appendix B.2" in page and "Adaptive Smoothing" in page
    assert "no public per-operation costs for this profile" in page.lower()
    div, unit = energy_unit(report(4))
    assert unit in ("pJ", "nJ", "µJ", "mJ") and "(pJ)" in page  # tiny net: pJ everywhere
    for u in {"pJ", "nJ", "µJ", "mJ"} - {unit}:
        assert f"({u})" not in page and f"{u} per inference" not in page


@pytest.mark.parametrize(("pj", "unit"), [(7.2, "pJ"), (3.6e4, "nJ"), (999e3, "nJ"), (1.2e6, "µJ"), (5e9, "mJ")])
def test_unit_choice(pj, unit):
    r = report(1)
    t = dict(r.totals["cmos45-fp32"], snn_pj_known=pj / 10, ann_pj_known=pj)
    r2 = dataclasses.replace(r, totals={"cmos45-fp32": t})
    assert energy_unit(r2)[1] == unit


@pytest.mark.parametrize(("v", "text"), [(0, "0"), (36.6, "36.6"), (0.995, "0.995"), (1.0, "1"),
                                         (1234.4, "1,234"), (0.01234, "0.0123"), (2.5e-5, "2.5×10⁻⁵"),
                                         (-0.5, "-0.5"), (float("nan"), "not a number"), (float("inf"), "∞")])
def test_number_format(v, text):
    assert num(v) == text


def test_no_accuracy_without_metrics():
    page = to_html(report(1, metrics=None))
    assert 'id="card-accuracy"' not in page and 'id="training"' not in page and 'id="card-rate"' in page


@pytest.mark.parametrize("convention", ["neurobench", "rate-flops", "memory"])
def test_other_conventions(convention):
    profs = ("cmos45-fp32-sram", "loihi2") if convention == "memory" else ("cmos45-fp32",)
    r = energy_report(activity(X_BIN), [load_profile(p) for p in profs], convention=convention)
    page = to_html(r)
    assert "Reference:" in page and "<pre" not in page
    if convention == "memory":
        assert "neuron updates" in page and "state reads (words)" in page


# ----------------------------------------------------------------------------- in Chromium
_PROBE = r"""
<script>
const F = document.getElementById('report');
F.addEventListener('load', () => {
  const document = F.contentDocument, getComputedStyle = e => F.contentWindow.getComputedStyle(e);
  F.style.height = document.documentElement.scrollHeight + 'px';  // the whole page, no inner scrolling
  const W = document.documentElement.clientWidth, problems = [];
  const box = e => e.getBoundingClientRect();
  const say = (what, e, extra) => problems.push(what + ': ' + (e.id || e.tagName.toLowerCase() +
      (e.className && e.className.baseVal === undefined ? '.' + e.className : '')) + ' ' +
      JSON.stringify((e.textContent || '').trim().slice(0, 40)) + (extra ? ' ' + extra : ''));
  const scroller = e => { for (let p = e.parentElement; p; p = p.parentElement)
      if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return p; return null; };
  const hit = (a, b, tol) => a.left < b.right - tol && b.left < a.right - tol &&
                             a.top < b.bottom - tol && b.top < a.bottom - tol;
  if (document.documentElement.scrollWidth > W + 1) problems.push('page scrolls sideways: ' +
      document.documentElement.scrollWidth + ' > ' + W);
  // nothing outside the viewport unless inside a horizontal scroller (wide tables)
  for (const e of document.querySelectorAll('main *')) {
    const r = box(e);
    if (!r.width || !r.height || scroller(e)) continue;
    if (r.left < -0.5 || r.right > W + 0.5) say('cut at viewport', e, r.left + '..' + r.right);
  }
  // text cut inside its own box (overflowing paragraphs, cells, captions, cards)
  for (const e of document.querySelectorAll('h1,h2,h3,p,li,figcaption,.card,.card *,th,td,caption'))
    if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible' &&
        getComputedStyle(e).display !== 'inline') say('text overflows', e, e.scrollWidth + '>' + e.clientWidth);
  // block siblings never overlap (cards, figures, tables, paragraphs)
  for (const p of document.querySelectorAll('main, main *')) {
    const kids = [...p.children].filter(k => !['inline', 'none', 'table-cell', 'table-row', 'contents']
        .includes(getComputedStyle(k).display) && box(k).width > 0 && !(k instanceof F.contentWindow.SVGElement));
    for (let i = 0; i < kids.length; i++) for (let j = i + 1; j < kids.length; j++)
      if (hit(box(kids[i]), box(kids[j]), 0.5)) say('overlaps ' + (kids[j].id || kids[j].tagName), kids[i]);
  }
  // SVG labels: inside their chart and not on top of each other
  const svgs = [...document.querySelectorAll('svg')];
  for (const s of svgs) {
    const sr = box(s), texts = [...s.querySelectorAll('text')].filter(t => t.textContent.trim());
    const rs = texts.map(box);
    texts.forEach((t, i) => { const r = rs[i];
      if (r.left < sr.left - 0.5 || r.right > sr.right + 0.5 || r.top < sr.top - 0.5 || r.bottom > sr.bottom + 0.5)
        say('label cut by chart edge', t, s.id); });
    for (let i = 0; i < rs.length; i++) for (let j = i + 1; j < rs.length; j++)
      if (hit(rs[i], rs[j], 0.5)) say('labels overlap', texts[i], JSON.stringify(texts[j].textContent));
  }
  const imgs = [...document.querySelectorAll('img')];
  imgs.forEach(i => { if (!i.complete || !i.naturalWidth) say('image not rendered', i); });
  const text = sel => [...document.querySelectorAll(sel)].map(e => e.textContent.trim());
  const cells = [...document.querySelectorAll('#summary-table tbody tr')].map(tr =>
      [...tr.children].map(td => ({text: td.textContent.trim(),
          pj: (td.querySelector('[data-pj]') || {dataset: {}}).dataset.pj || null})));
  const out = {width: W, height: document.documentElement.scrollHeight, problems,
    tables: document.querySelectorAll('table').length, pres: document.querySelectorAll('pre').length,
    svgs: svgs.length, imgs: imgs.length, unit: text('#unit')[0], summaryHead: text('#summary-table thead th'),
    summary: cells, energyHead: text('#energy-table thead th'), accuracy: text('#card-accuracy .v')[0] || null,
    rate: text('#card-rate .v')[0] || null, nocost: text('figure.nocost').join(' ')};
  const pre = document.createElement('pre');
  pre.id = 'probe'; pre.style.display = 'none'; pre.textContent = JSON.stringify(out);
  window.document.body.appendChild(pre);
});
</script>
"""


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--force-device-scale-factor=1", f"--user-data-dir={tmp / 'chromium-profile'}", *args]
    res = subprocess.run(flags, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res


def _frame(page: Path, width: int, height: int, script: str = "") -> Path:
    """A page showing ``page`` in an iframe ``width`` px wide: headless Chromium's window is at
    least 500 px wide, so narrower viewports are frames (srcdoc: same origin, the probe can
    measure inside)."""
    import html as _html

    out = page.with_name(f"{page.stem}.{width}.{'probe' if script else 'frame'}.html")
    out.write_text(f"<!DOCTYPE html><html><body style='margin:0'><iframe id='report' title='report' "
                   f"style='border:0;display:block;width:{width}px;height:{height}px' "
                   f"srcdoc=\"{_html.escape(page.read_text(), quote=True)}\"></iframe>{script}</body></html>")
    return out


def probe(page: Path, width: int, tmp: Path) -> dict:
    """Load ``page`` at ``width`` px with the probe script and return its findings."""
    framed = _frame(page, width, 900, _PROBE)
    res = _chromium(tmp, f"--window-size={max(width, 500)},900", "--virtual-time-budget=5000", "--dump-dom",
                    framed.as_uri())
    m = re.search(r'<pre id="probe"[^>]*>(.*?)</pre>', res.stdout, re.S)
    assert m, "probe script did not run: " + res.stdout[-500:]
    import html as _html

    return json.loads(_html.unescape(m.group(1)))


def screenshot(page: Path, width: int, height: int, tmp: Path) -> Path:
    """Screenshot of the whole page at ``width`` px (``height`` from the probe)."""
    from PIL import Image

    shot = tmp / f"{page.stem}-{width}.png"
    _chromium(tmp, f"--window-size={max(width, 500)},{height}", f"--screenshot={shot}",
              _frame(page, width, height).as_uri())
    Image.open(shot).crop((0, 0, width, height)).save(shot)
    keep = os.environ.get("NEURODEPLOY_SHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
    return shot


@needs_chromium
@pytest.mark.slow
@pytest.mark.parametrize("k", sorted(PROFILE_SETS))
def test_layout_and_content_in_chromium(k, tmp_path):
    from PIL import Image

    r = report(k)
    html_path, json_path = write_report(r, tmp_path / f"energy{k}", ["html", "json"])
    d = json.loads(json_path.read_text())
    div, unit = energy_unit(r)
    for width in WIDTHS:
        f = probe(html_path, width, tmp_path)
        assert f["width"] == width
        assert f["problems"] == [], f"{k} profiles at {width} px: " + "\n".join(f["problems"])
        # content: real tables, one unit everywhere, summary numbers = the JSON's
        assert f["pres"] == 0 and f["tables"] >= 5 and f["unit"] == unit
        assert all(f"({unit})" in h for h in f["summaryHead"][1:3])
        assert all(f"({unit})" in h for h in f["energyHead"] if "SNN" in h or "ANN" in h)
        assert len(f["summary"]) == k
        for row, p in zip(f["summary"], PROFILE_SETS[k]):
            t = d["totals"][p]
            assert row[0]["text"].startswith(p)
            if not d["profiles"][PROFILE_SETS[k].index(p)]["costs"]:
                assert "no public per-operation costs for this profile" in row[1]["text"]
                assert p in f["nocost"] and "No public per-operation costs" in f["nocost"]
                continue
            for cell, key in ((row[1], "snn_pj"), (row[2], "ann_pj")):
                if t[key] is None:
                    assert cell["text"].endswith("unknown")
                else:
                    assert float(cell["pj"]) == pytest.approx(t[key], rel=1e-12)
                    shown = float(cell["text"].split(")")[-1].replace(",", ""))
                    assert shown == pytest.approx(t[key] / div, rel=5e-3)
            ratio = row[3]["text"].split(")")[-1].replace("SNN / ANN", "")
            assert ratio.endswith("unknown") if t["ratio"] is None else float(ratio) == pytest.approx(t["ratio"], rel=5e-3)
        assert f["accuracy"] == f"{METRICS[-1]['test_accuracy'] * 100:.1f} %"
        rate = sum(n["spikes_per_inference"] for n in d["neurons"]) / (
            sum(n["neurons"] for n in d["neurons"]) * d["time_steps"])
        assert float(f["rate"]) == pytest.approx(rate, rel=5e-3) and rate == pytest.approx(mean_firing_rate(r))
        # pixels: the page rendered (not blank), with the SNN bars' blue
        shot = screenshot(html_path, width, f["height"] + 20, tmp_path)
        img = Image.open(shot).convert("RGB")
        assert img.size == (width, f["height"] + 20)
        colors = img.getcolors(maxcolors=1 << 22) or []
        assert len(colors) > 50, "blank screenshot"
        assert sum(n for n, c in colors if c == (0x1F, 0x77, 0xB4)) > 200, "SNN bars not drawn"


@needs_chromium
def test_probe_finds_layout_faults(tmp_path):
    """The layout probe itself: overlapping labels, a label past its chart, a too-wide block,
    overlapping cards and a broken image are all reported (so a clean report means something)."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body><main>"
        "<svg role='img' viewBox='0 0 200 50' width='200' height='50'><text x='10' y='20'>overlapping</text>"
        "<text x='14' y='22'>labels</text><text x='180' y='40'>past the edge</text></svg>"
        "<div class='cards' style='position:relative;height:60px'><div class='card' style='position:absolute;"
        "width:100px;height:50px'>a</div><div class='card' style='position:absolute;left:50px;width:100px;"
        "height:50px'>b</div></div><p style='width:900px'>too wide</p>"
        "<img alt='x' src='data:image/png;base64,AAAA'></main></body></html>")
    problems = "\n".join(probe(page, 420, tmp_path)["problems"])
    for fault in ("labels overlap", "label cut by chart edge", "page scrolls sideways", "cut at viewport",
                  "overlaps", "image not rendered"):
        assert fault in problems, (fault, problems)


@needs_chromium
@pytest.mark.slow
def test_trained_run_report_in_chromium(trained_run, tmp_path, capsys):
    """`neurodeploy energy RUN --format html`: a real run (digits MLP), three profiles, the
    accuracy card equals the run's last test accuracy, the layout holds at both widths."""
    from neurodeploy.cli import main
    from neurodeploy.train.checkpoint import read_metrics

    stem = tmp_path / "energy"
    args = ["energy", str(trained_run), "-n", "32", "--format", "html", "--format", "json", "-o", str(stem)]
    for p in ("cmos45-fp32", "cmos45-int8", "loihi2"):
        args += ["--profile", p]
    assert main(args) == 0, capsys.readouterr().err
    d = json.loads(stem.with_suffix(".json").read_text())
    acc = read_metrics(trained_run)[-1]["test_accuracy"]
    for width in WIDTHS:
        f = probe(stem.with_suffix(".html"), width, tmp_path)
        assert f["problems"] == [], f"trained run at {width} px: " + "\n".join(f["problems"])
        assert f["accuracy"] == f"{acc * 100:.1f} %" and f["imgs"] == 4 and f["svgs"] == 4
        div = {"pJ": 1, "nJ": 1e3, "µJ": 1e6, "mJ": 1e9}[f["unit"]]
        assert 1 <= max(t["ann_pj"] for t in d["totals"].values() if t["ann_pj"]) / div < 1000
        screenshot(stem.with_suffix(".html"), width, f["height"] + 20, tmp_path)


def test_partly_and_wholly_unknown_costs(tmp_path):
    """A missing cost never draws a silently low bar: known parts are '≥' bounds, and a profile
    whose costs price none of the counted operations says so instead of drawing empty axes."""
    page = to_html(report(3))
    assert "unknown (≥ " in page and ">≥ " in page and "known part only" in page
    toml = tmp_path / "neuron-only.toml"
    toml.write_text('name = "neuron-only"\ndescription = "A chip that publishes only a neuron update cost."\n'
                    '[costs.e_neuron_update_pj]\nvalue = 1.0\nsource = "test"\nkind = "measured"\n')
    r = energy_report(activity(X_BIN), [load_profile("cmos45-fp32"), load_profile(str(toml))])
    page = to_html(r)
    assert "No layer's energy is known under this profile: it has no cost per accumulate (AC)" in page
    assert page.count("<svg") == 3  # cmos45-fp32's chart and the two firing charts, none for neuron-only
