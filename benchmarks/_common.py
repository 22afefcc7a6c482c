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
    import scipy

    import paraminit

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "paraminit": paraminit.__version__,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def report(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]],
           records: list[dict[str, Any]], out: Path, **extra: Any) -> None:
    """Print the table and save {machine, records, **extra} as JSON at ``out``."""
    render_table(title, columns, rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine(), **extra, "records": records}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"saved {out}")
