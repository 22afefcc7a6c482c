"""``paraminit bench``: benchmarks that reproduce the papers' claims about initialization.

Each benchmark (a :class:`Benchmark`) runs a small version of a paper's experiment on the
CPU (194 s for the seven papers' on 2 idle cores, the three recipe benchmarks up to 242 s
each on loaded ones; ``quick=True``: the small versions the test suite runs; several times
longer on cores shared with other jobs, docs/bench/README.md) and returns a JSON-ready
result: settings, records, and :class:`Check` items stating the paper's claim, what was
measured and whether it holds. Training goes through :func:`paraminit.experiments.run_all`,
the ``compare`` loop, except ``deep_transformer``'s sequence task, which has its own loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..._errors import InitError
from . import (
    _chaos,
    _deep_transformer,
    _fixup,
    _glorot,
    _hanin,
    _isometry,
    _mup,
    _saxe,
    _selu,
    _startup,
)
from ._base import Benchmark, Check, Outcome, Progress

__all__ = ["BENCHMARKS", "Benchmark", "Check", "Outcome", "Progress", "describe", "document",
           "select"]

BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    _startup.BENCHMARK, _chaos.BENCHMARK, _glorot.BENCHMARK, _isometry.BENCHMARK,
    _saxe.BENCHMARK, _selu.BENCHMARK, _hanin.BENCHMARK, _fixup.BENCHMARK,
    _mup.BENCHMARK, _deep_transformer.BENCHMARK)}


def select(names: Sequence[str] = ()) -> list[Benchmark]:
    """The benchmarks named (all, in suite order, when none are); InitError on an unknown
    or repeated name."""
    if not names:
        return list(BENCHMARKS.values())
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise InitError(f"unknown benchmark {unknown[0]!r}; choose from "
                        f"{', '.join(BENCHMARKS)}")
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise InitError(f"benchmark {repeated[0]!r} named twice; name each once")
    return [BENCHMARKS[n] for n in names]


def describe() -> list[dict[str, Any]]:
    """Name, title, paper and claim of every benchmark."""
    return [{"name": b.name, "title": b.title, "cite": b.cite, "paper": b.paper,
             "claim": b.claim} for b in BENCHMARKS.values()]


def document(results: Sequence[dict[str, Any]], *, quick: bool, expected: int) -> dict[str, Any]:
    """The results file's content; ``complete`` is False while benchmarks are missing."""
    from ... import __version__
    from .._document import versions

    return {"paraminit": __version__, "command": "bench", "quick": quick,
            "complete": len(results) == expected, "benchmarks_expected": expected,
            "passed": all(r["passed"] for r in results) and len(results) == expected,
            "versions": versions(), "results": list(results)}
