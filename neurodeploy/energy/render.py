"""Report output: rich terminal table, Markdown, JSON and (via :mod:`.html`) HTML files."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from neurodeploy.atomic import write_text
from neurodeploy.energy.report import EnergyReport
from neurodeploy.errors import ConfigError

FORMATS = ("json", "md", "html")


def fmt_count(v: float | None) -> str:
    """Compact count: 1234567 → '1.23M'."""
    if v is None:
        return "unknown"
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.4g}"


def fmt_energy(pj: float | None) -> str:
    """Energy in pJ with an SI prefix: 1.2e6 pJ → '1.2 µJ'."""
    if pj is None:
        return "unknown"
    for div, unit in ((1e12, "J"), (1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ")):
        if abs(pj) >= div:
            return f"{pj / div:.3g} {unit}"
    return f"{pj:.3g} pJ"


def _profiles(report: EnergyReport) -> list[str]:
    return [p["name"] for p in report.profiles]


#: operation category → short plain column name (terminal and Markdown)
_OPS = {"ac": "accumulates (AC)", "mac": "mult-accumulates (MAC)", "neuron_update": "neuron updates",
        "spikes": "spikes routed"}


def _rows(report: EnergyReport) -> tuple[list[str], list[list[str]]]:
    """Header and rows shared by the terminal and Markdown tables."""
    cats = sorted(c for c, v in report.op_totals["snn"].items() if v) or ["ac"]
    head = ["layer", "kind", *[f"SNN {_OPS.get(c, c.replace('_', ' '))}" for c in cats], "ANN MACs"]
    for p in _profiles(report):
        head += [f"SNN {p}", f"ANN {p}"]
    rows = []
    for r in report.layers:
        row = [r["name"], r["kind"], *[fmt_count(r["snn"].get(c, 0.0)) for c in cats],
               fmt_count(r["ann"].get("mac", 0.0))]
        for p in _profiles(report):
            e = r["energy_pj"][p]
            row += [fmt_energy(e["snn"]), fmt_energy(e["ann"]) if r["ann"] else "—"]
        rows.append(row)
    tot = ["total / inference", "", *[fmt_count(report.op_totals["snn"].get(c, 0.0)) for c in cats],
           fmt_count(report.op_totals["ann"].get("mac", 0.0))]
    for p in _profiles(report):
        t = report.totals[p]
        tot += [fmt_energy(t["snn_pj"]), fmt_energy(t["ann_pj"])]
    rows.append(tot)
    return head, rows


def _ratio_lines(report: EnergyReport) -> list[str]:
    lines = []
    for p in _profiles(report):
        t = report.totals[p]
        if t["ratio"] is not None:
            lines.append(f"{p}: SNN/ANN energy = {t['ratio']:.3g} ({fmt_energy(t['snn_pj'])} vs {fmt_energy(t['ann_pj'])})")
        else:
            lines.append(f"{p}: ratio unknown — profile lacks {', '.join(t['unknown_costs'])} "
                         f"(known part: SNN {fmt_energy(t['snn_pj_known'])}, ANN {fmt_energy(t['ann_pj_known'])})")
    return lines


def render_table(report: EnergyReport) -> Table:
    """Terminal table: per-layer counts and energies, totals; firing rates in the caption."""
    head, rows = _rows(report)
    table = Table(title=f"Energy per inference — convention {report.convention} "
                        f"({report.n_samples} samples, T={report.time_steps})")
    for i, h in enumerate(head):
        table.add_column(h, justify="left" if i < 2 else "right")
    for i, row in enumerate(rows):
        table.add_row(*row, end_section=i == len(rows) - 2)
    rates = ", ".join(f"{n['name']} {n['firing_rate']:.3f}" for n in report.neurons)
    table.caption = "\n".join([*_ratio_lines(report), f"firing rate (spikes/neuron/step): {rates}"])
    return table


def to_markdown(report: EnergyReport) -> str:
    """The report as Markdown: tables, ratio, firing statistics and assumptions."""
    head, rows = _rows(report)
    out = [f"# Energy report ({report.convention})", "",
           f"{report.n_samples} samples, T = {report.time_steps}, dt = {report.dt_s:g} s; "
           f"convention: {report.convention_description}.", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    out += ["", *[f"- {line}" for line in _ratio_lines(report)], "", "## Spiking layers", "",
            "| layer | kind | neurons | firing rate | sparsity | dead | saturated | spikes/inference |",
            "|---|---|---|---|---|---|---|---|"]
    for n in report.neurons:
        out.append(f"| {n['name']} | {n['kind']} | {n['neurons']} | {n['firing_rate']:.4f} | "
                   f"{n['activation_sparsity']:.4f} | {n['dead']} | {n['saturated']} | "
                   f"{n['spikes_per_inference']:.4g} |")
    if report.convention_metrics:
        out += ["", "## Convention metrics", ""]
        out += [f"- {k}: {v:.10g}" for k, v in report.convention_metrics.items()]
    out += ["", "## Profiles", ""]
    for p in report.profiles:
        out.append(f"- **{p['name']}**: {p['description']}")
        out += [f"  - {k} = {q['value']:g} ({q['kind']}; {q['source']})" for k, q in p["costs"].items()]
    out += ["", "## Assumptions", "", *[f"- {a}" for a in report.assumptions], ""]
    return "\n".join(out)


def write_report(report: EnergyReport, out_path_stem: Path, formats: list[str]) -> list[Path]:
    """Write ``out_path_stem`` + ``.json`` / ``.md`` / ``.html`` atomically; returns the paths.

    ``out_path_stem`` may also end in one of the requested formats' suffixes (``report.html``
    with ``html``): that suffix is dropped, so the file is ``report.html``, not
    ``report.html.html``. A format suffix that was not requested is refused."""
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ConfigError(f"unknown report format {bad[0]!r}; choose from {', '.join(FORMATS)}")
    stem = Path(out_path_stem)
    suffix = stem.suffix[1:].lower()
    if suffix in FORMATS:
        if suffix not in formats:
            raise ConfigError(f"-o {stem} names a .{suffix} file but the report formats are "
                              f"{', '.join(formats)}: add --format {suffix} or pass a stem without a suffix")
        stem = stem.with_suffix("")
    paths = []
    for fmt in dict.fromkeys(formats):
        path = stem.with_name(stem.name + "." + fmt)
        if fmt == "json":
            text = json.dumps(report.to_dict(), indent=1, allow_nan=False)
        elif fmt == "md":
            text = to_markdown(report)
        else:
            from neurodeploy.energy.html import to_html

            text = to_html(report)
        write_text(path, text)
        paths.append(path)
    return paths
