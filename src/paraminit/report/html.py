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
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._format import (
    COLUMN_NOTE,
    SUMMARY_COLUMNS,
    number,
    option_text,
    percent,
    setting_text,
    summary_rows,
)

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


# Curves closer than this fraction of the range the axis shows, at every point, cannot be
# told apart in a 9-inch plot (1 % is about half a line width of the 3-inch axis height).
COINCIDE = 0.01


def coinciding(series: Mapping[str, np.ndarray], *, log: bool = False,
               tolerance: float = COINCIDE) -> list[list[str]]:
    """Groups (two or more names, first-seen order) of series that lie on one another:
    same length and missing points, and max |a - b| below ``tolerance`` times the range all
    the series span (of log10 values on a log axis). Each member is compared with its
    group's first."""
    values = {}
    for name, raw in series.items():
        array = np.asarray(raw, dtype=np.float64)
        with np.errstate(all="ignore"):
            values[name] = np.log10(array) if log else array
    finite = [v[np.isfinite(v)] for v in values.values()]
    finite = [v for v in finite if v.size]
    if len(finite) < 2:
        return []
    span = float(max(v.max() for v in finite) - min(v.min() for v in finite))
    limit = tolerance * span if span > 0 else 1e-12
    groups: list[list[str]] = []
    for name, value in values.items():
        if not np.isfinite(value).any():
            continue
        for group in groups:
            first = values[group[0]]
            if (first.shape == value.shape
                    and np.array_equal(np.isfinite(first), np.isfinite(value))
                    and float(np.nanmax(np.abs(first - value))) <= limit):
                group.append(name)
                break
        else:
            groups.append([name])
    return [group for group in groups if len(group) > 1]


def _overlay_styles(groups: Sequence[Sequence[str]]) -> dict[str, dict[str, Any]]:
    """Dash patterns for coinciding lines: member i of n draws only the i-th of every n
    dashes, so the colours alternate along the shared line (the first is drawn solid)."""
    dash = 4.0  # in line widths
    out: dict[str, dict[str, Any]] = {}
    for group in groups:
        n = len(group)
        for i, name in enumerate(group[1:], start=1):
            out[name] = {"linestyle": ((n - i) * dash, (dash, (n - 1) * dash))}
    return out


# Closer than this (relative to the range) is the same values up to float rounding.
IDENTICAL = 1e-9


def _joined(groups: Sequence[Sequence[str]]) -> str:
    return "; ".join(" = ".join(group) for group in groups)


def coincidence_note(panels: Sequence[tuple[str, Sequence[Sequence[str]],
                                          Sequence[Sequence[str]]]]) -> str:
    """The caption's sentence naming the lines that coincide: per panel (label, groups
    within COINCIDE, groups within IDENTICAL), ``""`` if none do."""
    found = [panel for panel in panels if panel[1]]
    if not found:
        return ""
    if all(list(panel[1:]) == list(panels[0][1:]) for panel in panels):
        where = _joined(panels[0][1]) + (" (in both panels)" if len(panels) == 2 else "")
        identical = _joined(panels[0][2])
    else:
        where = "; ".join(f"{label}: {_joined(groups)}" for label, groups, _ in found)
        identical = "; ".join(f"{label}: {_joined(same)}" for label, _, same in found if same)
    text = (f"Lines that coincide at this scale (within {COINCIDE:.0%} of the axis range at "
            f"every point) are drawn dashed over one another, colours alternating: {where}.")
    if identical:
        text += f" Identical values: {identical}."
    return text


def _legend_labels(methods: Sequence[str],
                   panels: Sequence[Sequence[Sequence[str]]]) -> dict[str, str]:
    """Legend text: a method that coincides with an earlier one in every panel says so."""
    labels = {m: m for m in methods}
    for group in panels[0] if panels else []:
        for name in group[1:]:
            if all(any(group[0] in g and name in g for g in other) for other in panels[1:]):
                labels[name] = f"{name} (= {group[0]})"
    return labels


def _legend_handles(names: Sequence[str], styles: Mapping[str, Any], *,
                    marker: str | None = None) -> list[Any]:
    """Legend samples in each method's own style (an overlay's sparse dashes would show
    nothing)."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], marker=marker, markersize=4, **styles[name]) for name in names]


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
               panels: Sequence[tuple[str, str]], title: str) -> tuple[Any, str]:
    """Per-layer probe fields at init (mean over seeds), one line per method, log scale.
    Returns the figure and the caption's sentence on coinciding lines."""
    from matplotlib.ticker import MaxNLocator

    figure, axes = new_figure(9.5 if len(panels) == 1 else 11.5, 4.4, len(panels))
    undrawn: set[str] = set()
    found, identical, drawn = [], [], []
    for axis, (key, label) in zip(axes, panels, strict=True):
        series = {}
        for method, records in groups.items():
            values = _per_layer(records, key)
            if np.all(np.isnan(values)):
                undrawn.add(method)
            else:
                series[method] = values
                if method not in drawn:
                    drawn.append(method)
        same = coinciding(series, log=True)
        found.append(same)
        identical.append(coinciding(series, log=True, tolerance=IDENTICAL))
        overlay = _overlay_styles(same)
        for method, values in series.items():
            axis.plot(np.arange(1, len(values) + 1), values, marker=".", markersize=4,
                      label=method, **{**styles[method], **overlay.get(method, {})})
        axis.set_yscale("log")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("layer (1 = first weight layer)")
        axis.set_ylabel(label)
        axis.grid(True, which="major", alpha=0.3)
    figure.suptitle(title)
    labels = _legend_labels(drawn, found)
    drawn = [m for m in groups if m in drawn]
    undrawn_names = [m for m in groups if m in undrawn and m not in drawn]
    handles = _legend_handles(drawn, styles, marker=".") + _legend_handles(undrawn_names,
                                                                           styles)
    texts = [labels[m] for m in drawn] + [f"{m} (zero everywhere: not drawn)"
                                          for m in undrawn_names]
    figure.legend(handles, texts, loc="outside right center", fontsize=8, frameon=False)
    return figure, coincidence_note([(label, same, exact) for (_, label), same, exact
                                     in zip(panels, found, identical, strict=True)])


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` steps (shorter at the start)."""
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    return (cumulative[index] - cumulative[start]) / (index - start)


def loss_plot(groups: Mapping[str, list[Mapping[str, Any]]], styles: Mapping[str, Any],
              classes: int) -> tuple[Any, str]:
    """Mini-batch training loss of compare records, mean over seeds, 5-step average.
    Returns the figure and the caption's sentence on coinciding curves."""
    figure, (axis,) = new_figure(9.5, 4.6)
    top = 0.0
    series = {}
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
        smooth = np.full(length, np.nan)
        smooth[finite] = _smooth(mean[finite], 5)
        top = max(top, float(np.nanmax(smooth[finite][: max(1, finite.sum() // 10)])))
        series[method] = smooth
    same = coinciding(series)
    overlay = _overlay_styles(same)
    labels = _legend_labels(list(series), [same])
    for method, smooth in series.items():
        steps = np.flatnonzero(np.isfinite(smooth)) + 1
        axis.plot(steps, smooth[steps - 1], **{**styles[method], **overlay.get(method, {})})
    chance = math.log(classes)
    axis.axhline(chance, color="grey", linewidth=0.8, linestyle=":")
    # at the right end, above the line: the curves that leave the plateau are far below by then
    axis.annotate(f"ln {classes} = {chance:.3f} (uniform guess)", (1, chance),
                  xycoords=("axes fraction", "data"), fontsize=8, color="grey",
                  xytext=(-4, 4), textcoords="offset points", ha="right")
    axis.set_ylim(0, max(top, chance) * 1.15)
    axis.set_xlabel("training step")
    axis.set_ylabel("mini-batch loss")
    axis.grid(True, alpha=0.3)
    axis.set_title("Training loss")
    figure.legend(_legend_handles(list(series), styles), [labels[m] for m in series],
                  loc="outside right center", fontsize=8, frameon=False)
    return figure, coincidence_note([("training loss", same,
                                      coinciding(series, tolerance=IDENTICAL))])


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
    axis.set_title("Final accuracy")
    figure.legend(loc="outside right upper", fontsize=8, frameon=False)
    return png_base64(figure)


def _caption(text: str, note: str) -> str:
    """A figure's caption (HTML-escaped) with its sentence on coinciding lines, in bold."""
    return escape(text) + (f" <b>{escape(note)}</b>" if note else "")


def img(data: str, alt: str, caption: str) -> str:
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{escape(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def kv_table(items: Mapping[str, Any]) -> str:
    """Key/value rows, values as people read them (``setting_text``: ``10.2 %``, ``0.05``)."""
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(setting_text(str(k), v))}</td></tr>"
                   for k, v in items.items())
    return f'<table class="kv">{rows}</table>'


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
    if "settings" in detail:
        options = option_text(detail["settings"], detail["options"])
    else:  # a document saved before methods carried the values they ran with
        options = setting_text("options", detail["options"]) or "defaults"
    parts = [f'<div class="method"><h3>{escape(detail["method"])}</h3>',
             f"<p>{escape(detail['summary'])}</p>",
             kv_table({"scheme": detail["scheme"], "options": options,
                       "formula": detail["formula"], "paper": detail["paper"]})]
    for note in detail["notes"]:
        parts.append(f"<p><em>Note:</em> {escape(note)}</p>")
    used = "; ".join(f"{_names(s['parameters'])} {tuple(s['shape'])}: std {number(s['std'])}"
                     + (f", bound ±{number(s['bound'])}" if s.get("bound") is not None else "")
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
        f"batch {settings['batch_size']}; seeds {escape(setting_text('seeds', settings['seeds']))}"
        ".</p>",
        status,
        "<h2>Summary</h2>", _summary_table(summary),
        f"<p>{escape(COLUMN_NOTE)}. Chance (majority class): "
        f"{percent(data['chance_accuracy'])}. Init statistics are measured on the first "
        f"{settings['probe_size']} training examples; losses and accuracies on the whole "
        "train and test sets.</p>",
        "<p>Verdict: the first rule that holds (per run; a method's verdict is the majority "
        "over its seeds):</p><ul class=\"rules\">",
        *(f"<li><b>{escape(r['verdict'])}</b>: {escape(r['rule'])}</li>"
          for r in document["verdict_rules"]),
        "</ul>",
    ]
    if records:
        forward, forward_note = depth_plot(groups, styles, [("act_std", "activation std")],
                                           "Forward: activation std per layer")
        backward, backward_note = depth_plot(
            groups, styles, [("weight_grad_norm", "‖∂L/∂W‖"),
                             ("grad_norm", "‖∂L/∂(layer output)‖")],
            "Backward: gradient norms per layer")
        loss, loss_note = loss_plot(groups, styles, data["classes"])
        parts += [
            "<h2>Signal through depth, at init</h2>",
            img(png_base64(forward),
                "activation std per layer at init, one line per method, log scale",
                _caption("Std of each layer's activation (after its nonlinearity; the output "
                         "layer's logits last) at init. Flat lines keep the signal; falling "
                         "lines lose it geometrically with depth.", forward_note)),
            img(png_base64(backward), "gradient norms per layer at init, log scale",
                _caption("Gradient norms at init (cross-entropy on the probe batch): of each "
                         "weight matrix, and of each layer's output.", backward_note)),
            "<h2>Training</h2>",
            img(png_base64(loss), "training loss curves",
                _caption("Mini-batch training loss, mean over seeds, 5-step moving average. "
                         "A curve stuck at ln K never left the uniform guess.", loss_note)),
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
