"""Cells of the comparison table, shared by the terminal and the HTML renderers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["COLUMN_NOTE", "SUMMARY_COLUMNS", "summary_rows", "verdict_text"]

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
