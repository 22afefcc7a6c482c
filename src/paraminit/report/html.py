"""The HTML report of ``paraminit compare``: one self-contained file that opens offline.

Everything is inline: CSS in a ``<style>`` element, plots as base64 PNG ``data:`` URIs
drawn by matplotlib's Agg canvas (no pyplot, no display, no global backend change), no
script, no external resource. The output is a deterministic function of the results
document (PNG metadata is stripped).

Sections: the comparison table and verdict rules; per-layer activation std and gradient
norms at init vs depth (log scale); training loss curves; final accuracies; for every
method its formula, paper and the fans/std it used (``InitSpec.explain()``); every run;
settings and versions.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._format import COLUMN_NOTE, SUMMARY_COLUMNS, summary_rows

__all__ = ["render_html"]

_VERDICT_CLASS = {"trains": "ok", "stalls": "warn", "diverges": "bad", "symmetric": "sym"}

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f24;
       margin: 0 auto; max-width: 1120px; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 4px; } h2 { margin-top: 2.2em; border-bottom: 1px solid #d0d7de;
     padding-bottom: 4px; } h3 { margin: 1.4em 0 0.3em; }
.sub { color: #57606a; margin: 0 0 18px; }
table { border-collapse: collapse; margin: 10px 0; font-size: 0.93em; }
th, td { border: 1px solid #d0d7de; padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { font-weight: 600; padding: 1px 8px; border-radius: 10px; white-space: nowrap; }
.ok { background: #dafbe1; color: #116329; } .warn { background: #fff8c5; color: #7d4e00; }
.bad { background: #ffebe9; color: #a40e26; } .sym { background: #fbefff; color: #6e40c9; }
figure { margin: 14px 0 26px; } figure img { max-width: 100%; height: auto;
         border: 1px solid #eaeef2; } figcaption { color: #57606a; font-size: 0.92em; }
pre { background: #f6f8fa; padding: 8px 10px; overflow-x: auto; font-size: 0.86em;
      border-radius: 6px; white-space: pre-wrap; }
.method { border: 1px solid #d0d7de; border-radius: 8px; padding: 4px 16px 10px;
          margin: 14px 0; }
.kv td:first-child { font-weight: 600; white-space: nowrap; }
ul.rules li { margin: 3px 0; } summary { cursor: pointer; color: #0969da; margin: 6px 0; }
"""


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def png_bytes(figure: Any) -> bytes:
    """The figure as PNG (Agg canvas, 100 dpi, no metadata: the same bytes every time)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def png_base64(figure: Any) -> str:
    return base64.b64encode(png_bytes(figure)).decode("ascii")


def new_figure(width: float, height: float, panels: int = 1) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    return figure, list(axes)


def styles_for(methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """A distinct colour per method (tab10, then tab20's light shades) and a dash pattern
    cycling every 10, so 11+ methods stay apart."""
    from matplotlib import colormaps

    tab10, tab20 = colormaps["tab10"], colormaps["tab20"]
    dashes = ["-", "--", "-.", ":"]
    out = {}
    for i, method in enumerate(methods):
        colour = tab10(i % 10) if i < 10 else tab20((2 * (i - 10) + 1) % 20)
        out[method] = {"color": colour, "linestyle": dashes[(i // 10) % len(dashes)]}
    return out


def _per_layer(records: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """Mean over seeds of a per-layer field; non-positive and missing values are NaN (they
    cannot be drawn on a log scale)."""
    rows = []
    for record in records:
        values = [layer.get(key) for layer in record["layers"]]
        rows.append([v if v is not None and v > 0 and math.isfinite(v) else np.nan
                     for v in values])
    table = np.array(rows, dtype=np.float64)
    with np.errstate(all="ignore"):
        counts = np.sum(~np.isnan(table), axis=0)
        sums = np.nansum(table, axis=0)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def depth_plot(groups: Mapping[str, list[Mapping[str, Any]]], styles: Mapping[str, Any],
               panels: Sequence[tuple[str, str]], title: str) -> Any:
    """Per-layer probe fields at init (mean over seeds), one line per method, log scale."""
    from matplotlib.ticker import MaxNLocator

    figure, axes = new_figure(9.5 if len(panels) == 1 else 11.5, 4.4, len(panels))
    undrawn: set[str] = set()
    for axis, (key, label) in zip(axes, panels, strict=True):
        for method, records in groups.items():
            values = _per_layer(records, key)
            if np.all(np.isnan(values)):
                undrawn.add(method)
                continue
            axis.plot(np.arange(1, len(values) + 1), values, marker=".", markersize=4,
                      label=method, **styles[method])
        axis.set_yscale("log")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("layer (1 = first weight layer)")
        axis.set_ylabel(label)
        axis.grid(True, which="major", alpha=0.3)
    figure.suptitle(title)
    handles, labels = axes[0].get_legend_handles_labels()
    for method in sorted(undrawn, key=list(groups).index):
        handles.append(axes[0].plot([], [], **styles[method])[0])
        labels.append(f"{method} (zero everywhere: not drawn)")
    figure.legend(handles, labels, loc="outside right center", fontsize=8, frameon=False)
    return figure


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` steps (shorter at the start)."""
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    return (cumulative[index] - cumulative[start]) / (index - start)


def loss_plot(groups: Mapping[str, list[Mapping[str, Any]]], styles: Mapping[str, Any],
              classes: int) -> Any:
    """Mini-batch training loss of compare records, mean over seeds, 5-step average."""
    figure, (axis,) = new_figure(9.5, 4.6)
    top = 0.0
    for method, records in groups.items():
        curves = [np.array([np.nan if v is None else v for v in r["loss_curve"]], dtype=float)
                  for r in records]
        length = max(len(c) for c in curves)
        table = np.full((len(curves), length), np.nan)
        for i, curve in enumerate(curves):
            table[i, :len(curve)] = curve
        with np.errstate(all="ignore"):
            mean = np.nanmean(table, axis=0) if np.any(~np.isnan(table)) else table[0]
        finite = np.isfinite(mean)
        if not finite.any():
            continue
        smooth = _smooth(mean[finite], 5)
        top = max(top, float(np.nanmax(smooth[: max(1, len(smooth) // 10)])))
        axis.plot(np.flatnonzero(finite) + 1, smooth, label=method, **styles[method])
    chance = math.log(classes)
    axis.axhline(chance, color="grey", linewidth=0.8, linestyle=":")
    axis.annotate(f"ln {classes} = {chance:.3f} (uniform guess)", (1, chance), fontsize=8,
                  color="grey", xytext=(4, 4), textcoords="offset points")
    axis.set_ylim(0, max(top, chance) * 1.15)
    axis.set_xlabel("training step")
    axis.set_ylabel("mini-batch loss")
    axis.grid(True, alpha=0.3)
    axis.set_title("Training loss")
    figure.legend(loc="outside right center", fontsize=8, frameon=False)
    return figure


def _accuracy_plot(summary: Sequence[Mapping[str, Any]], chance: float) -> str:
    figure, (axis,) = new_figure(9.5, 0.8 + 0.42 * len(summary))
    names = [row["method"] for row in summary][::-1]
    y = np.arange(len(names))
    for offset, key, colour, label in ((0.2, "train_accuracy", "#2f81f7", "train"),
                                       (-0.2, "test_accuracy", "#fb8500", "test")):
        stats = [row[key] for row in summary][::-1]
        means = [100 * (s["mean"] or 0.0) for s in stats]
        errors = [100 * (s["sd"] or 0.0) for s in stats]
        axis.barh(y + offset, means, height=0.38, xerr=errors, color=colour, label=label,
                  error_kw={"elinewidth": 0.8, "capsize": 2})
    axis.axvline(100 * chance, color="grey", linestyle=":", linewidth=0.9)
    axis.axvline(100 * (chance + 0.10), color="grey", linestyle="--", linewidth=0.9)
    axis.set_yticks(y, names, fontsize=9)
    axis.set_xlim(0, 100)
    axis.set_xlabel("accuracy % (mean ± sd over seeds); dotted: chance, dashed: stall line")
    axis.legend(loc="lower right", fontsize=8)
    axis.set_title("Final accuracy")
    return png_base64(figure)


def img(data: str, alt: str, caption: str) -> str:
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{escape(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def kv_table(items: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(_plain(v))}</td></tr>" for k, v in items.items())
    return f'<table class="kv">{rows}</table>'


def _plain(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _summary_table(summary: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in SUMMARY_COLUMNS)
    body = []
    for row, cells in zip(summary, summary_rows(summary), strict=True):
        css = _VERDICT_CLASS.get(row["verdict"], "")
        tds = [f"<td>{escape(cells[0])}</td>"]
        tds += [f'<td class="num">{escape(c)}</td>' for c in cells[1:-1]]
        tds.append(f'<td><span class="verdict {css}">{escape(cells[-1])}</span></td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _runs_table(records: Sequence[Mapping[str, Any]]) -> str:
    columns = ("method", "seed", "verdict", "reason", "loss at init", "final loss",
               "train acc", "test acc", "symmetric layer", "seconds")
    head = "".join(f"<th>{c}</th>" for c in columns)
    rows = []
    for r in records:
        final = "—" if r["final_loss"] is None else f"{r['final_loss']:.4f}"
        initial = "—" if r["initial_loss"] is None else f"{r['initial_loss']:.4f}"
        css = _VERDICT_CLASS.get(r["verdict"], "")
        cells = [
            escape(r["method"]), str(r["seed"]),
            f'<span class="verdict {css}">{escape(r["verdict"])}</span>',
            escape(r["verdict_reason"]), initial, final, f"{100 * r['train_accuracy']:.1f} %",
            f"{100 * r['test_accuracy']:.1f} %", escape(r["symmetric_layer_after"] or "—"),
            f"{r['seconds']:.1f}",
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _names(names: Sequence[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else f"{names[0]} … {names[-1]} ({len(names)})"


def _method_section(detail: Mapping[str, Any]) -> str:
    parts = [f'<div class="method"><h3>{escape(detail["method"])}</h3>',
             f"<p>{escape(detail['summary'])}</p>",
             kv_table({"scheme": detail["scheme"], "options": detail["options"] or "defaults",
                        "formula": detail["formula"], "paper": detail["paper"]})]
    for note in detail["notes"]:
        parts.append(f"<p><em>Note:</em> {escape(note)}</p>")
    used = "; ".join(f"{_names(s['parameters'])} {tuple(s['shape'])}: std {s['std']:.6g}"
                     + (f", fan_in {s['fan_in']:g}, fan_out {s['fan_out']:g}"
                        if s["fan_in"] is not None else "")
                     for s in detail["specs"])
    if not detail["specs"]:  # a model method (lsuv): its scale comes from data, not shapes
        parts.append("</div>")
        return "".join(parts)
    parts.append(f"<p><b>Used here:</b> {escape(used)}</p>")
    parts.append("<details><summary>explain() for each weight shape</summary>")
    for spec in detail["specs"]:
        parts.append(f"<p><b>{escape(_names(spec['parameters']))}</b></p>"
                     f"<pre>{escape(spec['explain'])}</pre>")
    parts.append("</details></div>")
    return "".join(parts)


def render_html(document: Mapping[str, Any]) -> str:
    """The report of a ``compare`` results document (see ``paraminit.experiments.document``)."""
    settings, data, summary = document["settings"], document["dataset"], document["summary"]
    records = document["records"]
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault(record["method"], []).append(record)
    styles = styles_for(list(groups))
    title = (f"{settings['arch'].upper()} depth {settings['depth']} × width {settings['width']}"
             f", {settings['activation']}, on {data['name']}")
    status = ("" if document["complete"] else
              f"<p><b>Incomplete:</b> {document['runs_done']} of {document['runs_expected']} "
              "runs finished.</p>")
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>paraminit compare — {escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>paraminit compare</h1><p class=\"sub\">{escape(title)}: "
        f"{data['n_train']} training / {data['n_test']} test examples, {data['classes']} "
        f"classes; {settings['optimizer']} lr {settings['lr']:g}, {settings['steps']} steps, "
        f"batch {settings['batch_size']}; seeds {escape(_plain(settings['seeds']))}.</p>",
        status,
        "<h2>Summary</h2>", _summary_table(summary),
        f"<p>{escape(COLUMN_NOTE)}. Chance (majority class): "
        f"{100 * data['chance_accuracy']:.1f} %. Init statistics are measured on the first "
        f"{settings['probe_size']} training examples; losses and accuracies on the whole "
        "train and test sets.</p>",
        "<p>Verdict: the first rule that holds (per run; a method's verdict is the majority "
        "over its seeds):</p><ul class=\"rules\">",
        *(f"<li><b>{escape(r['verdict'])}</b>: {escape(r['rule'])}</li>"
          for r in document["verdict_rules"]),
        "</ul>",
    ]
    if records:
        parts += [
            "<h2>Signal through depth, at init</h2>",
            img(png_base64(depth_plot(groups, styles, [("act_std", "activation std")],
                                 "Forward: activation std per layer")),
                 "activation std per layer at init, one line per method, log scale",
                 "Std of each layer's activation (after its nonlinearity; the output layer's "
                 "logits last) at init. Flat lines keep the signal; falling lines lose it "
                 "geometrically with depth."),
            img(png_base64(depth_plot(groups, styles, [("weight_grad_norm", "‖∂L/∂W‖"),
                                                  ("grad_norm", "‖∂L/∂(layer output)‖")],
                                 "Backward: gradient norms per layer")),
                 "gradient norms per layer at init, log scale",
                 "Gradient norms at init (cross-entropy on the probe batch): of each weight "
                 "matrix, and of each layer's output."),
            "<h2>Training</h2>",
            img(png_base64(loss_plot(groups, styles, data["classes"])), "training loss curves",
                 "Mini-batch training loss, mean over seeds, 5-step moving average. A curve "
                 "stuck at ln K never left the uniform guess."),
            img(_accuracy_plot(summary, data["chance_accuracy"]), "final accuracies",
                 "Train and test accuracy after training."),
        ]
    parts += [f"<h2>Methods</h2><p>Weights: <code>{escape(settings['weights'])}</code>; "
              f"biases: {escape(settings['biases'])}. The fans and std each method used on "
              "this network, from the planner's plan:</p>"]
    parts += [_method_section(d) for d in document["methods"]]
    parts += ["<h2>Runs</h2>", _runs_table(records),
              "<h2>Data</h2>", kv_table(data),
              "<h2>Settings</h2>", kv_table(settings),
              "<h2>Versions</h2>", kv_table(document["versions"]),
              f"<p class=\"sub\">paraminit {escape(document['paraminit'])} — results in "
              "results.json next to this file.</p></body></html>"]
    return "\n".join(parts) + "\n"
