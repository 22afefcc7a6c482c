"""Shared benchmark plumbing: best-of-N timing, a results table, JSON with machine info."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from paraminit.report.terminal import render_table


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls, in seconds (the least-disturbed run)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def machine() -> dict[str, Any]:
    import numpy

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "numpy": numpy.__version__,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def report(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]],
           records: list[dict[str, Any]], out: Path) -> None:
    """Print the table and save {machine, records} as JSON at ``out``."""
    render_table(title, columns, rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "records": records}, indent=2) + "\n")
    print(f"saved {out}")
