"""The frame every paper benchmark fills: what it claims, what it measured, pass or fail.

A benchmark is a function ``run(quick, progress) -> Outcome``: it trains through
:func:`paraminit.experiments.run_all` (the ``compare`` loop, never a second one) or measures
networks at init, and states its verdict as :class:`Check` items. ``progress`` receives
``run_all``'s events and, for long measurements, ``{"event": "measure", "task", "done",
"total"}``. Nothing here renders.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._data import Dataset, load_dataset
from .._methods import Method, initialise
from .._models import build_model

__all__ = ["Benchmark", "Check", "Outcome", "Progress", "check", "digits", "hidden_stack",
           "initialised", "leaves", "plateau_text", "steps_to"]

Progress = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class Check:
    """One claim of the paper, tested: what was measured against what was expected."""

    claim: str
    measured: str
    expected: str
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"claim": self.claim, "measured": self.measured, "expected": self.expected,
                "passed": self.passed}


def check(claim: str, measured: str, expected: str, passed: bool | np.bool_) -> Check:
    return Check(claim, measured, expected, bool(passed))


@dataclass(frozen=True)
class Outcome:
    """What a benchmark returns: settings, one record per measurement, and the checks."""

    settings: Mapping[str, Any]
    records: Sequence[Mapping[str, Any]]
    checks: Sequence[Check]
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. a theory curve to draw


@dataclass(frozen=True)
class Benchmark:
    """A paper's claim and the experiment that tests it."""

    name: str
    title: str
    cite: str  # short: "He et al. 2015"
    paper: str  # full: title, venue, section, equation
    claim: str
    run: Callable[[bool, Progress], Outcome]

    def execute(self, *, quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
        """Run it; the JSON-ready result (``passed`` only if every check passed)."""
        started = time.perf_counter()
        outcome = self.run(quick, progress or (lambda event: None))
        if not outcome.checks:  # a bug in the benchmark, not bad input
            raise RuntimeError(f"benchmark {self.name!r} made no check")
        return {
            "name": self.name, "title": self.title, "cite": self.cite, "paper": self.paper,
            "claim": self.claim,
            "quick": quick, "passed": all(c.passed for c in outcome.checks),
            "checks": [c.to_dict() for c in outcome.checks],
            "settings": dict(outcome.settings), "records": list(outcome.records),
            "extra": dict(outcome.extra), "seconds": time.perf_counter() - started,
        }


def digits() -> Dataset:
    """The bundled digits, split and standardized as ``compare`` does by default."""
    return load_dataset("digits")


def initialised(input_shape: tuple[int, ...], classes: int, *, depth: int, width: int,
                activation: str, method: Method, seed: int, bias_std: float = 0.0,
                inputs: torch.Tensor | None = None) -> torch.nn.Sequential:
    """An MLP of ``compare`` initialised exactly as a compare run initialises it."""
    model = build_model("mlp", input_shape, classes, depth=depth, width=width,
                        activation=activation)
    initialise(model, method, seed, bias_std=bias_std, inputs=inputs)
    return model


def hidden_stack(model: torch.nn.Sequential) -> torch.nn.Sequential:
    """The hidden layers of a compare MLP: without its Flatten and its output layer."""
    children = list(model.children())
    return torch.nn.Sequential(*children[1:-1])


def _first(curve: Sequence[float | None], window: int,
           condition: Callable[[np.ndarray], np.ndarray]) -> int | None:
    """First step (1-based, the end of its ``window``) at which the moving average of the
    training loss meets ``condition``; None if it never does. A NaN loss (None) counts as
    +inf: never below a threshold, always off a plateau."""
    values = np.array([math.inf if v is None else v for v in curve], dtype=np.float64)
    if len(values) < window:  # a curve stops early only when the loss became NaN/inf
        values = np.concatenate([values, np.full(window - len(values), math.inf)])
    with np.errstate(invalid="ignore"):
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        hits = np.flatnonzero(condition(smooth))
    return int(hits[0]) + window if hits.size else None


def steps_to(curve: Sequence[float | None], threshold: float, window: int = 5) -> int | None:
    """First step at which the ``window``-step mean training loss is below ``threshold``."""
    return _first(curve, window, lambda smooth: smooth < threshold)


def leaves(curve: Sequence[float | None], level: float, tolerance: float,
           window: int = 5) -> int | None:
    """First step at which the ``window``-step mean training loss is more than
    ``tolerance`` away from ``level`` (None: it never leaves the plateau)."""
    return _first(curve, window, lambda smooth: ~(np.abs(smooth - level) <= tolerance))


def plateau_text(step: int | None, steps: int) -> str:
    """What :func:`leaves` found, in words: ``left the plateau at step 150`` or ``did not
    leave the plateau within 300 steps``."""
    if step is None:
        return f"did not leave the plateau within {steps} steps"
    return f"left the plateau at step {step}"
