"""Gains: torch's calculate_gain table exactly, and second-moment gains by quadrature.

The second moments are checked against scipy.integrate.quad of activations written here
from their definitions (not the library's ACTIVATIONS), split at 0 where the kinks are.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

import paraminit as pi

SELU_ALPHA = 1.6732632423543772  # Klambauer et al. 2017, Eq. 14
SELU_LAMBDA = 1.0507009873554805


def _phi(z: float) -> float:
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


REFERENCE_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: max(x, 0.0),
    "tanh": math.tanh,
    "sigmoid": lambda x: 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x)),
    "selu": lambda x: SELU_LAMBDA * (x if x > 0 else SELU_ALPHA * math.expm1(x)),
    "elu": lambda x: x if x > 0 else math.expm1(x),
    "gelu": lambda x: x * 0.5 * (1 + math.erf(x / math.sqrt(2))),
    "silu": lambda x: x / (1 + math.exp(-x)) if x >= 0 else x * math.exp(x) / (1 + math.exp(x)),
    "mish": lambda x: x * math.tanh(_softplus(x)),
    "softplus": _softplus,
}


def second_moment(fn) -> float:
    """E[fn(z)^2], z ~ N(0,1), by adaptive quadrature on each half line."""
    total = 0.0
    for low, high in ((-math.inf, 0.0), (0.0, math.inf)):
        value, error = integrate.quad(lambda z: fn(z) ** 2 * _phi(z), low, high,
                                      epsabs=1e-14, epsrel=1e-13, limit=200)
        assert error < 1e-11
        total += value
    return total


# ---------------------------------------------------------------------------------------
# torch's table


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("linear", 1.0), ("conv1d", 1.0), ("conv2d", 1.0), ("conv3d", 1.0),
        ("conv_transpose1d", 1.0), ("conv_transpose2d", 1.0), ("conv_transpose3d", 1.0),
        ("sigmoid", 1.0),
        ("tanh", 5.0 / 3.0),
        ("relu", math.sqrt(2.0)),
        ("leaky_relu", 1.4141428569978354),  # sqrt(2 / (1 + 0.01^2))
        ("selu", 0.75),
    ],
)
def test_torch_gain_table(name, expected):
    assert pi.gain(name) == expected


def test_leaky_relu_slopes():
    assert pi.gain("leaky_relu", 0.2) == pytest.approx(1.3867505, rel=5e-8)
    for slope in (0.0, 0.01, 0.1, 0.5, 1.0, 3.0, -0.2):
        assert pi.gain("leaky_relu", slope) == pytest.approx(
            math.sqrt(2 / (1 + slope**2)), rel=1e-15)
    assert pi.gain("leaky_relu", 0) == math.sqrt(2)  # int param is accepted


def test_gain_table_entries_documented():
    for name, entry in pi.GAINS.items():
        assert entry.formula and entry.source, name
    assert pi.GAINS["swish"] is pi.GAINS["silu"]


# ---------------------------------------------------------------------------------------
# second-moment gains


def test_numeric_gain_exact_cases():
    assert pi.numeric_gain("relu") == pytest.approx(math.sqrt(2), abs=1e-12)
    assert pi.numeric_gain("linear") == pytest.approx(1.0, abs=1e-12)
    # SELU's fixed point: E[selu(z)^2] = 1 (Klambauer et al. 2017)
    assert pi.numeric_gain("selu") == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 0.5])
def test_numeric_gain_leaky_relu_formula(slope):
    # E[lrelu(z)^2] = (1 + a^2)/2 (He et al. 2015 Eq. 15)
    got = pi.numeric_gain(lambda x: np.where(x > 0, x, slope * x))
    assert got == pytest.approx(math.sqrt(2 / (1 + slope**2)), abs=1e-12)


def test_tanh_second_moment_independent():
    moment = second_moment(math.tanh)
    assert moment == pytest.approx(0.39429449, abs=5e-9)  # REFERENCE.md
    assert pi.numeric_gain("tanh") == pytest.approx(1 / math.sqrt(moment), abs=1e-9)
    assert pi.numeric_gain("tanh") == pytest.approx(1 / math.sqrt(0.39429449), rel=1e-8)


def test_relu_second_moment_half():
    assert second_moment(REFERENCE_ACTIVATIONS["relu"]) == pytest.approx(0.5, abs=1e-13)


@pytest.mark.parametrize("name", sorted(REFERENCE_ACTIVATIONS))
def test_numeric_gain_matches_quad(name):
    expected = 1 / math.sqrt(second_moment(REFERENCE_ACTIVATIONS[name]))
    assert pi.numeric_gain(name) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("name", ["gelu", "silu", "swish", "elu", "mish", "softplus"])
def test_gain_for_names_torch_lacks(name):
    fn = REFERENCE_ACTIVATIONS["silu" if name == "swish" else name]
    assert pi.gain(name) == pytest.approx(1 / math.sqrt(second_moment(fn)), abs=1e-9)


def test_elu_alpha_param():
    alpha = 0.5
    expected = 1 / math.sqrt(second_moment(lambda x: x if x > 0 else alpha * math.expm1(x)))
    assert pi.gain("elu", alpha) == pytest.approx(expected, abs=1e-9)


def test_numeric_gain_callable_and_points():
    assert pi.numeric_gain(np.tanh, points=200) == pytest.approx(
        pi.numeric_gain("tanh"), abs=1e-12)


def test_gain_differs_from_torch_where_documented():
    # tanh 1.5925 vs 5/3, sigmoid 1.8462 vs 1, selu 1.0 vs 3/4
    assert pi.numeric_gain("tanh") == pytest.approx(1.5925, abs=1e-4)
    assert pi.numeric_gain("sigmoid") == pytest.approx(1.8462, abs=1e-4)
    assert pi.gain("tanh") != pytest.approx(pi.numeric_gain("tanh"), abs=1e-2)
