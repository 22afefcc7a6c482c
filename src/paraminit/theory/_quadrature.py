"""Gaussian expectations for the mean-field maps, on the rule of :mod:`paraminit.core.gains`.

One dimension: E[f(sqrt(q) z)], z ~ N(0, 1), is the half-line Gauss-Legendre rule of
``core.gains._half_line_rule`` (the N(0,1) density folded into the weights, nodes on
[0, 12]) applied to z > 0 and z < 0 separately, so a kink at 0 sits on the boundary of both
pieces and each piece is smooth.

Two dimensions (the correlation map): E[f(u1) g(u2)] with u1 = sqrt(q) z1 and
u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2) in polar coordinates z = r (cos t, sin t), where
u1 = sqrt(q) r cos t and u2 = sqrt(q) r cos(t - t0), t0 = arccos c. The kinks u1 = 0 and
u2 = 0 are then the rays t = t0' + pi/2 (mod pi): the angle is split there into arcs, each
integrated by Gauss-Legendre, and along each ray the radius has the same half-line rule
(the factor r e^{-r^2/2} / 2pi = r N(r) / sqrt(2pi) uses the folded weights times r).

Both check convergence: a moment that diverges (phi(x) = exp(x^2) at q >= 1/4) or
overflows is reported as an :class:`InitError`, never returned as a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import numpy as np

from .._errors import InitError
from ..core.gains import _HALF_RANGE, _half_line_rule

__all__ = [
    "DivergentIntegral",
    "ZERO_VARIANCE_STD",
    "bivariate_expectation",
    "gaussian_expectation",
]

Array = np.ndarray

# Nodes per half line: numeric_gain's default, exact to ~1e-15 for the activations here.
RADIAL_POINTS = 96
# Gauss-Legendre nodes per arc of angle (up to 4 arcs). Measured error of E[tanh(u1) tanh(u2)]
# against scipy dblquad at q = 16, c = 0.8 (steep tanh, the hardest case here): 24 nodes
# 1.1e-9, 32 nodes 3.4e-12, 48 nodes 1e-16; ReLU's closed-form arc-cosine kernel is met to
# 4e-15 at every count (the kinks sit on the arc ends).
ANGLE_POINTS = 48

# q = 0 is evaluated as the limit q -> 0+: with std 1e-50 every node lies within 1.2e-49 of
# 0 on its own side, so phi, phi', phi'' take their one-sided limits there (relu'(0+) = 1,
# relu'(0-) = 0) to float64 precision, and products of two values (~1e-100) stay far above
# the smallest normal double (2.2e-308).
ZERO_VARIANCE_STD = 1e-50

# Convergence test: for an integrand decaying like a Gaussian the share of the total carried
# by the last unit of the range, |z| in [11, 12], is below e^{-60}; even e^{4|z|} N(z) keeps it
# near 1e-11. A share above 1e-10 means the integrand is still significant where the rule
# stops at 12, so the mass beyond is not negligible: the moment diverges or is too
# heavy-tailed for the rule (exp(x^2) at q = 0.2 carries 2.5e-6 there).
_TAIL_START = _HALF_RANGE - 1.0
_TAIL_SHARE = 1e-10


class DivergentIntegral(InitError):
    """A Gaussian moment of the activation is infinite, overflows, or is too heavy-tailed."""


def _check(terms: Array, tail: Array, what: str) -> float:
    if not np.all(np.isfinite(terms)):
        raise DivergentIntegral(
            f"{what} is not finite (the integrand overflows or is NaN at |z| <= "
            f"{_HALF_RANGE:g}): the Gaussian moment diverges; pass an activation whose "
            "moments E[phi(sqrt(q) z)^2], E[phi'(sqrt(q) z)^2] are finite"
        )
    magnitude = float(np.sum(np.abs(terms)))
    if magnitude == 0.0:
        return 0.0
    share = float(np.sum(np.abs(terms[tail]))) / magnitude
    if share > _TAIL_SHARE:
        raise DivergentIntegral(
            f"{what} does not converge: {share:.2g} of the integral sits at |z| in "
            f"[{_TAIL_START:g}, {_HALF_RANGE:g}], where a Gaussian moment should carry "
            f"< {_TAIL_SHARE:g}, so the moment diverges or is too heavy-tailed (e.g. "
            "phi(x) = exp(x^2) has E[phi(sqrt(q) z)^2] = inf for q >= 1/4); pass an "
            "activation growing slower than exp(x^2 / (4 q))"
        )
    return float(np.sum(terms))


def _std(q: float) -> float:
    return math.sqrt(q) if q > 0.0 else ZERO_VARIANCE_STD


@cache
def _line_rule() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes on both half lines (z > 0 then z < 0), their weights, and the tail mask."""
    x, w = _half_line_rule(RADIAL_POINTS)
    return np.concatenate([x, -x]), np.concatenate([w, w]), np.concatenate([x, x]) > _TAIL_START


def gaussian_expectation(integrand: Callable[[Array], Array], q: float, *, what: str) -> float:
    """E[integrand(sqrt(q) z)], z ~ N(0, 1), by the half-line rule on z > 0 and z < 0."""
    z, w, tail = _line_rule()
    with np.errstate(all="ignore"):
        terms = w * integrand(_std(q) * z)
    return _check(terms, tail, what)


@cache
def _arc_rule() -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(ANGLE_POINTS)


def _angles(c: float) -> tuple[Array, Array, float]:
    """Angular nodes and weights on [0, 2pi), split where u1 = 0 or u2 = 0."""
    t0 = math.acos(c)
    breaks = np.sort(np.mod([math.pi / 2, 3 * math.pi / 2, t0 + math.pi / 2,
                             t0 + 3 * math.pi / 2], 2 * math.pi))
    breaks = breaks[np.concatenate([[True], np.diff(breaks) > 1e-15])]
    ends = np.append(breaks[1:], breaks[0] + 2 * math.pi)
    nodes, weights = _arc_rule()
    half = (ends - breaks)[:, None] / 2.0
    theta = (breaks[:, None] + half * (nodes[None, :] + 1.0)).ravel()
    return theta, (half * weights[None, :]).ravel(), t0


def bivariate_expectation(
    f: Callable[[Array], Array],
    g: Callable[[Array], Array],
    q: float,
    c: float,
    *,
    what: str,
) -> float:
    """E[f(u1) g(u2)] for (u1, u2) Gaussian, variances q, correlation c (polar rule)."""
    x, w = _half_line_rule(RADIAL_POINTS)
    theta, omega, t0 = _angles(c)
    std = _std(q)
    r = x[:, None]
    weights = (w * x)[:, None] * omega[None, :] / math.sqrt(2.0 * math.pi)
    with np.errstate(all="ignore"):
        values = f(std * r * np.cos(theta)[None, :]) * g(std * r * np.cos(theta - t0)[None, :])
        terms = weights * values
    return _check(terms, np.broadcast_to(r > _TAIL_START, terms.shape), what)
