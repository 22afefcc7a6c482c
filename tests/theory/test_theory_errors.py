"""Bad input gets an InitError that says what is wrong, never a NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import paraminit as pi
import paraminit.theory as th

EXP_SQUARED = lambda x: np.exp(x**2)  # noqa: E731  E[exp(2 q z^2)] = inf for q >= 1/4


def test_diverging_moment_in_variance_map():
    with pytest.raises(pi.InitError, match=r"does not converge.*diverges"):
        th.variance_map(EXP_SQUARED, 1.0, sigma_w2=1.0, sigma_b2=0.0)
    # below q = 1/4 the moment is finite: E[exp(2 q z^2)] = 1/sqrt(1 - 4q)
    assert th.variance_map(EXP_SQUARED, 0.1, sigma_w2=1.0, sigma_b2=0.0) == pytest.approx(
        1 / math.sqrt(1 - 0.4), rel=1e-12)


def test_diverging_moment_in_chi1_and_isometry():
    with pytest.raises(pi.InitError, match="diverges"):
        th.chi1(EXP_SQUARED, sigma_w2=1.0, sigma_b2=0.0, q=1.0)
    with pytest.raises(pi.InitError, match="diverges"):
        th.isometry_moments(EXP_SQUARED, sigma_w2=1.0, sigma_b2=0.0, q=1.0)


def test_diverging_moment_in_fixed_point_and_critical_point():
    with pytest.raises(pi.InitError, match=r"no fixed point q\*.*diverges"):
        th.fixed_point(EXP_SQUARED, sigma_w2=1.0, sigma_b2=0.05)
    with pytest.raises(pi.InitError, match=r"no critical point.*diverges"):
        th.critical_point(EXP_SQUARED, 0.05)


def test_overflow_is_reported_not_returned():
    with pytest.raises(pi.InitError, match="not finite"):
        th.variance_map(lambda x: np.exp(np.exp(x)), 4.0, sigma_w2=1.0, sigma_b2=0.0)


def test_relu_with_bias_has_no_critical_point():
    with pytest.raises(pi.InitError) as info:
        th.critical_point("relu", 0.05)
    message = str(info.value)
    assert "no critical point at sigma_b2 = 0.05" in message
    assert "q* diverges" in message and "sigma_w2 = 2" in message


@pytest.mark.parametrize("name", ["linear", "softplus"])
def test_unbounded_q_star_at_chi1_one_has_no_critical_point(name):
    # linear: chi1 = sigma_w2 reaches 1 only where q* = sigma_b2 / (1 - sigma_w2) diverges
    with pytest.raises(pi.InitError, match="no critical point"):
        th.critical_point(name, 0.05)


def test_relu_q_star_diverges_above_two():
    with pytest.raises(pi.InitError, match=r"q\* diverges.*lower sigma_w2"):
        th.fixed_point("relu", sigma_w2=2.5, sigma_b2=0.0)
    with pytest.raises(pi.InitError, match=r"q\* diverges"):
        th.fixed_point("relu", sigma_w2=2.0, sigma_b2=0.1)
    with pytest.raises(pi.InitError, match=r"q\* diverges"):
        th.depth_scales("relu", sigma_w2=3.0, sigma_b2=0.0)


def test_jump_across_the_edge_of_chaos_is_reported():
    # SiLU at sigma_b2 = 0.5: the small q* vanishes in a saddle-node and chi1 jumps over 1
    with pytest.raises(pi.InitError, match="jumps"):
        th.critical_point("silu", 0.5)


def test_recommend_without_critical_point():
    with pytest.raises(pi.InitError, match="no critical point"):
        th.recommend("relu", 20, sigma_b2=0.1)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: th.fixed_point("tanhh", sigma_w2=1.0, sigma_b2=0.0),
         r"activation must be one of .*'tanh'.*received 'tanhh'"),
        (lambda: th.fixed_point(3.0, sigma_w2=1.0, sigma_b2=0.0), "or a callable; received 3.0"),
        (lambda: th.fixed_point("tanh", sigma_w2=-1.0, sigma_b2=0.0),
         "sigma_w2 must be >= 0.*received -1.0"),
        (lambda: th.fixed_point("tanh", sigma_w2=1.0, sigma_b2=math.nan),
         "sigma_b2 must be a finite number"),
        (lambda: th.fixed_point("tanh", sigma_w2=True, sigma_b2=0.0),
         "sigma_w2 must be a finite number"),
        (lambda: th.variance_map("tanh", -0.1, sigma_w2=1.0, sigma_b2=0.0), "q must be >= 0"),
        (lambda: th.correlation_map("tanh", 1.5, sigma_w2=1.0, sigma_b2=0.0),
         r"c must be a correlation, a number in \[-1, 1\]; received 1.5"),
        (lambda: th.critical_point("tanh", -0.05), "sigma_b2 must be >= 0"),
        (lambda: th.recommend("tanh", 0), "depth must be a positive int"),
        (lambda: th.recommend("tanh", 10.5), "depth must be a positive int"),
        (lambda: th.recommend("tanh", 10, distribution="gauss"),
         "distribution must be one of 'normal', 'truncated_normal', 'uniform'"),
        (lambda: th.isometry_moments("tanh", sigma_w2=1.0, sigma_b2=0.0).spectrum_variance(
            5, weights="haar"), "weights must be one of 'gaussian', 'orthogonal'"),
        (lambda: th.fixed_point(lambda x: "a", sigma_w2=1.0, sigma_b2=0.0),
         "could not be evaluated"),
    ],
)
def test_argument_errors(call, match):
    with pytest.raises(pi.InitError, match=match):
        call()


def test_errors_are_value_errors():
    with pytest.raises(ValueError):
        th.critical_point("relu", 1.0)


@settings(max_examples=30)
@given(
    name=st.sampled_from(sorted(pi.ACTIVATIONS)),
    sigma_w2=st.floats(0.0, 8.0),
    sigma_b2=st.floats(0.0, 2.0),
)
def test_never_nan(name, sigma_w2, sigma_b2):
    """Every answer is a finite number (inf only for depth scales), or an InitError."""
    try:
        scales = th.depth_scales(name, sigma_w2=sigma_w2, sigma_b2=sigma_b2)
        moments = th.isometry_moments(name, sigma_w2=sigma_w2, sigma_b2=sigma_b2,
                                      q=scales.q_star)
    except pi.InitError:
        return
    for value in (scales.q_star, scales.c_star, scales.chi1, scales.chi_c,
                  moments.mu1, moments.mu2):
        assert math.isfinite(value)
    assert not math.isnan(scales.xi_q) and scales.xi_q >= 0
    assert not math.isnan(scales.xi_c) and scales.xi_c >= 0
    assert -1.0 <= scales.c_star <= 1.0
