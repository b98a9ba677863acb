"""Self-contained HTML report: tables plus matplotlib figures embedded as base64 PNG.

Figures: energy per layer (SNN vs ANN, one panel per profile, side by side), firing rate per
layer, spike raster of sample 0, histogram of per-neuron firing rates, training curves (when the
report carries a training history). No external resource is referenced.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from neurodeploy.energy.render import _ratio_lines, _rows, to_markdown  # noqa: E402
from neurodeploy.energy.report import EnergyReport  # noqa: E402

_CSS = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #bbb;padding:3px 6px}"
        "td:nth-child(n+3){text-align:right}img{max-width:100%;display:block;margin:1em 0}"
        "pre{white-space:pre-wrap}")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _energy_fig(report: EnergyReport):
    profiles = [p["name"] for p in report.profiles]
    fig, axes = plt.subplots(1, len(profiles), figsize=(6 * len(profiles), 3.6), squeeze=False)
    names = [r["name"] for r in report.layers]
    x = range(len(names))
    for ax, p in zip(axes[0], profiles):
        snn = [r["energy_pj"][p]["snn_known"] for r in report.layers]
        ann = [r["energy_pj"][p]["ann_known"] for r in report.layers]
        ax.bar([i - 0.2 for i in x], snn, 0.4, label="SNN")
        ax.bar([i + 0.2 for i in x], ann, 0.4, label="ANN")
        ax.set_xticks(list(x), names, rotation=30, ha="right")
        ax.set_ylabel("pJ per inference")
        ax.set_yscale("symlog")
        incomplete = report.totals[p]["unknown_costs"]
        ax.set_title(p + (f"\n(known part; unknown: {', '.join(incomplete)})" if incomplete else ""),
                     fontsize=8, wrap=True)
        ax.legend()
    return fig


def _rate_fig(report: EnergyReport):
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.4))
    names = [n["name"] for n in report.neurons]
    a1.bar(names, [n["firing_rate"] for n in report.neurons])
    a1.set_ylabel("spikes / neuron / step")
    a1.set_title("firing rate per layer")
    for n in report.neurons:
        a2.plot(range(len(n["rate_per_step"])), n["rate_per_step"], marker=".", label=n["name"])
    a2.set_xlabel("time step")
    a2.set_title("firing rate per step")
    a2.legend()
    return fig


def _raster_fig(report: EnergyReport):
    k = max(len(report.neurons), 1)
    fig, axes = plt.subplots(k, 1, figsize=(9, 1.6 + 1.4 * k), squeeze=False, sharex=True)
    for ax, n in zip(axes[:, 0], report.neurons):
        ts = [t for t, idx in enumerate(n["raster_sample0"]) for _ in idx]
        ids = [i for idx in n["raster_sample0"] for i in idx]
        ax.scatter(ts, ids, s=4, marker="|")
        ax.set_ylim(-1, n["raster_neurons"])
        ax.set_ylabel(f"{n['name']}\nneuron", fontsize=8)
    axes[-1, 0].set_xlabel("time step")
    axes[0, 0].set_title("spike raster, sample 0" + (" (first neurons only)" if any(
        n["raster_neurons"] < n["neurons"] for n in report.neurons) else ""))
    return fig


def _hist_fig(report: EnergyReport):
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for n in report.neurons:
        ax.hist(n["rate_per_neuron"], bins=40, range=(0, 1), alpha=0.6, label=n["name"])
    ax.set_xlabel("firing rate (spikes / step)")
    ax.set_ylabel("neurons")
    ax.set_yscale("log")
    ax.set_title("per-neuron firing rate")
    ax.legend()
    return fig


def _training_fig(rows: tuple[dict, ...]):
    keys = sorted({k for r in rows for k, v in r.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("epoch", "seconds")})
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
    epochs = [r.get("epoch", i) for i, r in enumerate(rows)]
    for k in keys:
        ax = axes[0] if "loss" in k else axes[1]
        ax.plot(epochs, [r.get(k) for r in rows], marker=".", label=k)
    for ax, title in zip(axes, ("loss", "accuracy / other")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        if ax.lines:
            ax.legend()
    return fig


def _table(head: list[str], rows: list[list[str]]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


def to_html(report: EnergyReport) -> str:
    """One self-contained HTML page of the report."""
    head, rows = _rows(report)
    parts = [f"<h1>Energy report ({html.escape(report.convention)})</h1>",
             f"<p>{report.n_samples} samples, T = {report.time_steps}, dt = {report.dt_s:g} s. "
             f"{html.escape(report.convention_description)}.</p>",
             "<h2>Per layer, per inference</h2>", _table(head, rows),
             "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in _ratio_lines(report)) + "</ul>",
             _png(_energy_fig(report)), "<h2>Firing</h2>", _png(_rate_fig(report)),
             _png(_raster_fig(report)), _png(_hist_fig(report))]
    if report.training:
        parts += ["<h2>Training</h2>", _png(_training_fig(report.training))]
    md = to_markdown(report)
    details = md.split("## Spiking layers", 1)[-1]
    parts += ["<h2>Details</h2>", f"<pre>{html.escape('## Spiking layers' + details)}</pre>"]
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>neurodeploy energy report</title>"
            f"<style>{_CSS}</style></head><body>" + "\n".join(parts) + "</body></html>\n")
