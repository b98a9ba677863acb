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
total lies in [1, 1000); a table header or axis title always names it.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from neurodeploy.energy.report import EnergyReport  # noqa: E402

SNN_COLOR, ANN_COLOR = "#1f77b4", "#e07b00"
_PALETTE = ("#1f77b4", "#e07b00", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
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
#: jargon in convention/profile texts → plain words with the reference
_PLAIN = (("seed 004 (ASGL, appendix B.2)", _ASGL), ("seed 004 (ASGL B.2)", _ASGL),
          ("seed 004, eq. 30", "ASGL, eq. 30"))
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
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:18px;margin:1em 0;
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
}
tr.total td{font-weight:600;border-top:2px solid #aab3bc}
td.src{font-size:.88em;min-width:14em}
#profiles-table td:first-child{white-space:nowrap}
.unknown{color:#a03000;font-style:italic}
cite{font-style:normal;color:var(--muted)}
"""


# ----------------------------------------------------------------------------- numbers and words
def _plain(text: str) -> str:
    for old, new in _PLAIN:
        text = text.replace(old, new)
    return text


def energy_unit(report: EnergyReport) -> tuple[float, str]:
    """(pJ per unit, unit name) for the whole report: the largest total lies in [1, 1000)."""
    vals = [abs(v) for t in report.totals.values() for k in ("snn_pj_known", "ann_pj_known")
            if (v := t.get(k)) is not None]
    top = max(vals, default=0.0)
    for div, unit in _UNITS:
        if top >= div:
            return div, unit
    return 1.0, "pJ"


_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def num(v: float) -> str:
    """Three significant digits, no exponent above 0.001 (1234 → '1,234', 0.01234 → '0.0123')."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 0.001:
        digits = max(0, 2 - math.floor(math.log10(a)))
        s = f"{v:.{digits}f}"
        return s.rstrip("0").rstrip(".") if "." in s else s
    e = math.floor(math.log10(a))
    m = v / 10 ** e
    return f"{m:.2g}×10{str(e).translate(_SUP)}"


def count(v: float | None) -> str:
    """An operation count: integers with thousands separators, fractions to 3 significant digits."""
    if v is None:
        return "unknown"
    if abs(v - round(v)) < 1e-9 * max(1.0, abs(v)):
        return f"{round(v):,}"
    return num(v)


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _dt(dt_s: float) -> str:
    for div, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if dt_s >= div:
            return f"{dt_s / div:g} {unit}"
    return f"{dt_s:g} s"


def _first_sentence(text: str) -> str:
    text = _plain(text)
    for sep in (". ", "; "):
        if sep in text:
            text = text.split(sep, 1)[0]
    return text.rstrip(".")


def _short_name(description: str) -> str:
    """A profile's description up to its first parenthesis, colon or sentence end."""
    text = _plain(description)
    cut = min((i for i in (text.find(" ("), text.find(": "), text.find("; "), text.find(". ")) if i > 0),
              default=len(text))
    return text[:cut].rstrip(".")


def references(profile: dict) -> list[str]:
    """The distinct publications a profile's costs cite (author, title, venue, year), in order."""
    out, seen = [], set()
    for q in profile["costs"].values():
        src = _plain(q["source"])
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


# ----------------------------------------------------------------------------- inline SVG charts
def _text_w(s: str, size: float = 12.0) -> float:
    """Rough width of ``s`` in px at ``size`` (sans-serif average advance ≈ 0.56 em)."""
    return len(s) * size * 0.56


def _ticks(vmax: float, width_px: float, label_w=lambda v: 40.0, integer: bool = False) -> list[float]:
    """Round tick values 0 … ≥ vmax, at most as many as fit in ``width_px`` without touching."""
    if vmax <= 0 or not math.isfinite(vmax):
        return [0.0, 1.0]
    for n in (5, 4, 3, 2, 1):
        raw = vmax / n
        mag = 10 ** math.floor(math.log10(raw))
        step = next(s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw * (1 - 1e-12))
        step = max(1.0, math.ceil(step)) if integer else step
        ticks = [round(i * step, 12) for i in range(int(math.ceil(vmax / step - 1e-9)) + 1)]
        if len(ticks) < 2:
            ticks = [0.0, step]
        space = width_px / (len(ticks) - 1)
        if max(label_w(t) for t in ticks) + 8 <= space:
            return ticks
    return [0.0, ticks[-1]]


def _svg_open(w: float, h: float, title: str, desc: str, ident: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}" width="{w:.0f}" '
            f'height="{h:.0f}" role="img" aria-labelledby="{ident}-t {ident}-d" '
            f'font-family="system-ui,-apple-system,Segoe UI,Roboto,DejaVu Sans,Arial,sans-serif" font-size="12">'
            f'<title id="{ident}-t">{_e(title)}</title><desc id="{ident}-d">{_e(desc)}</desc>')


def _legend(items: list[tuple[str, str]], width: float, y0: float) -> tuple[str, float]:
    """Legend entries laid out left to right, wrapping; returns (svg, height used)."""
    out, x, y = [], 0.0, y0
    for label, color in items:
        w = 16 + _text_w(label) + 14
        if x and x + w > width:
            x, y = 0.0, y + 18
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="11" height="11" fill="{color}"/>'
                   f'<text x="{x + 15:.1f}" y="{y + 10:.1f}">{_e(label)}</text>')
        x += w
    return "".join(out), y - y0 + 18


def _short(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


def hbar_svg(labels: list[str], series: list[tuple[str, str, list[float | None]]], axis_title: str,
             title: str, ident: str, fmt=num) -> str:
    """Horizontal grouped bars: one group per label, one bar per series (``None`` = unknown)."""
    width = 400.0
    shown = [_short(s) for s in labels]
    label_w = min(160.0, 10 + max((_text_w(s) for s in shown), default=20))
    vals = [v for _, _, vs in series for v in vs if v is not None]
    texts = [fmt(v) if v is not None else "unknown" for _, _, vs in series for v in vs]
    value_w = 8 + max((_text_w(t, 11) for t in texts), default=30)
    plot_w = width - label_w - value_w
    ticks = _ticks(max(vals, default=0.0), plot_w, lambda v: _text_w(fmt(v), 11))
    scale = plot_w / ticks[-1]
    legend, lh = _legend([(n, c) for n, c, _ in series], width, 2) if len(series) > 1 else ("", 0)
    top = lh + 8
    k = len(series)
    bar_h, inner, gap = 13.0, 2.0, 12.0
    group_h = k * bar_h + (k - 1) * inner
    axis_y = top + len(labels) * (group_h + gap)
    height = axis_y + 40
    desc = "; ".join(f"{lab}: " + ", ".join(f"{n} {fmt(vs[i]) if vs[i] is not None else 'unknown'}"
                                             for n, _, vs in series) for i, lab in enumerate(labels))
    out = [_svg_open(width, height, title, f"{axis_title}. {desc}", ident), legend]
    for t in ticks:
        x = label_w + t * scale
        out.append(f'<line x1="{x:.1f}" y1="{top - 4:.1f}" x2="{x:.1f}" y2="{axis_y:.1f}" stroke="#e3e7eb"/>'
                   f'<text x="{x:.1f}" y="{axis_y + 14:.1f}" text-anchor="middle" font-size="11" '
                   f'fill="#444">{_e(fmt(t))}</text>')
    out.append(f'<line x1="{label_w:.1f}" y1="{top - 4:.1f}" x2="{label_w:.1f}" y2="{axis_y:.1f}" stroke="#666"/>')
    for i, (lab, short) in enumerate(zip(labels, shown)):
        y = top + i * (group_h + gap)
        out.append(f'<text x="{label_w - 6:.1f}" y="{y + group_h / 2 + 4:.1f}" text-anchor="end">'
                   f'<title>{_e(lab)}</title>{_e(short)}</text>')
        for j, (name, color, vs) in enumerate(series):
            v, by = vs[i], y + j * (bar_h + inner)
            if v is None:
                out.append(f'<text x="{label_w + 4:.1f}" y="{by + 10:.1f}" font-size="11" fill="#a03000" '
                           f'font-style="italic">unknown</text>')
                continue
            w = max(v * scale, 0.0)
            out.append(f'<rect x="{label_w:.1f}" y="{by:.1f}" width="{w:.2f}" height="{bar_h}" fill="{color}">'
                       f'<title>{_e(f"{lab}, {name}: {fmt(v)}")}</title></rect>'
                       f'<text x="{label_w + w + 4:.1f}" y="{by + 10:.1f}" font-size="11">{_e(fmt(v))}</text>')
    out.append(f'<text x="{label_w + plot_w / 2:.1f}" y="{axis_y + 32:.1f}" text-anchor="middle" '
               f'fill="#333">{_e(axis_title)}</text></svg>')
    return "".join(out)


def lines_svg(series: list[tuple[str, list[float]]], x_title: str, y_title: str, title: str, ident: str) -> str:
    """Line chart of ``series`` over their index (time step), y from 0."""
    width, left, right = 400.0, 52.0, 14.0
    legend, lh = _legend([(n, _PALETTE[i % len(_PALETTE)]) for i, (n, _) in enumerate(series)], width, 2)
    top, plot_h = lh + 10, 170.0
    axis_y = top + plot_h
    height = axis_y + 42
    plot_w = width - left - right
    n = max((len(v) for _, v in series), default=1)
    ymax = max((x for _, v in series for x in v), default=0.0)
    yt = _ticks(ymax, plot_h, lambda v: 16.0)
    xt = [float(t) for t in _ticks(max(n - 1, 1), plot_w, lambda v: _text_w(f"{v:g}", 11), integer=True)
          if t <= max(n - 1, 1)]
    xs = plot_w / max(n - 1, 1)
    ys = plot_h / yt[-1]
    desc = "; ".join(f"{name}: " + ", ".join(num(x) for x in v[:50]) + (" …" if len(v) > 50 else "")
                     for name, v in series)
    out = [_svg_open(width, height, title, f"{y_title} per {x_title}. {desc}", ident), legend]
    for t in yt:
        y = axis_y - t * ys
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e7eb"/>'
                   f'<text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#444">{_e(num(t))}</text>')
    for t in xt:
        x = left + t * xs
        out.append(f'<text x="{x:.1f}" y="{axis_y + 14:.1f}" text-anchor="middle" font-size="11" '
                   f'fill="#444">{t:g}</text>')
    out.append(f'<line x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}" stroke="#666"/>')
    for i, (name, v) in enumerate(series):
        pts = " ".join(f"{left + k * xs:.1f},{axis_y - y * ys:.1f}" for k, y in enumerate(v))
        color = _PALETTE[i % len(_PALETTE)]
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{pts}">'
                   f'<title>{_e(name)}</title></polyline>')
        if len(v) <= 40:
            out += [f'<circle cx="{left + k * xs:.1f}" cy="{axis_y - y * ys:.1f}" r="2.2" fill="{color}"/>'
                    for k, y in enumerate(v)]
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{axis_y + 32:.1f}" text-anchor="middle" fill="#333">'
               f'{_e(x_title)}</text>'
               f'<text transform="translate(12 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
               f'font-size="11" fill="#333">{_e(y_title)}</text></svg>')
    return "".join(out)


# ----------------------------------------------------------------------------- matplotlib figures
def _png(fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _raster_fig(report: EnergyReport):
    k = max(len(report.neurons), 1)
    fig, axes = plt.subplots(k, 1, figsize=(4.8, 0.8 + 1.3 * k), squeeze=False, sharex=True)
    for i, (ax, n) in enumerate(zip(axes[:, 0], report.neurons)):
        ts = [t for t, idx in enumerate(n["raster_sample0"]) for _ in idx]
        ids = [j for idx in n["raster_sample0"] for j in idx]
        size = max(4.0, min(60.0, 2000.0 / max(n["raster_neurons"], 1)))  # marks visible, never a blob
        ax.scatter(ts, ids, s=size, marker="|", color=_PALETTE[i % len(_PALETTE)], linewidths=1.2)
        ax.set_ylim(-0.5, n["raster_neurons"] - 0.5)
        if n["raster_neurons"] <= 4:
            ax.set_yticks(range(n["raster_neurons"]))
        else:
            ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(-0.5, report.time_steps - 0.5)
        ax.set_ylabel(f"{_short(n['name'], 14)}\nneuron", fontsize=11)
        ax.tick_params(labelsize=10)
    axes[-1, 0].set_xlabel("time step", fontsize=11)
    fig.tight_layout()
    return fig


def _hist_fig(report: EnergyReport):
    fig, ax = plt.subplots(figsize=(4.8, 2.9))
    for i, n in enumerate(report.neurons):
        ax.hist(n["rate_per_neuron"], bins=20, range=(0, 1), histtype="step", linewidth=1.6,
                color=_PALETTE[i % len(_PALETTE)], label=_short(n["name"], 14))
    ax.set_xlabel("firing rate of a neuron (spikes per time step)", fontsize=11)
    ax.set_ylabel("neurons", fontsize=11)
    if max((n["neurons"] for n in report.neurons), default=0) > 200:
        ax.set_yscale("log")  # a few active neurons next to hundreds of silent ones
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=10)
    ax.legend(fontsize=10, frameon=False)
    fig.tight_layout()
    return fig


def _training_figs(rows: tuple[dict, ...]) -> list[tuple[object, str, str]]:
    """(figure, alt text, caption) for the losses and for the accuracies (in %) per epoch."""
    keys = sorted({k for r in rows for k, v in r.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("epoch", "seconds")})
    epochs = [r.get("epoch", i) for i, r in enumerate(rows)]
    out = []
    for what, ylabel, pick, scale in (("loss", "loss", lambda k: "loss" in k, 1.0),
                                      ("accuracy", "accuracy (%)", lambda k: "accuracy" in k, 100.0)):
        mine = [k for k in keys if pick(k)]
        if not mine:
            continue
        fig, ax = plt.subplots(figsize=(4.8, 2.9))
        for i, k in enumerate(mine):
            ax.plot(epochs, [r[k] * scale if isinstance(r.get(k), (int, float)) else float("nan") for r in rows],
                    marker=".", label=k.replace("_", " "), color=_PALETTE[i % len(_PALETTE)])
        ax.set_xlabel("epoch", fontsize=11)
        ax.set_ylabel(ylabel, fontsize=11)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=10)
        ax.legend(fontsize=10, frameon=False)
        fig.tight_layout()
        out.append((fig, f"Training curves: {', '.join(k.replace('_', ' ') for k in mine)} per epoch",
                    f"{what.capitalize()} per epoch, from the run's metrics."))
    return out


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


def _energy_cell(pj: float | None, div: float, attrs: str = "") -> str:
    if pj is None:
        return f'<span class="unknown"{attrs}>unknown</span>'
    return f'<span{attrs} data-pj="{pj!r}">{num(pj / div)}</span>'


def _convention_html(report: EnergyReport) -> str:
    title, what, ref = _CONVENTIONS.get(report.convention, (report.convention, _plain(report.convention_description), ""))
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
        snn = [r["energy_pj"][name]["snn"] for r in report.layers]
        ann = [r["energy_pj"][name]["ann"] if r["ann"] else 0.0 for r in report.layers]
        to_u = lambda vs: [None if v is None else v / div for v in vs]  # noqa: E731
        svg = hbar_svg(names, [("SNN", SNN_COLOR, to_u(snn)), ("ANN", ANN_COLOR, to_u(ann))],
                       f"{unit} per inference", f"Energy per layer, profile {name}", f"energy-{i}")
        unknown = report.totals[name]["unknown_costs"]
        note = (f" “unknown”: the profile has no cost {', '.join(_COST.get(c, c) for c in unknown)}."
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
            row = [_e(r["name"]), _e(r["kind"])]
            for c in cols:
                e = r["energy_pj"][c]
                row += [_energy_cell(e["snn"], div), _energy_cell(e["ann"], div) if r["ann"] else "—"]
            rows.append(row)
        tot = ["Total per inference", ""]
        for c in cols:
            t = report.totals[c]
            tot += [_energy_cell(t["snn_pj"], div), _energy_cell(t["ann_pj"], div)]
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
    rows = [[_e(r["name"]), _e(r["kind"]), *[count(r["snn"].get(c, 0.0)) for c in cats],
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
    lines = lines_svg([(_short(n["name"], 18), n["rate_per_step"]) for n in report.neurons], "time step",
                      "spikes per neuron", "Firing rate per time step", "rate-step")
    partial = any(n["raster_neurons"] < n["neurons"] for n in report.neurons)
    raster_alt = ("Spike raster of the first test sample: one mark per spike, time step on the x axis, "
                  "neuron index on the y axis, one panel per spiking layer")
    hist_alt = "Histogram of per-neuron firing rates, one outline per spiking layer"
    figs = [f'<figure id="fig-rate-layer">{bars}<figcaption>Mean firing rate per spiking layer.</figcaption></figure>',
            f'<figure id="fig-rate-step">{lines}<figcaption>Firing rate per time step, averaged over '
            f'samples and neurons.</figcaption></figure>',
            f'<figure id="fig-raster">{_png(_raster_fig(report), raster_alt)}<figcaption>Spikes of the first '
            f'sample{" (first neurons of each layer only)" if partial else ""}.</figcaption></figure>',
            f'<figure id="fig-hist">{_png(_hist_fig(report), hist_alt)}<figcaption>How the neurons\' firing '
            f'rates are distributed (silent neurons in the leftmost bin).</figcaption></figure>']
    head = ["Layer", "Kind", "Neurons", "Firing rate (spikes / neuron / step)", "Activation sparsity",
            "Silent neurons (never fire)", "Saturated neurons (fire every step)", "Spikes per inference"]
    rows = [[_e(n["name"]), _e(n["kind"]), f'{n["neurons"]:,}', num(n["firing_rate"]),
             num(n["activation_sparsity"]), f'{n["dead"]:,}', f'{n["saturated"]:,}',
             num(n["spikes_per_inference"])] for n in report.neurons]
    return ['<section id="firing"><h2>Firing</h2>', f'<div class="grid">{"".join(figs)}</div>',
            "<h3>Spiking layers</h3>", _table(head, rows, numeric_from=2, ident="neurons-table", stack=True), "</section>"]


def _details(report: EnergyReport) -> list[str]:
    out = []
    figs = _training_figs(report.training) if report.training else []
    if figs:
        out += ['<section id="training"><h2>Training</h2><div class="grid">',
                *[f'<figure id="fig-training-{i}">{_png(fig, alt)}<figcaption>{_e(cap)}</figcaption></figure>'
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
                         _e(q["kind"]), (_e(_plain(q["source"])), 'class="src"')])
    out += ['<section id="profiles"><h2>Profiles and the sources of their costs</h2>',
            _table(["Profile", "Cost", "Value", "Kind", "Source"], rows, numeric_from=2, numeric_to=3,
                   ident="profiles-table", stack=True),
            "<ul>" + "".join(f"<li><b>{_e(p['name'])}</b>: {_e(_plain(p['description']))}</li>"
                             for p in report.profiles) + "</ul></section>",
            '<section id="assumptions"><h2>Assumptions</h2><ul>'
            + "".join(f"<li>{_e(_plain(a))}</li>" for a in report.assumptions) + "</ul></section>"]
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
