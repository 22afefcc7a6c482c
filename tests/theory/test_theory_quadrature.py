"""Activations' derivatives and the Gaussian quadrature behind the theory."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

import paraminit as pi
import paraminit.theory as th
from paraminit.theory._activation import _DERIVATIVES, resolve_activation
from paraminit.theory._quadrature import bivariate_expectation, gaussian_expectation

# Away from the kink at 0; one-sided in the sense that no point is within 1e-3 of it.
POINTS = np.concatenate([-np.geomspace(1e-3, 8.0, 40), np.geomspace(1e-3, 8.0, 40)])


def test_every_named_activation_has_closed_form_derivatives():
    assert set(_DERIVATIVES) == set(pi.ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(pi.ACTIVATIONS))
def test_closed_form_derivatives_match_finite_differences(name):
    fn = pi.ACTIVATIONS[name]
    d1, d2 = _DERIVATIVES[name]
    # central differences with h = 1e-4 (|x| >= 1e-3 so no stencil crosses 0): truncation
    # h^2 |phi'''| / 6 ~ 2e-9 and h^2 |phi''''| / 12 ~ 1e-9, rounding eps/h ~ 2e-12 and
    # 4 eps / h^2 ~ 1e-7 (times |phi| <= 8), hence 1e-7 and 2e-6.
    h = 1e-4
    numeric1 = (fn(POINTS + h) - fn(POINTS - h)) / (2 * h)
    numeric2 = (fn(POINTS + h) - 2 * fn(POINTS) + fn(POINTS - h)) / h**2
    np.testing.assert_allclose(d1(POINTS) * np.ones_like(POINTS), numeric1, atol=1e-7)
    np.testing.assert_allclose(d2(POINTS) * np.ones_like(POINTS), numeric2, atol=2e-6)


@pytest.mark.parametrize("name", sorted(pi.ACTIVATIONS))
def test_numeric_derivatives_of_callables_match_closed_forms(name):
    named = resolve_activation(name)
    anonymous = resolve_activation(lambda x, fn=pi.ACTIVATIONS[name]: fn(x))
    np.testing.assert_allclose(anonymous.d1(POINTS), named.d1(POINTS), atol=1e-9)
    np.testing.assert_allclose(anonymous.d2(POINTS), named.d2(POINTS), atol=1e-6)


def test_callable_activation_gives_the_named_numbers():
    point = th.critical_point(lambda x: np.tanh(x), 0.05)
    assert point.sigma_w2 == pytest.approx(1.76095, abs=1e-5)
    assert point.q_star == pytest.approx(0.57005, abs=1e-5)
    named = th.depth_scales("tanh", sigma_w2=1.0, sigma_b2=0.05)
    anonymous = th.depth_scales(np.tanh, sigma_w2=1.0, sigma_b2=0.05)
    assert anonymous.xi_c == pytest.approx(named.xi_c, rel=1e-9)
    assert anonymous.xi_q == pytest.approx(named.xi_q, rel=1e-6)


def test_scalar_only_callable_is_vectorised():
    assert th.chi1(math.tanh, sigma_w2=1.0, sigma_b2=0.05) == pytest.approx(
        th.chi1("tanh", sigma_w2=1.0, sigma_b2=0.05), abs=1e-9)


def test_kinked_callable_is_exact_on_each_half_line():
    # one-sided differences never straddle the kink: relu' is exactly the step
    relu = lambda x: np.maximum(x, 0.0)  # noqa: E731
    assert th.chi1(relu, sigma_w2=1.5, sigma_b2=0.1) == pytest.approx(0.75, abs=1e-10)
    assert th.critical_point(relu, 0.0).sigma_w2 == pytest.approx(2.0, abs=1e-9)


def test_kink_with_nonzero_value_adds_the_delta_term():
    # phi = relu + 1: V(q) = sigma_w2 (q/2 + 2 sqrt(q / 2pi) + 1) + sigma_b2, so
    # dV/dq = sigma_w2 (1/2 + 1/sqrt(2 pi q)); phi'' = delta(u) contributes the second term.
    shifted = lambda x: np.maximum(x, 0.0) + 1.0  # noqa: E731
    scales = th.depth_scales(shifted, sigma_w2=1.0, sigma_b2=0.0)
    q = scales.q_star
    assert q == pytest.approx(q / 2 + 2 * math.sqrt(q / (2 * math.pi)) + 1, rel=1e-12)
    expected = 0.5 + 1 / math.sqrt(2 * math.pi * q)
    # numeric phi'' of a callable carries ~5e-8 relative rounding (see _activation.py)
    assert math.exp(-1 / scales.xi_q) == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize("q", [1e-6, 0.3, 1.0, 7.0, 50.0])
def test_one_dimensional_rule_against_quad(q):
    got = gaussian_expectation(lambda u: np.tanh(u) ** 2, q, what="test")
    s = math.sqrt(q)
    expected = 2 * integrate.quad(
        lambda z: math.tanh(s * z) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi),
        0, math.inf, epsabs=1e-15, epsrel=1e-13, limit=400)[0]
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-20)


@pytest.mark.parametrize(("q", "c"), [(0.57, 0.3), (16.0, 0.8), (16.0, -0.5), (4.0, 0.99)])
def test_two_dimensional_rule_against_dblquad(q, c):
    got = bivariate_expectation(np.tanh, np.tanh, q, c, what="test")
    s, r = math.sqrt(q), math.sqrt(1 - c * c)

    def integrand(z2, z1):
        return (math.tanh(s * z1) * math.tanh(s * (c * z1 + r * z2))
                * math.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * math.pi))

    expected = integrate.dblquad(integrand, -12, 12, -12, 12, epsabs=1e-13, epsrel=1e-12)[0]
    assert got == pytest.approx(expected, abs=1e-11)


def test_two_dimensional_rule_at_c_one_is_the_one_dimensional_rule():
    for name in ("relu", "selu", "tanh", "gelu"):
        act = resolve_activation(name)
        joint = bivariate_expectation(act.value, act.value, 1.3, 1.0, what="test")
        single = gaussian_expectation(lambda u, a=act: a.value(u) ** 2, 1.3, what="test")
        assert joint == pytest.approx(single, rel=1e-13)
