"""The results document of a comparison: settings, data, versions, rules, the methods'
explanations, the summary table and every record. Data only; rendering is
:mod:`paraminit.report`'s."""

from __future__ import annotations

import math
import platform
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .. import __version__
from ._config import CompareConfig, build
from ._data import Dataset
from ._methods import describe_method
from ._verdicts import VERDICT_RULES, VERDICTS

__all__ = ["document", "method_details", "summarize", "versions"]


def method_details(config: CompareConfig, data: Dataset) -> list[dict[str, Any]]:
    """Per method: summary, formula, paper, notes and, per distinct weight shape, the
    spec's ``explain()`` (fans read, std/bound used) from the planner's dry-run plan of
    the network. Raises InitError on bad options."""
    config = config.resolved()
    model = build(config, data)
    return [describe_method(method, model, bias_std=config.bias_std)
            for method in config.methods]


def _mean_sd(values: Sequence[float | None]) -> dict[str, float | None]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "sd": None}
    sd = float(np.std(finite, ddof=1)) if len(finite) > 1 else None
    return {"mean": float(np.mean(finite)), "sd": sd}


def summarize(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per method (in first-seen order): the majority verdict and mean ± sd.

    A tie between verdicts goes to the one listed first in VERDICTS (the worse one).
    """
    by_method: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_method.setdefault(record["method"], []).append(record)
    rows = []
    for method, group in by_method.items():
        counts = Counter(r["verdict"] for r in group)
        verdict = max(VERDICTS, key=lambda v: (counts[v], -VERDICTS.index(v)))
        rows.append({
            "method": method, "scheme": group[0]["scheme"], "runs": len(group),
            "seeds": [r["seed"] for r in group], "verdict": verdict,
            "verdict_count": counts[verdict], "verdicts": dict(counts),
            "act_std_last": _mean_sd([r["act_std_last"] for r in group]),
            "grad_ratio": _mean_sd([r["grad_ratio"] for r in group]),
            "final_loss": _mean_sd([r["final_loss"] for r in group]),
            "train_accuracy": _mean_sd([r["train_accuracy"] for r in group]),
            "test_accuracy": _mean_sd([r["test_accuracy"] for r in group]),
        })
    return rows


def versions() -> dict[str, str]:
    """Versions of what produced the numbers."""
    import scipy

    return {"paraminit": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "platform": platform.platform()}


def document(config: CompareConfig, data: Dataset, records: Sequence[Mapping[str, Any]], *,
             complete: bool, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The results file's content: settings, data, versions, rules, methods, summary,
    records. ``complete`` is False while runs are still missing (interrupted run)."""
    config = config.resolved()
    return {
        "paraminit": __version__, "command": "compare", "complete": complete,
        "runs_expected": len(config.methods) * len(config.seeds), "runs_done": len(records),
        "settings": config.settings(), "dataset": data.describe(), "versions": versions(),
        "verdict_rules": [{"verdict": v, "rule": r} for v, r in VERDICT_RULES],
        "methods": details if details is not None else method_details(config, data),
        "summary": summarize(records), "records": list(records),
    }
