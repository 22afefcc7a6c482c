"""Rendering of ``paraminit bench`` results: a figure per benchmark, the HTML report (the
style of ``compare``'s), and the terminal tables. Nothing here computes results.

Every figure is drawn from the benchmark's JSON record alone, so a saved ``results.json``
can be re-rendered. ``figures(result)`` gives (file stem, caption, Figure) triples: the CLI
writes them as PNG files next to the report and the docs pages show the same files. A plot
the data cannot support (a quick run's one-row map, one histogram) is not drawn;
``omissions(result)`` says which and why, in the report.
"""

from __future__ import annotations

import base64
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

import numpy as np

from .html import (
    CSS,
    depth_plot,
    escape,
    img,
    kv_table,
    loss_plot,
    new_figure,
    png_bytes,
    styles_for,
)
from .terminal import render_table

__all__ = ["figures", "omissions", "render_bench", "render_bench_html"]

Figures = list[tuple[str, str, Any]]


def _groups(records: Sequence[Mapping[str, Any]], key: str) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault(record[key], []).append(record)
    return groups


def _label(axis: Any, xlabel: str, ylabel: str, title: str | None = None, *,
           legend: float | None = 8) -> None:
    """Axis labels, an optional title, a light grid and (unless None) a legend."""
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    if title is not None:
        axis.set_title(title)
    axis.grid(True, alpha=0.3)
    if legend is not None:
        axis.legend(fontsize=legend)


def _he2015(result: Mapping[str, Any]) -> Figures:
    groups = _groups(result["records"], "method")
    styles = styles_for(list(groups))
    loss, loss_note = loss_plot(groups, styles, 10)
    act_std, act_note = depth_plot(groups, styles, [("act_std", "activation std")],
                                   "Forward: activation std per layer at init")
    return [
        ("loss", _join("Training loss (mean over seeds, 5-step average): Xavier and "
                       "orthogonal sit at ln 10 for at least the first 100 steps (a Xavier "
                       "seed may leave the plateau later), He and LSUV leave it at once.",
                       loss_note), loss),
        ("act_std", _join("Activation std per layer at init: Var(w) = 1/n halves the ReLU "
                          "signal per layer; He and LSUV keep it.", act_note), act_std),
    ]


def _join(caption: str, note: str) -> str:
    return f"{caption} {note}" if note else caption


def _depths(result: Mapping[str, Any]) -> list[int]:
    return sorted({r["depth"] for r in result["records"]})


def _equal_beta(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The networks whose β equals the first network's: the right panel of hanin2018."""
    records = result["records"]
    return [r for r in records if r["beta"] == records[0]["beta"]]


def omissions(result: Mapping[str, Any]) -> list[str]:
    """Sentences saying which plot of a benchmark is left out and why: a quick run can
    have too little data for it (a trainability map of one depth, one histogram)."""
    name = result["name"]
    if name == "edge_of_chaos" and len(_depths(result)) == 1:
        depth = _depths(result)[0]
        return [f"The trainability map is left out: this run trained one depth ({depth}) "
                "only, and a map of one row cannot show where training stops against the "
                "6 ξ_c line. The checks above give its cells; run it without --quick for "
                "the map over depths 10 to 90."]
    if name == "hanin2018" and len(_equal_beta(result)) == 1:
        return ["The histograms of log M for networks of equal β are left out: this run "
                "measured one network per β, so there is no second spread to compare with. "
                "Run it without --quick for three networks at β = 0.625."]
    return []


def _edge_of_chaos(result: Mapping[str, Any]) -> Figures:
    records, extra = result["records"], result["extra"]
    columns = sorted({r["sigma_w2"] for r in records})
    depths = _depths(result)
    if len(depths) == 1:  # see omissions()
        return []
    accuracy = np.full((len(depths), len(columns)), np.nan)
    for r in records:
        accuracy[depths.index(r["depth"]), columns.index(r["sigma_w2"])] = r["train_accuracy"]
    figure, (axis,) = new_figure(8.5, 5.0)
    x_edges = _edges(np.log(columns))
    y_edges = _edges(np.array(depths, dtype=float))
    mesh = axis.pcolormesh(np.exp(x_edges), y_edges, 100 * accuracy, cmap="viridis",
                           vmin=0, vmax=100, shading="flat")
    figure.colorbar(mesh, ax=axis, label="train accuracy %")
    line = extra["six_xi_c_line"]
    six_xi_c = [np.nan if p["six_xi_c"] is None else p["six_xi_c"] for p in line]
    axis.plot([p["sigma_w2"] for p in line], six_xi_c, color="white",
              linewidth=2, label="6 ξ_c (theory.depth_scales)")
    axis.axvline(extra["critical_sigma_w2"], color="white", linestyle=":", linewidth=1,
                 label=f"χ₁ = 1 (σ_w² = {extra['critical_sigma_w2']:.4f})")
    axis.set_xscale("log")
    axis.set_xticks(columns, [f"{c:.3g}" for c in columns])
    axis.set_xlim(np.exp(x_edges[0]), np.exp(x_edges[-1]))
    axis.set_ylim(y_edges[0], y_edges[-1])
    axis.set_xlabel("σ_w² (weights N(0, σ_w²/fan_in)), σ_b² = 0.05")
    axis.set_ylabel("depth (weight layers)")
    axis.legend(loc="upper right", fontsize=8)
    axis.set_title("Tanh MLP on the digits: train accuracy after 150 steps")
    return [("map", "Trainability map: each cell one network; the white curve is 6 ξ_c. "
                    "Cells above it fail, cells below it train.", figure)]


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges halfway between centres (one cell: ±1)."""
    if len(centres) == 1:
        return np.array([centres[0] - 1.0, centres[0] + 1.0])
    middle = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - middle[0]], middle,
                           [2 * centres[-1] - middle[-1]]])


def _glorot2010(result: Mapping[str, Any]) -> Figures:
    figure, axes = new_figure(11.5, 4.4, 2)
    for axis, activation in zip(axes, ("linear", "tanh"), strict=True):
        for method, colour in (("torch_default", "#d1495b"), ("xavier_uniform", "#00798c")):
            rows = [r for r in result["records"]
                    if r["activation"] == activation and r["method"] == method]
            grads = np.mean([np.array(r["grad_norm"]) / r["grad_norm"][-1] for r in rows],
                            axis=0)
            layers = np.arange(1, len(grads) + 1)
            axis.plot(layers, grads, marker="o", markersize=4, color=colour, label=method)
        top = len(grads)
        axis.plot(layers, (1 / 3) ** ((top - layers) / 2), color="grey", linestyle=":",
                  label="√(1/3) per layer")
        axis.set_yscale("log")
        _label(axis, "hidden layer", "‖∂L/∂(layer output)‖ / top hidden layer's",
               f"{activation} network, at init")
    return [("gradients", "Back-propagated gradient norm per layer, relative to the top "
                          "hidden layer (mean over seeds). PyTorch's default falls as "
                          "√(1/3) per layer going down; Xavier stays flat.", figure)]


def _isometry(result: Mapping[str, Any]) -> Figures:
    from matplotlib.ticker import NullLocator

    spectrum = [r for r in result["records"] if r["kind"] == "spectrum"]
    training = [r for r in result["records"] if r["kind"] == "training"]
    colours = styles_for([r["case"] for r in spectrum])
    figure, (left, right) = new_figure(11.5, 4.4, 2)
    for r in spectrum:
        depths = np.array(r["depths"])
        style = colours[r["case"]]
        left.plot(depths, r["spread"], marker="o", linestyle="none", color=style["color"],
                  label=f"{r['case']} (slope {r['slope']:.3f})")
        left.plot(depths, depths * r["predicted"], color=style["color"], linewidth=0.9,
                  linestyle="--")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xticks(spectrum[0]["depths"], [str(d) for d in spectrum[0]["depths"]])
    left.xaxis.set_minor_locator(NullLocator())
    _label(left, "depth L", "Var / mean² of the eigenvalues of J Jᵀ",
           "Jacobian spectrum (dashed: isometry_moments)", legend=7)
    for r in training:
        # a diverged run's curve stops at its NaN: pad with NaN (a gap in the plot)
        length = max(len(c) for c in r["loss_curves"])
        curves = np.array([[np.nan if v is None else v for v in c] + [np.nan] * (length - len(c))
                           for c in r["loss_curves"]], dtype=float)
        with warnings.catch_warnings():  # all-NaN columns: "mean of empty slice" is NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(curves, axis=0)
        right.plot(np.arange(1, length + 1), mean,
                   color=colours[r["case"]]["color"], label=r["case"], linewidth=1.2)
    _label(right, "training step", "mini-batch loss",
           f"Training, depth {training[0]['depth']}, digits", legend=7)
    return [("isometry", "Left: spread of the squared singular values of the input-output "
                         "Jacobian vs depth, measured (dots) and predicted (dashed). Right: "
                         "training loss (mean over seeds).", figure)]


def _saxe2014(result: Mapping[str, Any]) -> Figures:
    figure, (axis,) = new_figure(8.0, 4.4)
    for method, colour in (("orthogonal", "#d1495b"), ("scaled Gaussian", "#00798c")):
        depths = sorted({r["depth"] for r in result["records"] if r["method"] == method})
        times = [np.mean([r["learning_time"] for r in result["records"]
                          if r["method"] == method and r["depth"] == d]) for d in depths]
        axis.plot(depths, times, marker="o", color=colour, label=method)
    axis.set_xscale("log")
    axis.set_xticks(depths, [str(d) for d in depths])
    axis.minorticks_off()
    _label(axis, "depth (weight layers)",
           f"steps to train loss < {result['settings']['criterion']}",
           "Deep linear networks, lr = 0.2 / depth")
    return [("learning_time", "Learning time vs depth (mean over seeds): flat for orthogonal, "
                              "growing for scaled Gaussian.", figure)]


def _selu2017(result: Mapping[str, Any]) -> Figures:
    groups = _groups(result["records"], "case")
    colours = styles_for(list(groups))
    figure, (left, right) = new_figure(11.5, 4.4, 2)
    for case, rows in groups.items():
        layers = np.arange(1, len(rows[0]["mean"]) + 1)
        left.plot(layers, np.mean([r["mean"] for r in rows], axis=0), label=case,
                  color=colours[case]["color"])
        right.plot(layers, np.mean([r["variance"] for r in rows], axis=0), label=case,
                   color=colours[case]["color"])
    left.axhline(0.0, color="grey", linestyle=":")
    right.axhline(1.0, color="grey", linestyle=":")
    right.set_yscale("log")
    for axis, label in ((left, "activation mean"), (right, "activation variance")):
        _label(axis, "hidden layer", label)
    return [("moments", "Mean and variance of each hidden layer's activations at init "
                        "(mean over seeds): SELU + LeCun sits at (0, 1).", figure)]


def _hanin2018(result: Mapping[str, Any]) -> Figures:
    records = result["records"]
    equal = _equal_beta(result)
    histograms = len(equal) > 1  # one histogram compares nothing: see omissions()
    figure, axes = new_figure(11.5 if histograms else 7.0, 4.4, 2 if histograms else 1)
    left = axes[0]
    betas = [r["beta"] for r in records]
    left.errorbar(betas, [r["variance"] for r in records],
                  yerr=[2 * r["variance_se"] for r in records], fmt="o", color="#d1495b",
                  label="measured (± 2 SE)", capsize=3)
    left.plot(betas, [r["variance_exact"] for r in records], "x", color="black",
              markersize=8, label="finite-width formula")
    grid = np.linspace(0, max(betas) * 1.05, 50)
    left.plot(grid, 5 * grid, color="grey", linestyle=":", label="5 β")
    for r in records:
        left.annotate(f"{r['width']}×{r['hidden_layers']}", (r["beta"], r["variance"]),
                      fontsize=7, xytext=(6, -12), textcoords="offset points")
    _label(left, "β = Σ 1/n_l", "Var[log M] over weight draws")
    caption = ("Variance of log M against β (points labelled width × hidden layers), with "
               "the exact finite-width value and its large-width limit 5β.")
    if histograms:
        right = axes[1]
        for r in equal:
            right.hist(r["log_ratio_input0"], bins=40, density=True, histtype="step",
                       label=f"width {r['width']}, {r['hidden_layers']} layers")
        right.set_xlabel("log M (one input)")
        right.set_ylabel("density")
        right.set_title(f"equal β = {betas[0]:.3g}: nearly equal spread")
        right.legend(fontsize=8)
        caption = ("Left: " + caption[0].lower() + caption[1:]
                   + " Right: log M over weight draws for networks of equal β.")
    return [("log_norm", caption, figure)]


def _mup2022(result: Mapping[str, Any]) -> Figures:
    sweeps = [r for r in result["records"] if r["kind"] == "lr_sweep"]
    coords = [r for r in result["records"] if r["kind"] == "coord_check"]
    figure, axes = new_figure(14.5, 4.2, 3)
    names = {"sp": "SP", "mup": "μP"}
    for axis, parametrization in zip(axes[:2], ("sp", "mup"), strict=True):
        for width, rows in _groups([r for r in sweeps
                                    if r["parametrization"] == parametrization],
                                   "width").items():
            axis.plot([r["log2_lr"] for r in rows],
                      [np.nan if r["loss"] is None else r["loss"] for r in rows],
                      marker="o", markersize=3, label=f"width {width}")
        axis.set_yscale("log")
        _label(axis, "log2 learning rate", "training loss", names[parametrization])
    for parametrization, style in (("sp", "--"), ("mup", "-")):
        rows = [r for r in coords if r["parametrization"] == parametrization]
        for index, layer in enumerate(rows[0]["layers"]):
            axes[2].plot([r["width"] for r in rows], [r["l1"][index] for r in rows],
                         linestyle=style, marker="o", markersize=3,
                         label=f"{names[parametrization]} {layer}")
    axes[2].set_xscale("log", base=2)
    axes[2].set_yscale("log")
    _label(axes[2], "width", "mean |activation| after a few steps", "coord check")
    return [("lr_transfer", "Training loss against learning rate per width (left SP, middle "
                            "μP) and the coord check (right): under μP the optimum and the "
                            "activation sizes stay put as the width grows.", figure)]
def _deep_transformer(result: Mapping[str, Any]) -> Figures:
    groups = _groups(result["records"], "method")
    loss, loss_note = loss_plot(groups, styles_for(list(groups)), 12)
    return [("loss", _join("Training loss of the 12-block transformer (mean over seeds, "
                           "5-step average), Adam without warm-up: post-LN under torch's "
                           "default and Xavier init sits at ln 12; DeepNorm and T-Fixup "
                           "learn the reversal.", loss_note), loss)]


_FIGURES: dict[str, Callable[[Mapping[str, Any]], Figures]] = {
    "he2015": _he2015, "edge_of_chaos": _edge_of_chaos, "glorot2010": _glorot2010,
    "isometry": _isometry, "saxe2014": _saxe2014, "selu2017": _selu2017,
    "hanin2018": _hanin2018, "mup2022": _mup2022, "deep_transformer": _deep_transformer,
}


def figures(result: Mapping[str, Any]) -> Figures:
    """(file stem, caption, matplotlib Figure) for each plot of one benchmark result (none
    for a benchmark without a plotter, such as fixup2019)."""
    plotter = _FIGURES.get(result["name"])
    return plotter(result) if plotter is not None else []


def _status(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def _checks_table(checks: Sequence[Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(c['claim'])}</td><td>{escape(c['measured'])}</td>"
        f"<td>{escape(c['expected'])}</td><td><span class=\"verdict "
        f"{'ok' if c['passed'] else 'bad'}\">{_status(c['passed'])}</span></td></tr>"
        for c in checks)
    return ("<table><thead><tr><th>check</th><th>measured</th><th>expected</th>"
            f"<th>result</th></tr></thead><tbody>{rows}</tbody></table>")


Pictures = Mapping[str, Sequence[tuple[str, str, bytes]]]


def _section(result: Mapping[str, Any], pictures: Pictures | None) -> str:
    css = "ok" if result["passed"] else "bad"
    parts = [f"<h2 id=\"{escape(result['name'])}\">{escape(result['title'])} "
             f"<span class=\"verdict {css}\">{_status(result['passed'])}</span></h2>",
             f"<p><b>Claim:</b> {escape(result['claim'])}</p>",
             f"<p><b>Paper:</b> {escape(result['paper'])}</p>",
             _checks_table(result["checks"])]
    if pictures is not None and result["name"] in pictures:
        drawn = pictures[result["name"]]
    else:
        drawn = [(stem, caption, png_bytes(figure)) for stem, caption, figure in figures(result)]
    for stem, caption, png in drawn:
        parts.append(img(base64.b64encode(png).decode("ascii"), f"{result['name']} {stem}",
                         escape(caption)))
    parts += [f"<p><em>{escape(sentence)}</em></p>" for sentence in omissions(result)]
    parts += ["<details><summary>settings</summary>", kv_table(result["settings"]),
              "</details>",
              f"<p class=\"sub\">{result['seconds']:.1f} s"
              f"{' (quick)' if result['quick'] else ''}; records in results.json.</p>"]
    return "\n".join(parts)


def render_bench_html(document: Mapping[str, Any], *, pictures: Pictures | None = None) -> str:
    """The report of a ``bench`` results document: a summary, then per benchmark its claim,
    paper, checks and plots. ``pictures`` ({name: [(stem, caption, PNG bytes)]}) reuses
    plots already drawn; the others are drawn from the document."""
    results = document["results"]
    passed = sum(r["passed"] for r in results)
    rows = "".join(
        f"<tr><td><a href=\"#{escape(r['name'])}\">{escape(r['name'])}</a></td>"
        f"<td>{escape(r['title'])}</td><td><span class=\"verdict "
        f"{'ok' if r['passed'] else 'bad'}\">{_status(r['passed'])}</span></td>"
        f"<td class=\"num\">{r['seconds']:.1f}</td></tr>" for r in results)
    status = ("" if document["complete"] else
              f"<p><b>Incomplete:</b> {len(results)} of {document['benchmarks_expected']} "
              "benchmarks finished.</p>")
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>paraminit bench</title><style>{CSS}</style></head><body>",
        "<h1>paraminit bench</h1>",
        f"<p class=\"sub\">The papers' claims about initialization, reproduced: {passed} of "
        f"{len(results)} hold{' (quick versions)' if document['quick'] else ''}.</p>",
        status,
        "<table><thead><tr><th>benchmark</th><th>what</th><th>result</th><th>seconds</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>",
        *(_section(r, pictures) for r in results),
        "<h2>Versions</h2>", kv_table(document["versions"]),
        f"<p class=\"sub\">paraminit {escape(document['paraminit'])} — results in "
        "results.json next to this file.</p></body></html>",
    ]
    return "\n".join(parts) + "\n"


def render_bench(document: Mapping[str, Any], *, stream: TextIO | None = None) -> None:
    """A summary table (one row per benchmark), then each benchmark's checks."""
    stream = stream or sys.stdout
    results = document["results"]
    render_table("paraminit bench" + (" (quick)" if document["quick"] else ""),
                 ("benchmark", "paper", "result", "checks", "seconds"),
                 [(r["name"], r["cite"], _status(r["passed"]),
                   f"{sum(c['passed'] for c in r['checks'])}/{len(r['checks'])}",
                   f"{r['seconds']:.1f}") for r in results],
                 stream=stream,
                 styles=["bold green" if r["passed"] else "bold red" for r in results])
    for r in results:
        print(file=stream)
        render_table(f"{r['name']}: {r['claim']}", ("check", "measured", "expected", "result"),
                     [(c["claim"], c["measured"], c["expected"], _status(c["passed"]))
                      for c in r["checks"]], stream=stream,
                     styles=["green" if c["passed"] else "red" for c in r["checks"]],
                     no_wrap=(3,))
