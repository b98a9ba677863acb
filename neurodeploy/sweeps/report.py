"""The sweep's HTML report: the accuracy/energy Pareto front (inline SVG scatter in the style of
:mod:`neurodeploy.energy.charts`) and a table of every trial. One self-contained file, no script."""

from __future__ import annotations

import json

from neurodeploy.energy.charts import _e, _svg_open, _ticks, num
from neurodeploy.energy.html import _CSS, _table

FRONT, OTHER, INFEASIBLE = "#d62728", "#1f77b4", "#9aa3ab"


def pareto_svg(points: list[dict], front: set[int], unit_div: float, unit: str) -> str:
    """Scatter of test accuracy (%) against energy per inference; Pareto-front trials in red,
    joined in energy order; trials that do not fit the target hollow grey."""
    w, h, left, right, top, bottom = 540.0, 340.0, 56.0, 16.0, 14.0, 46.0
    pw, ph = w - left - right, h - top - bottom
    xs = [p["energy_pj"] / unit_div for p in points]
    xmax = max(xs) * 1.05 if xs else 1.0
    xt = _ticks(xmax, pw, lambda v: len(num(v)) * 7.0)
    x1 = xt[-1] or 1.0
    yt = [0, 20, 40, 60, 80, 100]

    def X(v):
        return left + pw * v / x1

    def Y(acc):
        return top + ph * (1 - acc)

    out = [_svg_open(w, h, "Pareto front: test accuracy against energy per inference",
                     f"{len(points)} trials; {len(front)} on the Pareto front (red)", "pareto")]
    for t in xt:
        out.append(f'<line x1="{X(t):.1f}" y1="{top:.1f}" x2="{X(t):.1f}" y2="{top + ph:.1f}" stroke="#e6e9ec"/>'
                   f'<text x="{X(t):.1f}" y="{top + ph + 16:.1f}" text-anchor="middle">{_e(num(t))}</text>')
    for t in yt:
        y = Y(t / 100)
        out.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{left + pw:.1f}" y2="{y:.1f}" stroke="#e6e9ec"/>'
                   f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">{t}</text>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{h - 8:.1f}" text-anchor="middle">energy per inference ({_e(unit)})</text>'
               f'<text transform="translate(14 {top + ph / 2:.1f}) rotate(-90)" text-anchor="middle">test accuracy (%)</text>')
    on = sorted((p for p in points if p["number"] in front), key=lambda p: p["energy_pj"])
    if len(on) > 1:
        path = " ".join(f"{X(p['energy_pj'] / unit_div):.1f},{Y(p['accuracy']):.1f}" for p in on)
        out.append(f'<polyline points="{path}" fill="none" stroke="{FRONT}" stroke-width="1.5"/>')
    for p in points:
        x, y = X(p["energy_pj"] / unit_div), Y(p["accuracy"])
        tip = (f"trial {p['number']}: {p['accuracy']:.1%}, {num(p['energy_pj'] / unit_div)} {unit}; "
               + ", ".join(f"{k} = {json.dumps(v)}" for k, v in p["params"].items()))
        if p.get("fits") is False:
            style = f'fill="none" stroke="{INFEASIBLE}" stroke-width="1.5"'
        else:
            style = f'fill="{FRONT if p["number"] in front else OTHER}"'
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" {style}><title>{_e(tip)}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def _unit(pj: list[float]) -> tuple[float, str]:
    top = max(pj) if pj else 1.0
    for div, unit in ((1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ"), (1.0, "pJ")):
        if top >= div:
            return div, unit
    return 1.0, "pJ"


def _value(v) -> str:
    """A parameter value for the table: floats to 4 significant digits (the JSON keeps all)."""
    return f"{v:.4g}" if isinstance(v, float) else json.dumps(v)


def to_html(summary: dict) -> str:
    """The report page of a sweep summary (``sweep.json``)."""
    done = [t for t in summary["trials"] if t["state"] == "complete"]
    front = set(summary["pareto_front"])
    div, unit = _unit([t["energy_pj"] for t in done])
    fit = summary.get("fit_target")
    title = "Accuracy/energy sweep"
    sub = (f"{len(done)} of {summary['trials_requested']} trials complete; energy: {_e(summary['profile'])}, "
           f"{_e(summary['convention'])} convention; accuracy: test split, last epoch"
           + (f"; constraint: fits target {_e(fit)}" if fit else ""))
    chart = (pareto_svg(done, front, div, unit) if done else "<p class='note'>No trial finished yet.</p>")
    legend = ("red: Pareto front (no other trial is both more accurate and cheaper)"
              + (", hollow grey: does not fit the target" if fit else "") + "; blue: the others")
    keys = sorted({k for t in summary["trials"] for k in t["params"]})
    head = ["trial", "state", "test accuracy", f"energy ({unit})"] + ([f"fits {_e(fit)}"] if fit else []) \
        + [_e(k) for k in keys] + ["note"]
    rows = []
    for t in sorted(summary["trials"], key=lambda t: t["number"]):
        mark = " ★" if t["number"] in front else ""
        note = t.get("error") or t.get("fit_error") or (f"retry of trial {t['retry_of']}" if t.get("retry_of") is not None else "")
        rows.append([f"{t['number']}{mark}", _e(t["state"]),
                     "" if t["accuracy"] is None else f"{t['accuracy']:.1%}",
                     "" if t["energy_pj"] is None else num(t["energy_pj"] / div)]
                    + ([{True: "yes", False: "no", None: ""}[t["fits"]]] if fit else [])
                    + [_e(_value(t["params"].get(k))) for k in keys] + [(_e(note), 'class="l"')])
    parts = [f"<header><h1>{title}</h1><p class='sub'>{sub}.</p></header>",
             "<h2>Pareto front</h2>", f"<figure>{chart}<figcaption>{legend}. Hover a point for its "
             "parameters.</figcaption></figure>",
             "<h2>Trials</h2>", _table(head, rows, numeric_from=2, numeric_to=4, ident="trials", stack=True,
                                       caption="★ = on the Pareto front"),
             "<h2>Search space</h2><ul>" + "".join(f"<li><code>{_e(s)}</code></li>" for s in summary["space"]) + "</ul>",
             "<footer class='note'><p>neurodeploy sweep report, format version "
             f"{summary['format_version']}. Accuracy is measured on the test split that also selects the "
             "trials: an optimistic pick; confirm a chosen trial on held-out data. The same numbers are "
             "in sweep.json.</p></footer>"]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{title}</title><style>{_CSS}</style></head><body><main>"
            + "\n".join(parts) + "</main></body></html>\n")
