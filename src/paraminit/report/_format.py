"""Cells of the comparison table and the readable form of settings, shared by the terminal
and the HTML renderers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "COLUMN_NOTE",
    "SUMMARY_COLUMNS",
    "number",
    "option_text",
    "percent",
    "setting_text",
    "summary_rows",
    "verdict_text",
]

SUMMARY_COLUMNS = (
    "method", "act std, last", "grad last/first", "train loss", "train acc", "test acc",
    "verdict",
)
COLUMN_NOTE = (
    "act std, last: std of the output layer's logits at init; grad last/first: "
    "‖∂L/∂W‖ of the last layer over the first, at init; train loss and accuracies: after "
    "training (mean ± sd over seeds); verdict: majority over seeds"
)


def _number(value: float | None, spec: str) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return format(value, spec)


def number(value: float) -> str:
    """A float as people read it: 4 significant digits, no float noise (0.1017, 1e-05, 3)."""
    return format(value, ".4g")


def percent(fraction: float) -> str:
    """A fraction as a percentage with one decimal: 0.10170749814402376 -> ``10.2 %``."""
    return f"{100 * fraction:.1f} %"


# Settings that are fractions of a whole, shown as percentages.
_PERCENT_KEYS = ("accuracy", "fraction")


def setting_text(key: str, value: Any) -> str:
    """One value of a settings or data table, readable: fractions (``*accuracy``,
    ``*fraction``) as ``10.2 %``, floats to 4 significant digits, shapes as ``1 × 8 × 8``,
    other lists comma-separated, mappings as ``key value, ...``; anything else as ``str``."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if key.endswith(_PERCENT_KEYS) and 0.0 <= value <= 1.0:
            return percent(value)
        return number(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {setting_text(str(k), v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)) and key.endswith("shape"):
        return " × ".join(str(v) for v in value)
    if isinstance(value, (list, tuple)):
        separator = "; " if any(isinstance(v, Mapping) for v in value) else ", "
        return separator.join(setting_text(key, v) for v in value)
    return str(value)


def option_text(settings: Mapping[str, Any], given: Mapping[str, Any]) -> str:
    """A method's option values: the ones given on the command line, then the scheme's
    defaults it ran with (``mode=fan_out; defaults: nonlinearity=relu, slope=0``)."""
    if not settings and not given:
        return "none (takes no options)"

    def pairs(items: Mapping[str, Any]) -> str:
        return ", ".join(f"{k}={setting_text(k, v)}" for k, v in items.items())

    defaults = {k: v for k, v in settings.items() if k not in given}
    parts = [pairs(given)] if given else []
    if defaults:
        parts.append(("defaults: " if given else "all defaults: ") + pairs(defaults))
    return "; ".join(parts)


def _mean_sd(stat: Mapping[str, float | None], spec: str, scale: float = 1.0,
             unit: str = "") -> str:
    mean, sd = stat.get("mean"), stat.get("sd")
    if mean is None:
        return "—"
    text = format(mean * scale, spec)
    if sd is not None:
        text += " ± " + format(sd * scale, spec)
    return text + unit


def verdict_text(row: Mapping[str, Any]) -> str:
    """``trains``, or ``trains (2/3)`` when the seeds disagree."""
    if row["verdict_count"] == row["runs"]:
        return str(row["verdict"])
    return f"{row['verdict']} ({row['verdict_count']}/{row['runs']})"


def summary_rows(summary: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """One row of strings per method, in SUMMARY_COLUMNS order (mean ± sd over seeds)."""
    return [
        [
            row["method"],
            _number(row["act_std_last"]["mean"], ".3g"),
            _number(row["grad_ratio"]["mean"], ".3g"),
            _mean_sd(row["final_loss"], ".3f"),
            _mean_sd(row["train_accuracy"], ".1f", 100.0, " %"),
            _mean_sd(row["test_accuracy"], ".1f", 100.0, " %"),
            verdict_text(row),
        ]
        for row in summary
    ]
