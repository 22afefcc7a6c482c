"""Initialisation advice from mean-field theory: sit on the edge of chaos."""

from __future__ import annotations

import math
from typing import Any, Literal

from scipy import optimize

from ..core import validate
from ._activation import Activation, ActivationLike, resolve_activation
from ._isometry import _depth
from ._meanfield import (
    NoFixedPoint,
    _MeanField,
    _variance,
    critical_point,
    depth_scales,
)
from ._quadrature import DivergentIntegral

__all__ = ["Distribution", "recommend"]

Distribution = Literal["normal", "truncated_normal", "uniform"]
_DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")

# Trainable means depth <= 6 xi_c (Schoenholz et al. 2017). Off the critical point
# xi_c = -1/ln(chi), chi the correlation map's slope at c*, so 6 xi_c >= depth
# <=> chi >= exp(-6 / depth).
_TRAINABLE_XI_C = 6.0
# Band edges are advice, not constants: brentq to 1e-10 relative is ample.
_BAND_RTOL = 1e-10
# The chaotic-side search doubles sigma_w2 up to 2^16 times the critical value; if the
# slope is still above the target there, the band has no upper end within that range.
_BAND_DOUBLINGS = 16
_EDGE_BISECTIONS = 40  # halves a factor-2 bracket to 2^-40 ~ 1e-12 relative


def _slope_at(field: _MeanField) -> float:
    """The correlation map's slope at c* (chi1 in the ordered phase, Schoenholz Eq. 9)."""
    q = field.q_star()
    c = field.c_star(q)
    return field.chi1(q) if c == 1.0 else field.chi_c(c, q)


def _band(act: Activation, sigma_b2: float, critical: float, depth: int) -> tuple[float, float]:
    """sigma_w2 range around ``critical`` where 6 xi_c >= depth."""
    target = math.exp(-_TRAINABLE_XI_C / depth)

    def gap(sigma_w2: float) -> float:
        return _slope_at(_MeanField(act, sigma_w2, sigma_b2)) - target

    # Ordered side: chi1 = 0 at sigma_w2 = 0 and 1 at the critical point.
    low = optimize.brentq(gap, 0.0, critical, rtol=_BAND_RTOL) if critical > 0 else 0.0
    good = critical
    for _ in range(_BAND_DOUBLINGS):
        trial = 2.0 * good
        try:
            excess = gap(trial)
        except (NoFixedPoint, DivergentIntegral):
            # q* stops existing above `good`; the band ends where it does.
            bad = trial
            for _ in range(_EDGE_BISECTIONS):
                middle = 0.5 * (good + bad)
                try:
                    if gap(middle) < 0.0:
                        return low, optimize.brentq(gap, good, middle, rtol=_BAND_RTOL)
                    good = middle
                except (NoFixedPoint, DivergentIntegral):
                    bad = middle
            return low, good
        if excess < 0.0:
            return low, optimize.brentq(gap, good, trial, rtol=_BAND_RTOL)
        good = trial
    return low, math.inf


def recommend(
    activation: ActivationLike,
    depth: int,
    *,
    sigma_b2: float = 0.0,
    distribution: Distribution = "normal",
) -> dict[str, Any]:
    """Init options on the edge of chaos for a ``depth``-layer network, with the theory.

    Picks the critical point (sigma_w2, q*) of :func:`critical_point` for ``sigma_b2``:
    weights with Var = sigma_w2 / fan_in, biases N(0, sigma_b2). There chi1 = 1 and the
    correlation depth scale xi_c is infinite, so the trainability condition depth <~ 6 xi_c
    (Schoenholz et al. 2017, "Deep Information Propagation", ICLR) holds for any depth;
    ``sigma_w2_range`` is the band of sigma_w2 that still keeps 6 xi_c >= depth.

    Returns a dict: ``scheme``, ``scale``, ``mode``, ``distribution`` (pass them to
    ``paraminit.resolve``; scale multiplies the variance), ``bias_std`` (sqrt(sigma_b2);
    biases via the ``"normal"`` scheme, or ``"zeros"`` when 0), then ``sigma_w2``,
    ``sigma_b2``, ``q_star``, ``chi1``, ``xi_q``, ``xi_c``, ``depth``,
    ``sigma_w2_range`` (low, high; high = inf if no upper end below 2^16 sigma_w2) and
    ``explanation``, one sentence.

    Raises:
        InitError: ``activation`` has no critical point at ``sigma_b2`` (ReLU needs
            sigma_b2 = 0), or bad arguments.

    Example:
        >>> rec = recommend("tanh", 50, sigma_b2=0.05)
        >>> rec["scheme"], round(rec["scale"], 5), rec["mode"], round(rec["bias_std"], 4)
        ('variance_scaling', 1.76095, 'fan_in', 0.2236)
    """
    layers = _depth(depth)
    bias = _variance("sigma_b2", sigma_b2)
    validate.choice("distribution", distribution, _DISTRIBUTIONS)
    act = resolve_activation(activation)
    point = critical_point(act, bias)
    scales = depth_scales(act, sigma_w2=point.sigma_w2, sigma_b2=bias)
    low, high = _band(act, bias, point.sigma_w2, layers)
    upper = f"{high:.4g}" if math.isfinite(high) else "inf"
    biases = f"biases N(0, {bias:.4g})" if bias > 0 else "zero biases"
    explanation = (
        f"{act.name} with sigma_b2 = {bias:.4g} is on the edge of chaos (chi1 = 1) at sigma_w2 = "
        f"{point.sigma_w2:.6g} (q* = {point.q_star:.6g}): weights Var = {point.sigma_w2:.6g}"
        f" / fan_in and {biases} make the correlation depth scale xi_c "
        f"infinite, so depth {layers} is within the trainable range depth <~ 6 xi_c "
        f"(Schoenholz et al. 2017); any sigma_w2 in [{low:.4g}, {upper}] still keeps "
        f"6 xi_c >= {layers}."
    )
    return {
        "scheme": "variance_scaling",
        "scale": point.sigma_w2,
        "mode": "fan_in",
        "distribution": distribution,
        "bias_std": math.sqrt(bias),
        "sigma_w2": point.sigma_w2,
        "sigma_b2": bias,
        "q_star": point.q_star,
        "chi1": point.chi1,
        "xi_q": scales.xi_q,
        "xi_c": scales.xi_c,
        "depth": layers,
        "sigma_w2_range": (float(low), float(high)),
        "explanation": explanation,
    }
