"""Shared checks: a measured std against a formula within sampling error."""

from __future__ import annotations

import math

import torch

Z = 5.0  # |s/sigma - 1| <= Z * sqrt(1 / (2n)): a false alarm with probability ~6e-7


def assert_std(values: torch.Tensor, target: float, what: str = "") -> None:
    flat = values.detach().double().reshape(-1)
    n = flat.numel()
    measured = float(flat.std(unbiased=False))
    tolerance = Z * math.sqrt(1.0 / (2.0 * n))
    assert abs(measured / target - 1.0) <= tolerance, (what, measured, target, tolerance)


def assert_uniform_bound(values: torch.Tensor, bound: float, what: str = "") -> None:
    """All values within +-bound, and the extremes close to it (the law reaches the bound)."""
    peak = float(values.detach().abs().max())
    assert peak <= bound * (1 + 1e-6), (what, peak, bound)
    n = values.numel()
    # P(max |w| < (1 - e) b) = (1 - e)^n: with e = 20/n it is e^-20
    assert peak >= bound * (1 - min(0.5, 20.0 / n)), (what, peak, bound)
