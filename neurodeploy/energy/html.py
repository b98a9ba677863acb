"""Self-contained HTML report for a researcher: summary first, then energy, firing, training and
the fine print.

Layout (one file, no external resource, readable from 420 px to wide screens):

* **Summary**: test accuracy (last epoch of the run's metrics, when known), mean firing rate, and
  per profile the energy per inference of the SNN and of the ANN, their ratio and where the
  profile's costs come from; the counting convention in plain words with its reference.
* **Energy per layer**: one small chart per profile in a responsive grid (inline SVG, horizontal
  bars SNN vs ANN); a profile without costs gets a sentence, not empty axes. Tables of energies
  and operation counts per layer.
* **Firing**: rate per layer and per time step (inline SVG), the spiking-layer table, a raster of
  sample 0 and the per-neuron rate histogram (matplotlib, inline PNG).
* **Training** curves when the report carries a history; convention metrics, profiles with every
  cost's source, assumptions.

Every energy in the page uses one unit, chosen per report (pJ, nJ, µJ or mJ) so that the largest
total lies in [1, 1000); a table header or axis title always names it. The charts themselves are
drawn in :mod:`neurodeploy.energy.charts`.
"""

from __future__ import annotations

import html
import math
import re

from neurodeploy.energy.charts import (
    hbar_svg,
    hist_fig,
    lines_svg,
    num,
    png,
    raster_fig,
    short,
    training_figs,
)
from neurodeploy.energy.report import EnergyReport

SNN_COLOR, ANN_COLOR = "#1f77b4", "#e07b00"
_UNITS = ((1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ"), (1.0, "pJ"))

_ASGL = ("Wang et al., “Adaptive Smoothing Gradient Learning for Spiking Neural Networks” (ASGL), "
         "ICML 2023, appendix B.2")
#: convention → (plain title, what it counts in plain words, reference). Plugins fall back to
#: their registered description.
_CONVENTIONS = {
    "fanout": ("fanout convention",
               "one synaptic accumulate (AC) for every connection a spike travels along, summed over "
               "all time steps (connections with zero weight included, bias not counted); a time step "
               "whose input is not a spike (e.g. a first layer fed analog values) costs one "
               "multiply-accumulate (MAC) per connection. The ANN is the same network with ReLU, run "
               "once per inference: one MAC per connection", _ASGL),
    "neurobench": ("NeuroBench synaptic operations",
                   "the synaptic operations that really happen: a non-zero input meeting a non-zero "
                   "weight (zero weights skipped, bias and pooling not counted), as accumulates (AC) when "
                   "all inputs of a layer at a step are spikes, else as multiply-accumulates (MAC). The "
                   "ANN is NeuroBench's dense count of one step",
                   "NeuroBench 2.3 SynapticOperations (Yik et al., “The NeuroBench framework for "
                   "benchmarking neuromorphic computing algorithms and systems”, arXiv:2304.04640)"),
    "rate-flops": ("firing-rate × FLOPs convention",
                   "each layer's dense operation count × the fraction of its inputs that are spikes × the "
                   "number of time steps, as accumulates (AC); layers fed analog values cost their dense "
                   "count in multiply-accumulates (MAC). The ANN costs the dense count once",
                   "Zhou et al., “Spikformer: When Spiking Neural Network Meets Transformer”, ICLR 2023"),
    "memory": ("operations + memory traffic",
               "the fanout convention's operations plus what they move: each synaptic operation reads a "
               "weight and reads and writes a membrane potential, every neuron is updated at every "
               "step, every spike is routed once; the ANN reads a weight and an input per MAC and "
               "writes each output once",
               "Lemaire et al., “An analytical estimation of spiking neural networks energy "
               "efficiency”, ICONIP 2022"),
}
#: operation category → plain header
_CATEGORY = {
    "ac": "synaptic accumulates (AC)", "mac": "multiply-accumulates (MAC)",
    "neuron_update": "neuron updates", "spikes": "spikes routed",
    "weight_reads": "weight reads (words)", "state_reads": "state reads (words)",
    "state_writes": "state writes (words)", "act_reads": "activation reads (words)",
    "act_writes": "activation writes (words)",
}
_COST = {"e_ac_pj": "per accumulate (AC)", "e_mac_pj": "per multiply-accumulate (MAC)",
         "e_neuron_update_pj": "per neuron update", "e_spike_route_pj": "per routed spike",
         "e_mem_read_pj_per_bit": "per bit read", "e_mem_write_pj_per_bit": "per bit written",
         "static_power_mw": "static power"}

_CSS = """
:root{--fg:#1d232a;--muted:#56606a;--line:#d8dde2;--soft:#f5f7f9}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:#fff;
 font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:1.6em;line-height:1.25;margin:0 0 .3em;overflow-wrap:anywhere}
h2{font-size:1.25em;margin:2.2em 0 .6em;padding-bottom:.25em;border-bottom:1px solid var(--line)}
h3{font-size:1.05em;margin:1.6em 0 .5em}
p,li{max-width:75em;overflow-wrap:anywhere}
.sub,.note,figcaption,.k,.src{color:var(--muted)}
.note{font-size:.92em}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,170px),1fr));gap:12px;margin:1em 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;background:var(--soft);min-width:0}
.card .k{font-size:.85em}.card .v{font-size:1.7em;font-weight:600;line-height:1.3}
.card .src{font-size:.82em;overflow-wrap:anywhere}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,420px),1fr));gap:18px;margin:1em 0;
 align-items:start}
figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:10px 12px;min-width:0}
figure svg{display:block;width:100%;max-width:540px;height:auto;margin:0 auto}
figure img{display:block;max-width:100%;height:auto;margin:0 auto}
figcaption{font-size:.9em;margin-top:.4em;overflow-wrap:anywhere}
figcaption b{color:var(--fg)}
.nocost{display:flex;flex-direction:column;justify-content:center;background:var(--soft)}
.nocost p{margin:.3em 0}
.tw{overflow-x:auto;margin:.6em 0 1em;max-width:100%}
table{border-collapse:collapse;font-size:.9em;font-variant-numeric:tabular-nums}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{border-bottom:2px solid #aab3bc;background:var(--soft)}
th.n,td.n{text-align:right}td.n{white-space:nowrap}
a{color:#1f5f99}
@media (max-width:640px){
 table.stack thead{display:none}
 table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}
 table.stack tr{border-bottom:2px solid #aab3bc;padding:4px 0}
 table.stack td{border:0;padding:2px 4px;text-align:left;white-space:normal}
 table.stack td.n,table.stack td.l{display:flex;justify-content:space-between;gap:1em}
 table.stack td.n::before,table.stack td.l::before{content:attr(data-label);color:var(--muted);text-align:left}
 table.stack td.src{min-width:0}
 table.stack td:first-child{font-weight:600}
 table:not(.stack) td:first-child{max-width:9em}
 th,td{padding:4px 6px}
}
tr.total td{font-weight:600;border-top:2px solid #aab3bc}
table:not(.stack) td:first-child{max-width:18em}
td.src{font-size:.88em;min-width:14em}
#profiles-table td:first-child{white-space:nowrap}
.unknown{color:#a03000;font-style:italic}
cite{font-style:normal;color:var(--muted)}
"""


# ----------------------------------------------------------------------------- numbers and words
def energy_unit(report: EnergyReport) -> tuple[float, str]:
    """(pJ per unit, unit name) for the whole report: the largest total lies in [1, 1000)."""
    vals = [abs(v) for t in report.totals.values() for k in ("snn_pj_known", "ann_pj_known")
            if (v := t.get(k)) is not None]
    top = max(vals, default=0.0)
    for div, unit in _UNITS:
        if top >= div:
            return div, unit
    return 1.0, "pJ"



def count(v: float | None) -> str:
    """An operation count: integers with thousands separators, fractions to 3 significant digits."""
    if v is None:
        return "unknown"
    if abs(v - round(v)) < 1e-9 * max(1.0, abs(v)):
        return f"{round(v):,}"
    return num(v)


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _name(layer: str) -> str:
    """A layer name for a table cell: may wrap after '.', '_', '/' or '-' (long dotted names)."""
    return re.sub(r"([._/-])", r"\1<wbr>", _e(layer))


def _dt(dt_s: float) -> str:
    for div, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if dt_s >= div:
            return f"{dt_s / div:g} {unit}"
    return f"{dt_s:g} s"


def _first_sentence(text: str) -> str:
    for sep in (". ", "; "):
        if sep in text:
            text = text.split(sep, 1)[0]
    return text.rstrip(".")


def _short_name(description: str) -> str:
    """A profile's description without parentheses, up to its first colon or sentence end."""
    text = re.sub(r"\s*\([^)]*\)", "", description)
    cut = min((i for i in (text.find(": "), text.find("; "), text.find(". ")) if i > 0), default=len(text))
    return text[:cut].rstrip(".")


def references(profile: dict) -> list[str]:
    """The distinct publications a profile's costs cite (author, title, venue, year), in order."""
    out, seen = [], set()
    for q in profile["costs"].values():
        src = q["source"]
        cuts = [i for i in (src.find(": "), src.find(" ("), src.find("; ")) if i > 0
                and re.search(r"(19|20)\d\d", src[:i])]
        ref = src[:min(cuts)] if cuts else src
        year = re.search(r"(19|20)\d\d", ref)
        author = re.search(r"\b[A-Z][a-z][\w-]*", ref)  # a surname, not an acronym (SRAM, ISSCC)
        if not year or not author:
            continue  # "assumed equal to …", "definition of this profile": not a publication
        key = (author.group(0), year.group(0))
        if key not in seen:
            seen.add(key)
            out.append(re.sub(r"^(derived from|as quoted in)\s+", "", ref))
    return out


def mean_firing_rate(report: EnergyReport) -> float | None:
    """Spikes per neuron per step over all spiking layers (neuron-weighted)."""
    neuron_steps = sum(n["neurons"] for n in report.neurons) * report.time_steps
    if not neuron_steps:
        return None
    return sum(n["spikes_per_inference"] for n in report.neurons) / neuron_steps


def test_accuracy(report: EnergyReport) -> tuple[float, int | None] | None:
    """(accuracy in [0, 1], epoch) of the last training epoch that recorded one, else None."""
    for i, row in reversed(list(enumerate(report.training))):
        acc = row.get("test_accuracy")
        if isinstance(acc, (int, float)) and not isinstance(acc, bool) and math.isfinite(acc):
            return float(acc), row.get("epoch", i)
    return None



# ----------------------------------------------------------------------------- HTML pieces
def _table(head: list[str], rows: list[list], numeric_from: int = 1, ident: str = "",
           caption: str = "", group_head: str = "", total_last: bool = False, numeric_to: int = 999,
           stack: bool = False) -> str:
    """An HTML table; cells are already-escaped HTML, or (HTML, attributes) to replace the default
    ``class="n"`` (right-aligned) of columns ``numeric_from`` … ``numeric_to - 1``. ``stack``: on
    narrow screens each row becomes a block of "header: value" lines instead of a wide table."""
    cls = lambda i: ' class="n"' if numeric_from <= i < numeric_to else (' class="l"' if i else "")  # noqa: E731
    th = "".join(f'<th scope="col"{cls(i)}>{h}</th>' for i, h in enumerate(head))
    body = []
    for k, r in enumerate(rows):
        tr = ' class="total"' if total_last and k == len(rows) - 1 else ""
        lab = lambda i: f' data-label="{_e(re.sub("<[^>]+>", "", head[i]))}"' if i < len(head) else ""  # noqa: E731
        cells = [f"<td {c[1]}{lab(i)}>{c[0]}</td>" if isinstance(c, tuple) else f"<td{cls(i)}{lab(i)}>{c}</td>"
                 for i, c in enumerate(r)]
        body.append(f"<tr{tr}>" + "".join(cells) + "</tr>")
    ident = (f' id="{ident}"' if ident else "") + (' class="stack"' if stack else "")
    cap = f"<caption class='note'>{caption}</caption>" if caption else ""
    return (f'<div class="tw"><table{ident}>{cap}<thead>{group_head}<tr>{th}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _energy_cell(pj: float | None, div: float, known: float = 0.0) -> str:
    """An energy in the report's unit; unknown (a cost missing) shows its known part as a bound."""
    if pj is None:
        bound = f" (≥ {num(known / div)})" if known else ""
        return f'<span class="unknown" title="a needed cost is missing from the profile">unknown{bound}</span>'
    return f'<span data-pj="{pj!r}">{num(pj / div)}</span>'


def _convention_html(report: EnergyReport) -> str:
    title, what, ref = _CONVENTIONS.get(report.convention, (report.convention, report.convention_description, ""))
    cite = f" <cite>Reference: {_e(ref)}.</cite>" if ref else ""
    return (f'<p id="convention"><b>How operations are counted — {_e(title)}</b> '
            f'(<code>{_e(report.convention)}</code>): {_e(what)}.{cite}</p>')


def _summary(report: EnergyReport, div: float, unit: str) -> list[str]:
    cards = []
    acc = test_accuracy(report)
    if acc is not None:
        cards.append(f'<div class="card" id="card-accuracy"><div class="k">Test accuracy</div>'
                     f'<div class="v" data-value="{acc[0]!r}">{acc[0] * 100:.1f} %</div>'
                     f'<div class="src">last training epoch ({_e(acc[1])}), from the run\'s metrics</div></div>')
    rate = mean_firing_rate(report)
    if rate is not None:
        cards.append(f'<div class="card" id="card-rate"><div class="k">Mean firing rate</div>'
                     f'<div class="v" data-value="{rate!r}">{num(rate)}</div>'
                     f'<div class="src">spikes per neuron per time step, all spiking layers '
                     f'({num(rate * 100)} % of neuron-steps)</div></div>')
    cards.append(f'<div class="card" id="card-setup"><div class="k">Measured on</div>'
                 f'<div class="v">{report.n_samples:,} × {report.time_steps}</div>'
                 f'<div class="src">samples × time steps of {_e(_dt(report.dt_s))}; '
                 f'{"spike" if report.input_binary else "analog"} input</div></div>')
    rows = []
    for p in report.profiles:
        name, t = p["name"], report.totals[p["name"]]
        costs = " · ".join(f'{q["value"]:g} {"mW" if k.endswith("_mw") else "pJ"} {_COST.get(k, k)} '
                           f'({q["kind"]})' for k, q in p["costs"].items() if k in ("e_ac_pj", "e_mac_pj"))
        refs = references(p)
        head = (f'<b>{_e(name)}</b> <span class="src">{_e(_short_name(p["description"]))}</span>'
                + (f'<div class="src">{_e(costs)}</div>' if costs else "")
                + (f'<div class="src">Source: {_e("; ".join(refs))}</div>' if refs else ""))
        if not p["costs"]:
            rows.append([head, ('<span class="unknown">no public per-operation costs for this profile, so '
                                'no energy estimate</span>', 'colspan="3"')])
            continue
        ratio = (f'<span data-ratio="{t["ratio"]!r}">{num(t["ratio"])}</span>' if t["ratio"] is not None
                 else '<span class="unknown">unknown</span>')
        snn, ann = (_energy_cell(t[k], div) for k in ("snn_pj", "ann_pj"))
        if t["unknown_costs"]:
            missing = ", ".join(_COST.get(c, c) for c in t["unknown_costs"])
            head += (f'<div class="src unknown">no cost {_e(missing)} in this profile; known part: SNN '
                     f'{_e(num(t["snn_pj_known"] / div))} {unit}, ANN {_e(num(t["ann_pj_known"] / div))} {unit}</div>')
        rows.append([head, snn, ann, ratio])
    table = _table(["Profile (source of its costs)", f"SNN energy per inference ({unit})",
                    f"ANN energy per inference ({unit})", "SNN / ANN"], rows, ident="summary-table", stack=True)
    return ['<section id="summary"><h2>Summary</h2>', f'<div class="cards">{"".join(cards)}</div>', table,
            f'<p class="note">Energy per inference = one sample, all {report.time_steps} time steps. The ANN '
            f'is the same network with ReLU instead of spiking neurons, run once per inference. '
            f'SNN / ANN below 1 means the SNN needs less energy under these costs.</p>',
            _convention_html(report), "</section>"]


def _energy_section(report: EnergyReport, div: float, unit: str) -> list[str]:
    names = [r["name"] for r in report.layers]
    figs, cols, tail = [], [], []
    for i, p in enumerate(report.profiles):
        name = p["name"]
        if not p["costs"]:
            figs.append(f'<figure class="nocost" id="fig-energy-{i}"><p><b>{_e(name)}</b></p>'
                        f'<p>No public per-operation costs for this profile, so no energy is estimated '
                        f'(unknown, not zero).</p><p class="note">{_e(_first_sentence(p["description"]))}.</p></figure>')
            tail.append(name)
            continue
        cols.append(name)
        series = []
        for side, color in (("snn", SNN_COLOR), ("ann", ANN_COLOR)):
            vals, low = [], []
            for r in report.layers:
                e = r["energy_pj"][name]
                known = e[side] is not None or not r[side]
                if not r[side]:
                    vals.append("—")  # e.g. a neuron layer has no ANN counterpart (ReLU is free)
                else:
                    vals.append(e[side] / div if known else (e[f"{side}_known"] / div or None))
                low.append(not known)
            series.append((side.upper(), color, vals, low))
        unknown = ", ".join(_COST.get(c, c) for c in report.totals[name]["unknown_costs"])
        if not any(isinstance(v, float) for _, _, vs, _ in series for v in vs):
            figs.append(f'<figure class="nocost" id="fig-energy-{i}"><p><b>{_e(name)}</b></p><p>No layer\'s '
                        f'energy is known under this profile: it has no cost {_e(unknown)}.</p></figure>')
            continue
        svg = hbar_svg(names, series, f"{unit} per inference", f"Energy per layer, profile {name}", f"energy-{i}")
        note = (f" “≥”: known part only and “unknown”: nothing known, as the profile has no cost {unknown}."
                if unknown else "")
        figs.append(f'<figure id="fig-energy-{i}">{svg}<figcaption><b>{_e(name)}</b>: energy per layer '
                    f'per inference, SNN vs ANN, in {unit}.{_e(note)}</figcaption></figure>')
    out = ['<section id="energy"><h2>Energy per layer</h2>', f'<div class="grid">{"".join(figs)}</div>']
    if cols:
        group = ('<tr><th colspan="2"></th>' + "".join(f'<th colspan="2" class="n" scope="colgroup">{_e(c)}</th>'
                                                      for c in cols) + "</tr>")
        head = ["Layer", "Kind", *[f"{s} ({unit})" for _ in cols for s in ("SNN", "ANN")]]
        rows = []
        for r in report.layers:
            row = [_name(r["name"]), _e(r["kind"])]
            for c in cols:
                e = r["energy_pj"][c]
                row += [_energy_cell(e["snn"], div, e["snn_known"]),
                        _energy_cell(e["ann"], div, e["ann_known"]) if r["ann"] else "—"]
            rows.append(row)
        tot = ["Total per inference", ""]
        for c in cols:
            t = report.totals[c]
            tot += [_energy_cell(t["snn_pj"], div, t["snn_pj_known"]), _energy_cell(t["ann_pj"], div, t["ann_pj_known"])]
        rows.append(tot)
        out += ["<h3>Energy per layer and inference</h3>",
                _table(head, rows, numeric_from=2, ident="energy-table", group_head=group, total_last=True)]
        if tail:
            out.append(f'<p class="note">Not in this table (no costs): {_e(", ".join(tail))}.</p>')
    cats = [c for c in _CATEGORY if any(r["snn"].get(c) for r in report.layers)]
    cats += sorted(c for r in report.layers for c in r["snn"] if c not in _CATEGORY and c not in cats)
    ann_cats = [c for c in _CATEGORY if any(r["ann"].get(c) for r in report.layers)]
    head = ["Layer", "Kind", *[f"SNN {_CATEGORY.get(c, c)}" for c in cats],
            *[f"ANN {_CATEGORY.get(c, c)}" for c in ann_cats]]
    rows = [[_name(r["name"]), _e(r["kind"]), *[count(r["snn"].get(c, 0.0)) for c in cats],
             *[count(r["ann"].get(c, 0.0)) for c in ann_cats]] for r in report.layers]
    rows.append(["Total per inference", "", *[count(report.op_totals["snn"].get(c, 0.0)) for c in cats],
                 *[count(report.op_totals["ann"].get(c, 0.0)) for c in ann_cats]])
    out += ["<h3>Operations per layer and inference</h3>",
            _table(head, rows, numeric_from=2, ident="ops-table", total_last=True), "</section>"]
    return out


def _firing_section(report: EnergyReport) -> list[str]:
    if not report.neurons:
        return ['<section id="firing"><h2>Firing</h2><p>No spiking layer.</p></section>']
    names = [n["name"] for n in report.neurons]
    bars = hbar_svg(names, [("firing rate", SNN_COLOR, [n["firing_rate"] for n in report.neurons])],
                    "spikes per neuron per time step", "Mean firing rate per spiking layer", "rate-layer")
    lines = lines_svg([(short(n["name"], 18), n["rate_per_step"]) for n in report.neurons], "time step",
                      "spikes per neuron", "Firing rate per time step", "rate-step")
    partial = any(n["raster_neurons"] < n["neurons"] for n in report.neurons)
    raster_alt = ("Spike raster of the first test sample: one mark per spike, time step on the x axis, "
                  "neuron index on the y axis, one panel per spiking layer")
    hist_alt = "Histogram of per-neuron firing rates, one outline per spiking layer"
    figs = [f'<figure id="fig-rate-layer">{bars}<figcaption>Mean firing rate per spiking layer.</figcaption></figure>',
            f'<figure id="fig-rate-step">{lines}<figcaption>Firing rate per time step, averaged over '
            f'samples and neurons.</figcaption></figure>',
            f'<figure id="fig-raster">{png(raster_fig(report), raster_alt)}<figcaption>Spikes of the first '
            f'sample{" (first neurons of each layer only)" if partial else ""}.</figcaption></figure>',
            f'<figure id="fig-hist">{png(hist_fig(report), hist_alt)}<figcaption>How the neurons\' firing '
            f'rates are distributed (silent neurons in the leftmost bin).</figcaption></figure>']
    head = ["Layer", "Kind", "Neurons", "Firing rate (spikes / neuron / step)", "Activation sparsity",
            "Silent neurons (never fire)", "Saturated neurons (fire every step)", "Spikes per inference"]
    rows = [[_name(n["name"]), _e(n["kind"]), f'{n["neurons"]:,}', num(n["firing_rate"]),
             num(n["activation_sparsity"]), f'{n["dead"]:,}', f'{n["saturated"]:,}',
             num(n["spikes_per_inference"])] for n in report.neurons]
    return ['<section id="firing"><h2>Firing</h2>', f'<div class="grid">{"".join(figs)}</div>',
            "<h3>Spiking layers</h3>", _table(head, rows, numeric_from=2, ident="neurons-table", stack=True), "</section>"]


def _details(report: EnergyReport) -> list[str]:
    out = []
    figs = training_figs(report.training) if report.training else []
    if figs:
        out += ['<section id="training"><h2>Training</h2><div class="grid">',
                *[f'<figure id="fig-training-{i}">{png(fig, alt)}<figcaption>{_e(cap)}</figcaption></figure>'
                  for i, (fig, alt, cap) in enumerate(figs)], "</div></section>"]
    if report.convention_metrics:
        rows = [[_e(k.replace("_", " ")), _e(f"{v:.10g}") if isinstance(v, float) else _e(v)]
                for k, v in report.convention_metrics.items()]
        out += ['<section id="metrics"><h2>Convention metrics (per inference)</h2>',
                _table(["Metric", "Value"], rows, ident="metrics-table", stack=True), "</section>"]
    rows = []
    for p in report.profiles:
        if not p["costs"]:
            rows.append([f"<b>{_e(p['name'])}</b>", ('<span class="unknown">no public per-operation '
                                                      'costs</span>', 'colspan="4"')])
        for k, q in p["costs"].items():
            unit = "mW" if k.endswith("_mw") else "pJ"
            rows.append([f"<b>{_e(p['name'])}</b>", _e(f"{unit} {_COST.get(k, k)}"), _e(f"{q['value']:g}"),
                         _e(q["kind"]), (_e(q["source"]), 'class="src"')])
    out += ['<section id="profiles"><h2>Profiles and the sources of their costs</h2>',
            _table(["Profile", "Cost", "Value", "Kind", "Source"], rows, numeric_from=2, numeric_to=3,
                   ident="profiles-table", stack=True),
            "<ul>" + "".join(f"<li><b>{_e(p['name'])}</b>: {_e(p['description'])}</li>"
                             for p in report.profiles) + "</ul></section>",
            '<section id="assumptions"><h2>Assumptions</h2><ul>'
            + "".join(f"<li>{_e(a)}</li>" for a in report.assumptions) + "</ul></section>"]
    return out


def to_html(report: EnergyReport) -> str:
    """One self-contained HTML page of the report (no script, no external resource)."""
    div, unit = energy_unit(report)
    source = report.meta.get("source")
    title = "Energy report" + (f" — {source}" if source else "")
    conv = _CONVENTIONS.get(report.convention, (report.convention,))[0]
    parts = [f"<header><h1>{_e(title)}</h1><p class='sub'>{report.n_samples:,} test sample{'s' if report.n_samples != 1 else ''}, "
             f"{report.time_steps} time steps of {_e(_dt(report.dt_s))}; {_e(conv)}; energies in "
             f"<b id='unit'>{unit}</b> per inference.</p></header>",
             *_summary(report, div, unit), *_energy_section(report, div, unit), *_firing_section(report),
             *_details(report),
             f"<footer class='note'><p>neurodeploy energy report, format version {report.format_version}. "
             f"Static power × latency is not included. The same numbers are in the JSON report.</p></footer>"]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
            + "\n".join(parts) + "</main></body></html>\n")
