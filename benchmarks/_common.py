"""Shared benchmark plumbing: best-of-N timing, a results table, JSON with machine info."""

from __future__ import annotations

import json
import math
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


def interleaved(calls: dict[str, tuple[Callable[[], object] | None, Callable[[], object]]],
                repeat: int, budget: float = math.inf) -> tuple[dict[str, float], dict[str, int]]:
    """Best wall time of each ``name: (setup, call)``, the calls alternating in every repeat.

    The order flips each repeat (a, b, ... then ..., b, a); ``setup`` (untimed) runs just
    before its call. A call that has taken its share of ``budget`` (budget / number of
    calls) stops repeating once it has run ``min(2, repeat)`` times, so a slow call does not
    hold the fast ones to its few samples. Returns (best seconds by name, repeats by name).
    """
    names = list(calls)
    share = budget / len(names)
    best = dict.fromkeys(names, math.inf)
    spent = dict.fromkeys(names, 0.0)
    done = dict.fromkeys(names, 0)
    least = min(2, repeat)
    for round_ in range(repeat):
        for name in names if round_ % 2 == 0 else names[::-1]:
            if done[name] >= least and spent[name] >= share:
                continue
            setup, call = calls[name]
            if setup is not None:
                setup()
            start = time.perf_counter()
            call()
            elapsed = time.perf_counter() - start
            best[name] = min(best[name], elapsed)
            spent[name] += elapsed
            done[name] += 1
    return best, done


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; inf for a zero denominator (a call too fast to time)."""
    return numerator / denominator if denominator > 0 else math.inf


def shape_text(shape: Sequence[int]) -> str:
    """``1024x1024``."""
    return "x".join(str(n) for n in shape)


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
