"""truncated_std_factor against a high-precision reference on every kind of interval.

The reference is the closed form Var = 1 + (a phi(a) - b phi(b))/Z - mu^2 evaluated in
mpmath with enough digits to absorb its cancellation (about log10(max(a^2, 1) / Var)
digits are lost) and with the mass Z taken from the tail nearest the interval.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import paraminit as pi
from paraminit import InitError
from paraminit.core.spec import truncated_std_factor

mp = pytest.importorskip("mpmath")

INF = math.inf
REL = 1e-12  # the promise is 1e-6; the method reaches ~1e-14


def reference_std(low: float, high: float) -> float:
    width = high - low if math.isfinite(high - low) else 1.0
    extent = max([1.0, *(abs(x) for x in (low, high) if math.isfinite(x))])
    # Var ~ width^2 against 1 cancels 2 log10(1 / width) digits, and the mass (a difference
    # of two tails) loses another log10(1 / width)
    digits = 40 + 3 * int(max(0.0, -math.log10(width))) + int(4 * math.log10(extent))
    with mp.workdps(digits):
        a, b = mp.mpf(low), mp.mpf(high)
        if a + b < 0:  # mirror so that the mass comes from the right tail, without cancelling
            a, b = -b, -a

        def tail(x):  # P(X > x)
            return mp.erfc(x / mp.sqrt(2)) / 2

        def density(x):
            return mp.npdf(x) if mp.isfinite(x) else mp.mpf(0)

        def x_density(x):
            return x * mp.npdf(x) if mp.isfinite(x) else mp.mpf(0)

        mass = tail(a) - tail(b)
        mean = (density(a) - density(b)) / mass
        variance = 1 + (x_density(a) - x_density(b)) / mass - mean**2
        return float(mp.sqrt(variance))


INTERVALS = [
    (-2.0, 2.0), (-3.0, 3.0),
    # narrow, centred and off-centre
    (-1e-6, 1e-6), (-1e-5, 1e-5), (1.0, 1.0 + 1e-9), (-1e-200, 1e-200), (0.0, 1e-200),
    (5.0, 5.01), (1e3, 1e3 + 1e-3), (-7.0 - 1e-8, -7.0),
    # far tails, one-sided and two-sided
    (1000.0, 2000.0), (-INF, -50.0), (50.0, INF), (1e6, INF), (1e150, 2e150),
    (-2000.0, -1000.0), (30.0, 31.0),
    # infinite and asymmetric
    (-INF, INF), (0.0, INF), (-INF, 0.0), (-0.5, 7.0), (-1e-9, 5.0), (-40.0, 40.0),
    (-8.0, 9.0), (2.5, 4.0), (-INF, 1.0), (-1.0, INF), (1e-300, 2e-300),
]


@pytest.mark.parametrize(("low", "high"), INTERVALS)
def test_matches_the_high_precision_reference(low, high):
    assert truncated_std_factor(low, high) == pytest.approx(reference_std(low, high), rel=REL)


def test_known_constants_and_limits():
    # REFERENCE.md: the +-2 factor to 17 digits
    assert truncated_std_factor(-2, 2) == pytest.approx(0.87962566103423978, rel=1e-15)
    assert truncated_std_factor(-INF, INF) == pytest.approx(1.0, rel=1e-14)
    # half-normal: sqrt(1 - 2/pi)
    assert truncated_std_factor(0, INF) == pytest.approx(math.sqrt(1 - 2 / math.pi), rel=1e-14)
    # narrow: uniform limit width / sqrt(12)
    assert truncated_std_factor(-1e-6, 1e-6) == pytest.approx(2e-6 / math.sqrt(12), rel=1e-12)
    # far one-sided tail: std of the excess ~ 1/a (Mills ratio), 1/a - 3/a^3 + ...
    assert truncated_std_factor(1e6, INF) == pytest.approx(1e-6, rel=1e-11)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(
    centre=st.floats(-3000, 3000),
    log_width=st.floats(-12, 4),
)
def test_random_intervals_match_the_reference(centre, log_width):
    half = 10.0**log_width / 2
    low, high = centre - half, centre + half
    if not low < high:
        return
    assert truncated_std_factor(low, high) == pytest.approx(reference_std(low, high), rel=REL)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(
    low=st.floats(-1e12, 1e12, allow_nan=False),
    high=st.floats(-1e12, 1e12, allow_nan=False),
)
def test_symmetric_positive_finite(low, high):
    if not low < high:
        with pytest.raises(InitError):
            truncated_std_factor(low, high)
        return
    factor = truncated_std_factor(low, high)
    assert math.isfinite(factor) and 0.0 < factor <= 1.0 + 1e-14
    assert truncated_std_factor(-high, -low) == pytest.approx(factor, rel=1e-13)
    # a law on [low, high] has std at most half the width
    assert factor <= (high - low) / 2 * (1 + 1e-12)


@pytest.mark.parametrize(
    ("low", "high"),
    [(1.0, 1.0), (2.0, 1.0), (math.nan, 1.0), (0.0, math.nan), (INF, INF), (-INF, -INF)],
)
def test_no_law_raises(low, high):
    with pytest.raises(InitError, match=r"needs low < high .*received low=.*high="):
        truncated_std_factor(low, high)


# ---------------------------------------------------------------------------------------
# the public examples of issue 16 get finite, right std factors


def test_torch_trunc_normal_far_tail_spec():
    torch = pytest.importorskip("torch")
    from paraminit.torch._dropin import _trunc_normal_spec

    spec = _trunc_normal_spec("trunc_normal_", (4,), 0.0, 1e-3, 1.0, 2.0)
    assert spec.truncation == (1000.0, 2000.0)
    assert spec.std == pytest.approx(1e-3 * reference_std(1000.0, 2000.0), rel=REL)
    assert spec.parent_std == pytest.approx(1e-3, rel=1e-14)
    assert spec.bounds == pytest.approx((1.0, 2.0), rel=1e-14)
    del torch


def test_torch_trunc_normal_huge_parent_std_spec():
    pytest.importorskip("torch")
    from paraminit.torch._dropin import _trunc_normal_spec

    spec = _trunc_normal_spec("trunc_normal_", (4,), 0.0, 1e7, -2.0, 2.0)
    # nearly uniform on [-2, 2]: std 4 / sqrt(12)
    assert spec.std == pytest.approx(4 / math.sqrt(12), rel=1e-12)
    assert spec.parent_std == pytest.approx(1e7, rel=1e-13)
    assert spec.bounds == pytest.approx((-2.0, 2.0), rel=1e-13)


def test_numpy_narrow_truncation_spec():
    spec = pi.resolve("truncated_normal", (4,), truncate=1e-6)
    assert spec.std == 0.02
    parent = 0.02 / reference_std(-1e-6, 1e-6)
    assert spec.parent_std == pytest.approx(parent, rel=REL)
    assert np.all(np.isfinite(spec.bounds))
    assert spec.bounds == pytest.approx((-1e-6 * parent, 1e-6 * parent), rel=1e-12)
