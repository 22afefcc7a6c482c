"""Mean-field signal propagation in wide random networks (Poole 2016, Schoenholz 2017).

A fully connected layer h^l = W^l phi(h^{l-1}) + b^l with W_ij ~ N(0, sigma_w2 / N) and
b_i ~ N(0, sigma_b2), N -> infinity. Every result here is a Gaussian expectation computed
by the split quadrature of :mod:`._quadrature`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from .._errors import InitError
from ..core import validate
from ._activation import Activation, ActivationLike, resolve_activation
from ._quadrature import (
    ZERO_VARIANCE_STD,
    DivergentIntegral,
    bivariate_expectation,
    gaussian_expectation,
)

__all__ = [
    "CriticalPoint",
    "DepthScales",
    "NoFixedPoint",
    "chi1",
    "correlation_fixed_point",
    "correlation_map",
    "critical_point",
    "depth_scales",
    "fixed_point",
    "variance_map",
]

# Quadrature results carry a relative error of ~1e-15 (core/gains.py measures E[relu^2] = 1/2
# to 1e-15); a growth ratio V(q)/q, a slope chi, or chi1 - 1 within 1e-12 of its threshold is
# therefore indistinguishable from it and is treated as marginal (1000x the noise floor).
_MARGINAL = 1e-12

# The q* scan runs over q = 1e-24 * 4^k (pre-activation std 1e-12 and up; a dip of V(q)
# below q narrower than a factor 4, which happens only next to a saddle-node, can be stepped
# over). It stops at q = 1e12 (std 1e6) and calls anything beyond divergent: float16
# activations overflow at 6.6e4 already, and in float32 a bias variance ~0.05 is below the
# resolution of such a q (1e12 * 6e-8), so no usable initialisation sits there.
_Q_MIN = 1e-24
_Q_MAX = 1e12
_Q_GROWTH = 4.0
# Below 1e-24 (V(0) > 0 but tiny) the search steps down 8 decades at a time to 1e-300,
# near the smallest normal double (2.2e-308).
_Q_SHRINK = 1e8
_Q_FLOOR = 1e-300

# The critical-line scan doubles sigma_w2 from 2^-10 to 2^30: criticality needs
# sigma_w2 ~ 1 / E[phi'(h)^2], so this covers activations whose slope is between ~3e-5 and ~30.
_S_MIN_EXP, _S_MAX_EXP = -10, 30
# Domain-edge bisection stops when the bracket is this narrow relative to sigma_w2: finer
# than the 1e-12 margin above, so a marginal point such as ReLU at (2, 0) is not missed.
_EDGE_RTOL = 1e-14

# c* scan: 1 - c = 1e-9 * 4^j, j = 0..15, then c = -1. A stable c* within 1e-9 of 1 (only
# when chi1 - 1 < ~1e-9) is reported as 1.
_C_GAP_MIN = 1e-9
_C_GAP_GROWTH = 4.0

# One-sided numeric derivatives are good to ~1e-10 relative (_activation.py), so phi'(0+)
# and phi'(0-) differing by more than 1e-6 relative is a real kink, not rounding.
_JUMP_RTOL = 1e-6

# A critical point must have |chi1 - 1| below this; brentq's own tolerance (4 eps relative
# on sigma_w2) leaves ~1e-15, so a larger miss means a discontinuity, not a root.
_CHI1_ATOL = 1e-9

# brentq's smallest allowed relative tolerance is 4 eps; the absolute one only has to be
# below every scale here (the smallest bracket is [0, 1e-24]).
_RTOL = 4.0 * float(np.finfo(np.float64).eps)
_XTOL = 1e-300


class NoFixedPoint(InitError):
    """The variance map has no finite fixed point q*, or the critical line has no point."""


def _variance(argument: str, value: object) -> float:
    number = validate.real(argument, value)
    if number < 0:
        raise InitError(f"{argument} must be >= 0 (it is a variance); received {value!r}")
    return number


def _correlation(value: object) -> float:
    number = validate.real("c", value)
    if not -1 <= number <= 1:
        raise InitError(f"c must be a correlation, a number in [-1, 1]; received {value!r}")
    return number


def _brentq(fn: Callable[[float], float], low: float, high: float) -> float:
    return float(optimize.brentq(fn, low, high, xtol=_XTOL, rtol=_RTOL))


def _log_brentq(fn: Callable[[float], float], low: float, high: float) -> float:
    """Root of fn in [low, high] > 0 found in log q: scale-free, so q = 1e-200 converges
    too (brentq's secant products of tiny values underflow on the linear scale)."""
    return math.exp(_brentq(lambda t: fn(math.exp(t)), math.log(low), math.log(high)))


@dataclass(frozen=True)
class _MeanField:
    """One (activation, sigma_w2, sigma_b2) and the maps of Poole et al. 2016."""

    act: Activation
    sigma_w2: float
    sigma_b2: float

    def _what(self, moment: str, q: float) -> str:
        return f"{moment} for activation {self.act.name!r} at q = {q:.6g}"

    def variance(self, q: float) -> float:
        """Poole et al. 2016, Eq. 3: V(q) = sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2."""
        second = gaussian_expectation(
            lambda u: self.act.value(u) ** 2, q, what=self._what("E[phi(sqrt(q) z)^2]", q)
        )
        return self.sigma_w2 * second + self.sigma_b2

    def chi1(self, q: float) -> float:
        """Poole et al. 2016, Eq. 7: chi1 = sigma_w2 E[phi'(sqrt(q) z)^2]."""
        moment = gaussian_expectation(
            lambda u: self.act.d1(u) ** 2, q, what=self._what("E[phi'(sqrt(q) z)^2]", q)
        )
        return self.sigma_w2 * moment

    def variance_slope(self, q: float) -> float:
        """dV/dq = chi1 + sigma_w2 E[phi'' phi] (Schoenholz et al. 2017, Eq. 8's argument).

        By Stein's lemma dV/dq = sigma_w2 E[phi'^2 + phi'' phi]. A jump J of phi' at 0 puts
        J delta(u) in phi'', contributing J phi(0) / sqrt(2 pi q) (the density of
        sqrt(q) z at 0); it vanishes for every named activation (phi(0) = 0 at their kinks).
        """
        curvature = gaussian_expectation(
            lambda u: self.act.d2(u) * self.act.value(u), q,
            what=self._what("E[phi''(sqrt(q) z) phi(sqrt(q) z)]", q),
        )
        at_zero = np.array([ZERO_VARIANCE_STD, -ZERO_VARIANCE_STD])
        with np.errstate(all="ignore"):
            right, left = self.act.d1(at_zero)
            phi0 = float(self.act.value(np.zeros(1))[0])
        jump = float(right - left)
        if phi0 != 0.0 and abs(jump) > _JUMP_RTOL * max(abs(right), abs(left)):
            curvature += jump * phi0 / math.sqrt(2.0 * math.pi * max(q, ZERO_VARIANCE_STD**2))
        return self.chi1(q) + self.sigma_w2 * curvature

    def _growth(self, q: float) -> float:
        """V(q)/q - 1: positive where the variance still grows."""
        return self.variance(q) / q - 1.0

    def q_star(self) -> float:
        """The fixed point the q map reaches from small q: the first q with V(q) <= q.

        Scans q upward on a geometric grid and refines the first sign change of V(q)/q - 1
        with brentq in log q. When V(0) = 0 (phi(0) = 0 and sigma_b2 = 0), q = 0 is itself a fixed
        point and q* = 0 if it is stable or marginal: V(q)/q <= 1 + 1e-12 at q = 1e-24.
        """
        with np.errstate(all="ignore"):
            phi0 = float(self.act.value(np.zeros(1))[0])
        v0 = self.sigma_w2 * phi0 * phi0 + self.sigma_b2
        previous = None
        q = _Q_MIN
        while q <= _Q_MAX:
            try:
                growth = self._growth(q)
            except DivergentIntegral as error:
                raise DivergentIntegral(
                    f"no fixed point q* for activation {self.act.name!r} at sigma_w2 = "
                    f"{self.sigma_w2:.8g}, sigma_b2 = {self.sigma_b2:.8g}: V(q) > q up to "
                    f"q = {previous if previous is not None else 0.0:.3g}, and then {error}"
                ) from None
            # The margin only decides whether q = 0 is stable: elsewhere a fixed point needs
            # a real sign change, so a slowly diverging q (linear phi, sigma_w2 = 1,
            # sigma_b2 > 0: V(q)/q - 1 = sigma_b2/q) is not mistaken for one.
            if previous is None and v0 <= 0.0 and growth <= _MARGINAL:
                return 0.0
            if growth <= 0.0:
                if previous is None:
                    previous = self._grows_below(q)
                    if previous is None:
                        return q
                return _log_brentq(self._growth, previous, q)
            previous, q = q, q * _Q_GROWTH
        raise NoFixedPoint(
            f"q* diverges for activation {self.act.name!r} at sigma_w2 = {self.sigma_w2:.8g}, "
            f"sigma_b2 = {self.sigma_b2:.8g}: V(q) > q for every q up to {_Q_MAX:.0e}, so the "
            "pre-activation variance grows without bound with depth; lower sigma_w2"
        )

    def _grows_below(self, high: float) -> float | None:
        """A q < high with V(q) > q, when V(0) > 0 but V(high) <= high (tiny sigma_b2).

        Steps down by _Q_SHRINK (V -> V(0) > 0 as q -> 0, so V(q)/q - 1 turns positive);
        never evaluates at q = 0 itself, whose floored std would perturb V by ~1e-100.
        None if even q = 1e-300 has V(q) <= q.
        """
        low = high / _Q_SHRINK
        while self._growth(low) <= 0.0:
            if low < _Q_FLOOR:
                return None
            low /= _Q_SHRINK
        return low

    def correlation(self, c: float, q: float) -> float:
        """Poole et al. 2016, Eq. 5, for two inputs of equal length q, normalised by V(q)."""
        covariance = bivariate_expectation(
            self.act.value, self.act.value, q, c,
            what=self._what(f"E[phi(u1) phi(u2)] (c = {c:.6g})", q),
        )
        return (self.sigma_w2 * covariance + self.sigma_b2) / self.variance(q)

    def chi_c(self, c: float, q: float) -> float:
        """Schoenholz et al. 2017, Eq. 9's argument: sigma_w2 E[phi'(u1) phi'(u2)] at (q, c)."""
        if c == 1.0:
            return self.chi1(q)
        return self.sigma_w2 * bivariate_expectation(
            self.act.d1, self.act.d1, q, c,
            what=self._what(f"E[phi'(u1) phi'(u2)] (c = {c:.6g})", q),
        )

    def c_star(self, q: float) -> float:
        """The stable fixed point of the correlation map at q = q*.

        c = 1 is always fixed; it is stable while chi1 <= 1 (ordered phase), so c* = 1.
        Otherwise (chaotic phase) c* is the largest root of c_map(c) = c below 1: c_map(c) - c
        is negative just below 1 (slope chi1 > 1) and >= 0 at c = -1.
        """
        if self.chi1(q) <= 1.0 + _MARGINAL:
            return 1.0

        def excess(c: float) -> float:
            return self.correlation(c, q) - c

        upper, gap = 1.0, _C_GAP_MIN
        while gap < 2.0:
            c = 1.0 - gap
            if excess(c) >= 0.0:
                return 1.0 if upper == 1.0 else _brentq(excess, c, upper)
            upper, gap = c, gap * _C_GAP_GROWTH
        return -1.0 if excess(-1.0) <= 0.0 else _brentq(excess, -1.0, upper)


def _field(activation: ActivationLike, sigma_w2: object, sigma_b2: object) -> _MeanField:
    return _MeanField(
        resolve_activation(activation),
        _variance("sigma_w2", sigma_w2),
        _variance("sigma_b2", sigma_b2),
    )


def _q_or_fixed_point(field: _MeanField, q: float | None) -> float:
    return field.q_star() if q is None else _variance("q", q)


def variance_map(
    activation: ActivationLike, q: float, *, sigma_w2: float, sigma_b2: float
) -> float:
    """One layer of the length map: q^l = sigma_w2 * E[phi(sqrt(q^{l-1}) z)^2] + sigma_b2.

    Poole, Lahiri, Raghu, Sohl-Dickstein & Ganguli 2016, "Exponential expressivity in deep
    neural networks through transient chaos", NeurIPS, Eq. 3. ``q`` is the pre-activation
    variance (squared length / N) of the previous layer; z ~ N(0, 1). ``activation`` is a
    name from ``paraminit.ACTIVATIONS`` or a NumPy callable.

    Example:
        >>> round(variance_map("relu", 1.0, sigma_w2=2.0, sigma_b2=0.0), 12)
        1.0
    """
    field = _field(activation, sigma_w2, sigma_b2)
    return field.variance(_variance("q", q))


def fixed_point(activation: ActivationLike, *, sigma_w2: float, sigma_b2: float) -> float:
    """q*: the fixed point of :func:`variance_map` that deep layers converge to.

    q* = sigma_w2 E[phi(sqrt(q*) z)^2] + sigma_b2 (Poole et al. 2016, Eq. 3 at its fixed
    point), the first q >= 0 where V(q) <= q, i.e. the limit of q^l from a small q^0. Found
    by a geometric scan and brentq on V(q)/q - 1. Marginal maps (ReLU at sigma_w2 = 2,
    sigma_b2 = 0, where every q is fixed) give q* = 0, the limit sigma_w2 -> 2 from below.

    Raises:
        InitError: q* diverges (e.g. ReLU with sigma_w2 > 2, or = 2 with sigma_b2 > 0), or
            a moment of phi diverges (e.g. phi(x) = exp(x^2) once q >= 1/4).

    Example:
        >>> round(fixed_point("tanh", sigma_w2=1.0, sigma_b2=0.05), 4)
        0.1936
    """
    return _field(activation, sigma_w2, sigma_b2).q_star()


def chi1(
    activation: ActivationLike, *, sigma_w2: float, sigma_b2: float, q: float | None = None
) -> float:
    """chi1 = sigma_w2 * E[phi'(sqrt(q*) z)^2], the mean squared singular value of a layer's
    Jacobian, i.e. the slope of the correlation map at c = 1.

    Poole et al. 2016, Eq. 7 (and Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, "Deep
    Information Propagation", ICLR, §3). chi1 < 1: ordered phase; chi1 > 1: chaotic;
    chi1 = 1: the edge of chaos. ``q`` defaults to q* of (sigma_w2, sigma_b2). phi' is in
    closed form for named activations and a one-sided finite difference for callables.

    Example:
        >>> round(chi1("tanh", sigma_w2=1.0, sigma_b2=0.05), 4)
        0.759
    """
    field = _field(activation, sigma_w2, sigma_b2)
    return field.chi1(_q_or_fixed_point(field, q))


def correlation_map(
    activation: ActivationLike,
    c: float,
    *,
    sigma_w2: float,
    sigma_b2: float,
    q: float | None = None,
) -> float:
    """One layer of the correlation map for two inputs of equal length q.

    c^l = (sigma_w2 E[phi(u1) phi(u2)] + sigma_b2) / q^l, u1 = sqrt(q) z1,
    u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2) (Poole et al. 2016, Eq. 5, with q^l = V(q) of
    :func:`variance_map`; at the default q = q* the denominator is q* as in the paper).

    Example:
        >>> round(correlation_map("relu", 0.0, sigma_w2=2.0, sigma_b2=0.0, q=1.0), 12)
        0.318309886184
    """
    field = _field(activation, sigma_w2, sigma_b2)
    return field.correlation(_correlation(c), _q_or_fixed_point(field, q))


def correlation_fixed_point(
    activation: ActivationLike, *, sigma_w2: float, sigma_b2: float
) -> float:
    """c*: the stable fixed point of :func:`correlation_map` at q = q*.

    c* = 1 in the ordered phase (chi1 <= 1); in the chaotic phase (chi1 > 1) the largest
    c < 1 with c_map(c) = c (Poole et al. 2016, §3; Schoenholz et al. 2017, §3).

    Example:
        >>> correlation_fixed_point("tanh", sigma_w2=1.0, sigma_b2=0.05)
        1.0
    """
    field = _field(activation, sigma_w2, sigma_b2)
    return field.c_star(field.q_star())


@dataclass(frozen=True)
class CriticalPoint:
    """A point on the edge of chaos: chi1(sigma_w2, q*) = 1 at the given sigma_b2."""

    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi1: float


def critical_point(activation: ActivationLike, sigma_b2: float = 0.0) -> CriticalPoint:
    """(sigma_w2, q*) on the edge of chaos for ``sigma_b2``: chi1(sigma_w2, q*) = 1.

    Solves chi1(sigma_w2, q*(sigma_w2, sigma_b2)) = 1 for sigma_w2 (Schoenholz et al. 2017,
    §3; the order-to-chaos line of Poole et al. 2016, §3) with brentq, after doubling sigma_w2
    from 2^-10 until chi1 >= 1; the first crossing is returned. chi1 uses Poole et al.'s
    chi1 = sigma_w2 E[phi'(sqrt(q*) z)^2].

    Raises:
        InitError: no sigma_w2 has chi1 = 1 with a finite q*, e.g. ReLU with sigma_b2 > 0,
            whose chi1 = sigma_w2 / 2 reaches 1 only at sigma_w2 = 2, where
            q* = sigma_b2 / (1 - sigma_w2 / 2) diverges.

    Example:
        >>> point = critical_point("tanh", 0.05)
        >>> round(point.sigma_w2, 5), round(point.q_star, 5)
        (1.76095, 0.57005)
    """
    act = resolve_activation(activation)
    bias = _variance("sigma_b2", sigma_b2)

    def excess(sigma_w2: float) -> tuple[float, float]:
        field = _MeanField(act, sigma_w2, bias)
        q = field.q_star()
        return field.chi1(q) - 1.0, q

    def point(sigma_w2: float) -> CriticalPoint:
        field = _MeanField(act, sigma_w2, bias)
        q = field.q_star()
        found = CriticalPoint(sigma_w2, bias, q, field.chi1(q))
        if abs(found.chi1 - 1.0) <= _CHI1_ATOL:
            return found
        # brentq closed in on a discontinuity: q* jumps to another branch (a saddle-node of
        # the q map) and chi1 jumps across 1 with it. Show q* just either side (1e-12
        # relative, well above brentq's 4 eps resolution).
        below, above = (_MeanField(act, sigma_w2 * (1.0 + side * 1e-12), bias).q_star()
                        for side in (-1.0, 1.0))
        raise NoFixedPoint(
            f"{act.name!r} has no critical point at sigma_b2 = {bias:.8g} on the fixed point "
            f"reached from small q: at sigma_w2 = {sigma_w2:.12g} q* jumps from {below:.6g} "
            f"to {above:.6g} (the fixed point merges with an unstable one and vanishes) and "
            f"chi1 jumps across 1 (to {found.chi1:.6g}) instead of passing through it; try "
            "another sigma_b2"
        )

    low, high = 0.0, None  # chi1 = 0 at sigma_w2 = 0
    for exponent in range(_S_MIN_EXP, _S_MAX_EXP + 1):
        sigma_w2 = 2.0**exponent
        try:
            gap, _ = excess(sigma_w2)
        except (NoFixedPoint, DivergentIntegral) as error:
            high, reason = sigma_w2, error
            break
        if gap >= 0.0:
            return point(_brentq(lambda s: excess(s)[0], low, sigma_w2))
        low = sigma_w2
    else:
        raise NoFixedPoint(
            f"{act.name!r} has no critical point at sigma_b2 = {bias:.8g}: chi1 < 1 for every "
            f"sigma_w2 up to 2^{_S_MAX_EXP}"
        )
    # q* stops existing between low and high: bisect towards that edge, looking for chi1 >= 1.
    while high - low > _EDGE_RTOL * high:
        middle = 0.5 * (low + high)
        try:
            gap, _ = excess(middle)
        except (NoFixedPoint, DivergentIntegral) as error:
            high, reason = middle, error
            continue
        if gap >= 0.0:
            return point(_brentq(lambda s: excess(s)[0], low, middle))
        low = middle
    gap, q = excess(low)
    raise NoFixedPoint(
        f"{act.name!r} has no critical point at sigma_b2 = {bias:.8g}: chi1 stays below 1 "
        f"(chi1 = {gap + 1.0:.12g} at sigma_w2 = {low:.12g}, q* = {q:.6g}) until q* stops "
        f"existing at sigma_w2 = {high:.12g} ({reason}). Criticality needs a smaller "
        "sigma_b2; for ReLU, chi1 = sigma_w2 / 2 and q* = sigma_b2 / (1 - sigma_w2 / 2), so "
        "only sigma_b2 = 0 has one, at sigma_w2 = 2"
    )


@dataclass(frozen=True)
class DepthScales:
    """Depth scales of Schoenholz et al. 2017 at (sigma_w2, sigma_b2) and its fixed points.

    ``xi_q``: layers over which q^l approaches q*; ``xi_c``: layers over which the correlation
    of two inputs approaches c* (math.inf on the edge of chaos). ``chi_c`` is the slope of the
    correlation map at c* (equal to ``chi1`` when c* = 1).
    """

    xi_q: float
    xi_c: float
    sigma_w2: float
    sigma_b2: float
    q_star: float
    c_star: float
    chi1: float
    chi_c: float

    @property
    def max_trainable_depth(self) -> float:
        """6 xi_c: Schoenholz et al. 2017 find networks train while depth <~ 6 xi_c."""
        return 6.0 * self.xi_c


def _depth_scale(slope: float) -> float:
    """-1/ln|slope| for a linearised map with that slope; inf at |slope| = 1.

    A stable fixed point has |slope| <= 1; above 1 (only within the marginal tolerance of
    a q* = 0 or c* = 1 that is just unstable) perturbations no longer decay: inf.
    """
    magnitude = abs(slope)
    if magnitude == 0.0:
        return 0.0
    if abs(magnitude - 1.0) <= _MARGINAL or magnitude > 1.0:
        return math.inf
    return -1.0 / math.log(magnitude)


def depth_scales(activation: ActivationLike, *, sigma_w2: float, sigma_b2: float) -> DepthScales:
    """xi_q and xi_c (Schoenholz et al. 2017, "Deep Information Propagation", Eq. 8-9).

    xi_q^-1 = -ln[chi1 + sigma_w2 E[phi''(sqrt(q*) z) phi(sqrt(q*) z)]] (the slope dV/dq at
    q*, Eq. 8), and xi_c^-1 = -ln[sigma_w2 E[phi'(u1) phi'(u2)]] at (q*, c*) (Eq. 9), which
    is -ln chi1 when c* = 1 (ordered phase). xi_c = inf on the edge of chaos (chi1 = 1), and
    signals then propagate through any depth; networks train while depth <~ 6 xi_c.

    Note:
        At q* = 0 (sigma_b2 = 0 in the ordered phase) these are the paper's formulas at
        q* = 0: ReLU gives xi_c = -1/ln(sigma_w2/2), although its normalised correlation
        map (:func:`correlation_map`) is then independent of sigma_w2.

    Example:
        >>> scales = depth_scales("tanh", sigma_w2=1.0, sigma_b2=0.05)
        >>> round(scales.xi_c, 4)
        3.627
    """
    field = _field(activation, sigma_w2, sigma_b2)
    q = field.q_star()
    c = field.c_star(q)
    chi_1 = field.chi1(q)
    chi_c = chi_1 if c == 1.0 else field.chi_c(c, q)
    return DepthScales(
        xi_q=_depth_scale(field.variance_slope(q)),
        xi_c=_depth_scale(chi_c),
        sigma_w2=field.sigma_w2,
        sigma_b2=field.sigma_b2,
        q_star=q,
        c_star=c,
        chi1=chi_1,
        chi_c=chi_c,
    )
