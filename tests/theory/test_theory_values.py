"""Exact numbers: the tanh critical line, ReLU, SELU, linear, REFERENCE.md facts.

References computed here are independent of the library: scipy.integrate.quad on each half
line (activations written from their definitions) and closed forms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, special

import paraminit.theory as th


def expect(f, *, epsabs: float = 1e-14) -> float:
    """E[f(z)], z ~ N(0, 1), by adaptive quadrature on each half line."""
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return sum(
        integrate.quad(lambda z: f(z) * pdf(z), a, b, epsabs=epsabs, epsrel=1e-13, limit=200)[0]
        for a, b in ((-math.inf, 0.0), (0.0, math.inf))
    )


def tanh_critical_point(sigma_b2: float) -> tuple[float, float]:
    """Independent solver: on the critical line sigma_w2 = 1 / E[sech^4(sqrt(q) z)], so
    q* solves E[tanh^2] / E[sech^4] + sigma_b2 = q (q map and chi1 = 1 combined)."""

    def moments(q: float) -> tuple[float, float]:
        s = math.sqrt(q)
        return (expect(lambda z: math.tanh(s * z) ** 2),
                expect(lambda z: (1 - math.tanh(s * z) ** 2) ** 2))

    def residual(q: float) -> float:
        second, slope = moments(q)
        return second / slope + sigma_b2 - q

    q = optimize.brentq(residual, 1e-6, 50.0, xtol=1e-14, rtol=1e-14)
    return 1.0 / moments(q)[1], q


# (sigma_b2, sigma_w2, q*) to the 5 decimals printed; 0.05 is REFERENCE.md's pair.
TANH_CRITICAL_LINE = [
    (0.01, 1.42421, 0.27330),
    (0.05, 1.76095, 0.57005),
    (0.1, 1.98607, 0.80580),
    (0.5, 2.84317, 1.97103),
    (1.0, 3.44321, 3.03640),
    (2.0, 4.26640, 4.83059),
]


@pytest.mark.parametrize(("sigma_b2", "sigma_w2", "q_star"), TANH_CRITICAL_LINE)
def test_tanh_critical_line_table(sigma_b2, sigma_w2, q_star):
    point = th.critical_point("tanh", sigma_b2)
    assert point.sigma_b2 == sigma_b2
    assert point.sigma_w2 == pytest.approx(sigma_w2, abs=1e-5)
    assert point.q_star == pytest.approx(q_star, abs=1e-5)
    assert point.chi1 == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("sigma_b2", [0.05, 0.5])
def test_tanh_critical_line_matches_independent_solver(sigma_b2):
    sigma_w2, q_star = tanh_critical_point(sigma_b2)
    point = th.critical_point("tanh", sigma_b2=sigma_b2)
    assert point.sigma_w2 == pytest.approx(sigma_w2, abs=1e-10)
    assert point.q_star == pytest.approx(q_star, abs=1e-10)


def test_design_example_tanh_005():
    point = th.critical_point("tanh", sigma_b2=0.05)
    assert (round(point.sigma_w2, 5), round(point.q_star, 5)) == (1.76095, 0.57005)


def test_tanh_without_bias_is_critical_at_one():
    # q* = 0 for sigma_w2 <= 1 and chi1(q = 0) = sigma_w2 tanh'(0)^2 = sigma_w2
    point = th.critical_point("tanh", 0.0)
    assert point.sigma_w2 == pytest.approx(1.0, abs=1e-12)
    assert point.q_star == 0.0


def test_reference_facts_tanh_sigma_w2_1():
    # REFERENCE.md: at sigma_w2 = 1.0, sigma_b2 = 0.05 (tanh): q* = 0.1936, chi1 = 0.7590
    q = th.fixed_point("tanh", sigma_w2=1.0, sigma_b2=0.05)
    assert q == pytest.approx(0.1936, abs=5e-5)
    assert th.chi1("tanh", sigma_w2=1.0, sigma_b2=0.05) == pytest.approx(0.7590, abs=5e-5)
    # and exactly the fixed point / chi1 of the independent quadrature
    assert q == pytest.approx(1.0 * expect(lambda z: math.tanh(math.sqrt(q) * z) ** 2) + 0.05,
                              abs=1e-13)
    s = math.sqrt(q)
    assert th.chi1("tanh", sigma_w2=1.0, sigma_b2=0.05) == pytest.approx(
        expect(lambda z: (1 - math.tanh(s * z) ** 2) ** 2), abs=1e-13)


def test_relu_critical_point_is_2_0():
    point = th.critical_point("relu", 0.0)
    assert point.sigma_w2 == pytest.approx(2.0, abs=1e-12)
    assert point.q_star == 0.0
    assert point.chi1 == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("sigma_w2", [0.5, 1.0, 1.5, 1.9])
@pytest.mark.parametrize("sigma_b2", [0.0, 0.05, 1.0])
def test_relu_closed_forms(sigma_w2, sigma_b2):
    # V(q) = sigma_w2 q / 2 + sigma_b2 (E[relu(z)^2] = 1/2), so q* = sigma_b2/(1 - sigma_w2/2);
    # chi1 = sigma_w2 E[step(z)^2] = sigma_w2 / 2 (He et al. 2015; REFERENCE.md).
    kwargs = {"sigma_w2": sigma_w2, "sigma_b2": sigma_b2}
    assert th.fixed_point("relu", **kwargs) == pytest.approx(
        sigma_b2 / (1 - sigma_w2 / 2), rel=1e-13, abs=1e-300)
    assert th.chi1("relu", **kwargs) == pytest.approx(sigma_w2 / 2, rel=1e-13)
    assert th.variance_map("relu", 3.0, **kwargs) == pytest.approx(1.5 * sigma_w2 + sigma_b2,
                                                                   rel=1e-13)
    scales = th.depth_scales("relu", **kwargs)
    # ordered phase: c* = 1, xi_c = -1/ln chi1; phi'' phi = 0, so xi_q = xi_c
    assert scales.c_star == 1.0
    assert scales.xi_c == pytest.approx(-1 / math.log(sigma_w2 / 2), rel=1e-12)
    assert scales.xi_q == pytest.approx(scales.xi_c, rel=1e-12)


@pytest.mark.parametrize("c", [-1.0, -0.7, 0.0, 0.3, 0.9, 0.999, 1.0])
def test_relu_correlation_map_is_the_arc_cosine_kernel(c):
    # Cho & Saul 2009: E[relu(u1) relu(u2)] = q (sqrt(1-c^2) + (pi - arccos c) c) / (2 pi)
    q, sigma_w2, sigma_b2 = 0.8, 1.6, 0.1
    kernel = q * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / (2 * math.pi)
    expected = (sigma_w2 * kernel + sigma_b2) / (sigma_w2 * q / 2 + sigma_b2)
    got = th.correlation_map("relu", c, sigma_w2=sigma_w2, sigma_b2=sigma_b2, q=q)
    assert got == pytest.approx(expected, abs=1e-13)


def test_relu_correlation_map_normalises_by_q_star_by_default():
    q_star = th.fixed_point("relu", sigma_w2=1.5, sigma_b2=0.1)
    assert q_star == pytest.approx(0.4, rel=1e-13)
    assert th.correlation_map("relu", 1.0, sigma_w2=1.5, sigma_b2=0.1) == pytest.approx(
        1.0, abs=1e-13)


# SELU: Klambauer et al. 2017 define (alpha, lambda) by the fixed point mean 0, variance 1
# of z -> selu(z), z ~ N(0, 1). Re-derive them here and check the library's constants.
def _selu_fixed_point_constants() -> tuple[float, float]:
    def equations(params):
        alpha, lam = params
        neg = lambda f: integrate.quad(  # noqa: E731
            lambda z: f(z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), -math.inf, 0,
            epsabs=1e-14, epsrel=1e-12)[0]
        mean = lam * (1 / math.sqrt(2 * math.pi) + alpha * neg(math.expm1))
        second = lam**2 * (0.5 + alpha**2 * neg(lambda z: math.expm1(z) ** 2))
        return [mean, second - 1.0]

    alpha, lam = optimize.fsolve(equations, [1.7, 1.05], xtol=1e-13)
    return alpha, lam


def test_selu_constants():
    from paraminit.core.gains import SELU_ALPHA, SELU_LAMBDA

    alpha, lam = _selu_fixed_point_constants()
    library = {"alpha": SELU_ALPHA, "lambda": SELU_LAMBDA}
    assert library["alpha"] == pytest.approx(alpha, abs=1e-12)
    assert library["lambda"] == pytest.approx(lam, abs=1e-12)
    assert library["alpha"] == pytest.approx(1.6732632423543772848, abs=1e-15)  # Eq. 14
    assert library["lambda"] == pytest.approx(1.0507009873554804934, abs=1e-15)


def test_selu_fixed_point_is_one_with_lecun_init():
    # LeCun normal: Var = 1/fan_in, i.e. sigma_w2 = 1, no bias: q* = E[selu(z)^2] = 1.
    assert th.fixed_point("selu", sigma_w2=1.0, sigma_b2=0.0) == pytest.approx(1.0, abs=1e-12)
    assert th.variance_map("selu", 1.0, sigma_w2=1.0, sigma_b2=0.0) == pytest.approx(
        1.0, abs=1e-13)
    # chi1 = lambda^2 (1/2 + alpha^2 E[e^{2z}; z < 0]) = lambda^2 (1/2 + alpha^2 e^2 Phi(-2)):
    # SELU at LeCun init is slightly chaotic (chi1 > 1).
    from paraminit.core.gains import SELU_ALPHA, SELU_LAMBDA

    expected = SELU_LAMBDA**2 * (0.5 + SELU_ALPHA**2 * math.e**2 * special.ndtr(-2.0))
    got = th.chi1("selu", sigma_w2=1.0, sigma_b2=0.0)
    assert got == pytest.approx(expected, abs=1e-13)
    assert got == pytest.approx(1.0715749924, abs=1e-9)


@pytest.mark.parametrize("sigma_w2", [0.25, 0.5, 0.9])
def test_linear_network(sigma_w2):
    # phi = identity: V(q) = sigma_w2 q + sigma_b2, chi1 = sigma_w2, c map is linear in c.
    assert th.fixed_point("linear", sigma_w2=sigma_w2, sigma_b2=0.3) == pytest.approx(
        0.3 / (1 - sigma_w2), rel=1e-13)
    assert th.chi1("linear", sigma_w2=sigma_w2, sigma_b2=0.3) == pytest.approx(sigma_w2,
                                                                               rel=1e-13)
    q = 0.3 / (1 - sigma_w2)
    got = th.correlation_map("linear", 0.25, sigma_w2=sigma_w2, sigma_b2=0.3)
    assert got == pytest.approx((sigma_w2 * q * 0.25 + 0.3) / q, abs=1e-13)
    moments = th.isometry_moments("linear", sigma_w2=sigma_w2, sigma_b2=0.3)
    assert moments.variance_slope_orthogonal == pytest.approx(0.0, abs=1e-13)
    assert moments.variance_slope_gaussian == pytest.approx(1.0, abs=1e-13)


def test_depth_scales_tanh_reference_point():
    scales = th.depth_scales("tanh", sigma_w2=1.0, sigma_b2=0.05)
    assert scales.c_star == 1.0
    assert scales.chi1 == pytest.approx(0.7590, abs=5e-5)
    assert scales.xi_c == pytest.approx(-1 / math.log(scales.chi1), rel=1e-14)
    # xi_q^-1 = -ln dV/dq at q*: check against a numerical derivative of the q map
    q = scales.q_star
    h = 1e-5
    slope = (th.variance_map("tanh", q + h, sigma_w2=1.0, sigma_b2=0.05)
             - th.variance_map("tanh", q - h, sigma_w2=1.0, sigma_b2=0.05)) / (2 * h)
    assert math.exp(-1 / scales.xi_q) == pytest.approx(slope, abs=1e-9)
    assert scales.max_trainable_depth == 6 * scales.xi_c


def test_xi_c_diverges_at_criticality():
    point = th.critical_point("tanh", 0.05)
    at = th.depth_scales("tanh", sigma_w2=point.sigma_w2, sigma_b2=0.05)
    assert at.xi_c == math.inf
    assert at.c_star == 1.0
    # and grows without bound on approach, from both phases
    previous = 0.0
    for offset in (0.3, 0.1, 0.01, 0.001):
        below = th.depth_scales("tanh", sigma_w2=point.sigma_w2 - offset, sigma_b2=0.05)
        assert below.xi_c > previous
        previous = below.xi_c
    assert previous > 1000
    above = th.depth_scales("tanh", sigma_w2=point.sigma_w2 + 0.001, sigma_b2=0.05)
    assert above.c_star < 1.0 and above.xi_c > 1000


def test_chaotic_phase_correlation_fixed_point():
    sigma_w2, sigma_b2 = 4.0, 0.05
    c_star = th.correlation_fixed_point("tanh", sigma_w2=sigma_w2, sigma_b2=sigma_b2)
    assert 0.0 < c_star < 1.0
    assert th.correlation_map("tanh", c_star, sigma_w2=sigma_w2, sigma_b2=sigma_b2) == (
        pytest.approx(c_star, abs=1e-12))
    scales = th.depth_scales("tanh", sigma_w2=sigma_w2, sigma_b2=sigma_b2)
    assert scales.chi1 > 1.0 > scales.chi_c
    # chi_c is the c map's slope at c* (Price's theorem), Schoenholz et al. 2017, Eq. 9
    h = 1e-5
    slope = (th.correlation_map("tanh", c_star + h, sigma_w2=sigma_w2, sigma_b2=sigma_b2)
             - th.correlation_map("tanh", c_star - h, sigma_w2=sigma_w2, sigma_b2=sigma_b2)
             ) / (2 * h)
    assert scales.chi_c == pytest.approx(slope, abs=1e-8)
    assert scales.xi_c == pytest.approx(-1 / math.log(scales.chi_c), rel=1e-14)


def test_odd_activation_without_bias_decorrelates_to_zero():
    # tanh is odd: with sigma_b2 = 0 the chaotic c map is odd and c* = 0
    c_star = th.correlation_fixed_point("tanh", sigma_w2=3.0, sigma_b2=0.0)
    assert c_star == pytest.approx(0.0, abs=1e-12)


def test_isometry_moments_relu_and_tanh():
    relu = th.isometry_moments("relu", sigma_w2=2.0, sigma_b2=0.0)
    # phi'^2 = phi'^4 = step: mu1 = mu2 = 1/2 (Pennington et al. 2017: ReLU cannot be isometric)
    # (the half-line rule's weights sum to 1/2 within ~1e-14)
    assert relu.mu1 == pytest.approx(0.5, abs=1e-13)
    assert relu.mu2 == pytest.approx(0.5, abs=1e-13)
    assert relu.chi == pytest.approx(1.0, abs=1e-12)
    assert relu.variance_slope_gaussian == pytest.approx(2.0, abs=1e-13)
    assert relu.variance_slope_orthogonal == pytest.approx(1.0, abs=1e-13)
    assert relu.spectrum_variance(10, weights="orthogonal") == pytest.approx(10.0, rel=1e-12)

    point = th.critical_point("tanh", 0.05)
    tanh = th.isometry_moments("tanh", sigma_w2=point.sigma_w2, sigma_b2=0.05)
    s = math.sqrt(point.q_star)
    mu1 = expect(lambda z: (1 - math.tanh(s * z) ** 2) ** 2)
    mu2 = expect(lambda z: (1 - math.tanh(s * z) ** 2) ** 4)
    assert tanh.mu1 == pytest.approx(mu1, abs=1e-13)
    assert tanh.mu2 == pytest.approx(mu2, abs=1e-13)
    assert tanh.chi == pytest.approx(1.0, abs=1e-12)
    assert tanh.variance_slope_orthogonal == pytest.approx(mu2 / mu1**2 - 1, abs=1e-12)
    assert tanh.variance_slope_gaussian == pytest.approx(mu2 / mu1**2, abs=1e-12)
    assert tanh.spectrum_mean(7) == pytest.approx(1.0, abs=1e-10)
    # smaller q* -> phi' closer to constant -> closer to isometry (Pennington et al. §4)
    near_linear = th.isometry_moments("tanh", sigma_w2=1.0, sigma_b2=0.0, q=1e-4)
    assert near_linear.variance_slope_orthogonal < 1e-3


@pytest.mark.parametrize("name", ["sigmoid", "elu", "gelu", "silu", "softplus", "mish"])
def test_other_named_activations_match_independent_quadrature(name):
    fns = {
        "sigmoid": lambda x: special.expit(x),
        "elu": lambda x: x if x > 0 else math.expm1(x),
        "gelu": lambda x: x * special.ndtr(x),
        "silu": lambda x: x * special.expit(x),
        "softplus": lambda x: np.logaddexp(0.0, x),
        "mish": lambda x: x * math.tanh(np.logaddexp(0.0, x)),
    }
    fn = fns[name]
    sigma_w2, sigma_b2 = 1.3, 0.2
    q = th.fixed_point(name, sigma_w2=sigma_w2, sigma_b2=sigma_b2)
    s = math.sqrt(q)
    assert q == pytest.approx(sigma_w2 * expect(lambda z: fn(s * z) ** 2) + sigma_b2, abs=1e-12)
    # central difference on the independent side: truncation h^2 |phi'''| / 6 and rounding
    # eps / h are both ~1e-11 at h = 1e-5, so quad is asked for 1e-10, the chi1 check for 1e-8
    step = 1e-5
    derivative = lambda x: (fn(x + step) - fn(x - step)) / (2 * step)  # noqa: E731
    expected = sigma_w2 * expect(lambda z: derivative(s * z) ** 2, epsabs=1e-10)
    assert th.chi1(name, sigma_w2=sigma_w2, sigma_b2=sigma_b2) == pytest.approx(expected,
                                                                                abs=1e-8)
