"""Charts of the HTML energy report: inline SVG bar and line charts (labels laid out so they
never overlap: tick counts fitted to the width, value labels in a reserved margin, long layer names
shortened with the full name as a tooltip) and the matplotlib figures embedded as PNG.

Numbers are shown with :func:`num` (three significant digits, no exponent above 0.001).
"""

from __future__ import annotations

import base64
import html
import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from neurodeploy.energy.report import EnergyReport  # noqa: E402

PALETTE = ("#1f77b4", "#e07b00", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def num(v: float) -> str:
    """Three significant digits, no exponent above 0.001 (1234 → '1,234', 0.01234 → '0.0123')."""
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return "not a number" if math.isnan(v) else ("∞" if v > 0 else "−∞")
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



def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


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


def short(label: str, limit: int = 22) -> str:
    """``label`` cut to ``limit`` characters with an ellipsis in the middle (layer names differ
    at their start and their end: ``encoder.bl…population_3``)."""
    if len(label) <= limit:
        return label
    head = (limit - 1) // 2
    return label[:head] + "…" + label[len(label) - (limit - 1 - head):]


def hbar_svg(labels: list[str], series: list[tuple], axis_title: str, title: str, ident: str, fmt=num) -> str:
    """Horizontal grouped bars: one group per label, one bar per series ``(name, color, values)``
    or ``(name, color, values, lower_bound)``. A value ``None`` is written "unknown", a string as
    itself (no bar); a value flagged in ``lower_bound`` is a known part only: a pale bar labelled
    "≥ value"."""
    width = 400.0
    series = [(s[0], s[1], s[2], s[3] if len(s) > 3 else [False] * len(s[2])) for s in series]
    def label(v, low) -> str:
        return "unknown" if v is None else v if isinstance(v, str) else ("≥ " if low else "") + fmt(v)

    shown = [short(s) for s in labels]
    label_w = min(160.0, 10 + max((_text_w(s) for s in shown), default=20))
    vals = [v for _, _, vs, _ in series for v in vs if isinstance(v, (int, float))]
    texts = [label(v, low) for _, _, vs, lows in series for v, low in zip(vs, lows)]
    value_w = 8 + max((_text_w(t, 11) for t in texts), default=30)
    plot_w = width - label_w - value_w
    ticks = _ticks(max(vals, default=0.0), plot_w, lambda v: _text_w(fmt(v), 11))
    scale = plot_w / ticks[-1]
    legend, lh = _legend([(n, c) for n, c, _, _ in series], width, 2) if len(series) > 1 else ("", 0)
    top = lh + 8
    k = len(series)
    bar_h, inner, gap = 13.0, 2.0, 12.0
    group_h = k * bar_h + (k - 1) * inner
    axis_y = top + len(labels) * (group_h + gap)
    height = axis_y + 40
    desc = "; ".join(f"{lab}: " + ", ".join(f"{n} {label(vs[i], lows[i])}" for n, _, vs, lows in series)
                     for i, lab in enumerate(labels))
    out = [_svg_open(width, height, title, f"{axis_title}. {desc}", ident), legend]
    for t in ticks:
        x = label_w + t * scale
        out.append(f'<line x1="{x:.1f}" y1="{top - 4:.1f}" x2="{x:.1f}" y2="{axis_y:.1f}" stroke="#e3e7eb"/>'
                   f'<text x="{x:.1f}" y="{axis_y + 14:.1f}" text-anchor="middle" font-size="11" '
                   f'fill="#444">{_e(fmt(t))}</text>')
    out.append(f'<line x1="{label_w:.1f}" y1="{top - 4:.1f}" x2="{label_w:.1f}" y2="{axis_y:.1f}" stroke="#666"/>')
    for i, (lab, cut) in enumerate(zip(labels, shown)):
        y = top + i * (group_h + gap)
        out.append(f'<text x="{label_w - 6:.1f}" y="{y + group_h / 2 + 4:.1f}" text-anchor="end">'
                   f'<title>{_e(lab)}</title>{_e(cut)}</text>')
        for j, (name, color, vs, lows) in enumerate(series):
            v, low, by = vs[i], lows[i], y + j * (bar_h + inner)
            if isinstance(v, str):  # e.g. "—": no such layer on this side
                out.append(f'<text x="{label_w + 4:.1f}" y="{by + 10:.1f}" font-size="11" fill="#666">{_e(v)}</text>')
                continue
            if v is None or (low and not v):
                out.append(f'<text x="{label_w + 4:.1f}" y="{by + 10:.1f}" font-size="11" fill="#a03000" '
                           f'font-style="italic">unknown</text>')
                continue
            w = max(v * scale, 0.0)
            pale = ' fill-opacity="0.4" stroke-dasharray="3 2"' if low else ""
            out.append(f'<rect x="{label_w:.1f}" y="{by:.1f}" width="{w:.2f}" height="{bar_h}" fill="{color}" '
                       f'stroke="{color}"{pale}><title>{_e(f"{lab}, {name}: {label(v, low)}")}</title></rect>'
                       f'<text x="{label_w + w + 4:.1f}" y="{by + 10:.1f}" font-size="11">{_e(label(v, low))}</text>')
    out.append(f'<text x="{label_w + plot_w / 2:.1f}" y="{axis_y + 32:.1f}" text-anchor="middle" '
               f'fill="#333">{_e(axis_title)}</text></svg>')
    return "".join(out)


def lines_svg(series: list[tuple[str, list[float]]], x_title: str, y_title: str, title: str, ident: str) -> str:
    """Line chart of ``series`` over their index (time step), y from 0."""
    width, left, right = 400.0, 52.0, 14.0
    legend, lh = _legend([(n, PALETTE[i % len(PALETTE)]) for i, (n, _) in enumerate(series)], width, 2)
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
        color = PALETTE[i % len(PALETTE)]
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
def png(fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def raster_fig(report: EnergyReport):
    k = max(len(report.neurons), 1)
    fig, axes = plt.subplots(k, 1, figsize=(4.8, 0.8 + 1.3 * k), squeeze=False, sharex=True)
    for i, (ax, n) in enumerate(zip(axes[:, 0], report.neurons)):
        ts = [t for t, idx in enumerate(n["raster_sample0"]) for _ in idx]
        ids = [j for idx in n["raster_sample0"] for j in idx]
        size = max(4.0, min(60.0, 2000.0 / max(n["raster_neurons"], 1)))  # marks visible, never a blob
        ax.scatter(ts, ids, s=size, marker="|", color=PALETTE[i % len(PALETTE)], linewidths=1.2)
        ax.set_ylim(-0.5, n["raster_neurons"] - 0.5)
        if n["raster_neurons"] <= 4:
            ax.set_yticks(range(n["raster_neurons"]))
        else:
            ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(-0.5, report.time_steps - 0.5)
        ax.set_ylabel(f"{short(n['name'], 14)}\nneuron", fontsize=11)
        ax.tick_params(labelsize=10)
    axes[-1, 0].set_xlabel("time step", fontsize=11)
    fig.tight_layout()
    return fig


def hist_fig(report: EnergyReport):
    fig, ax = plt.subplots(figsize=(4.8, 2.9))
    for i, n in enumerate(report.neurons):
        ax.hist(n["rate_per_neuron"], bins=20, range=(0, 1), histtype="step", linewidth=1.6,
                color=PALETTE[i % len(PALETTE)], label=short(n["name"], 14))
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


def training_figs(rows: tuple[dict, ...]) -> list[tuple[object, str, str]]:
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
                    marker=".", label=k.replace("_", " "), color=PALETTE[i % len(PALETTE)])
        ax.set_xlabel("epoch", fontsize=11)
        ax.set_ylabel(ylabel, fontsize=11)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=10)
        ax.legend(fontsize=10, frameon=False)
        fig.tight_layout()
        out.append((fig, f"Training curves: {', '.join(k.replace('_', ' ') for k in mine)} per epoch",
                    f"{what.capitalize()} per epoch, from the run's metrics."))
    return out
