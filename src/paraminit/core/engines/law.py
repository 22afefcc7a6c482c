"""An element-wise law as the numbers an engine needs, computed once on the host.

An engine turns each element's uniform ``u`` (or its Box-Muller normal) into a value with
these numbers alone; every special function of the law's parameters (Phi of the truncation
bounds) is evaluated here, once, with SciPy, so engines only need the per-element arithmetic
of :mod:`.transforms`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from ..._errors import InitError
from ..spec import InitSpec

__all__ = ["CONSTANT", "ELEMENTWISE", "ElementLaw", "NORMAL", "NORMAL_REACH", "TRUNCATED",
           "TRUNCATED_FAR", "UNIFORM", "element_law", "truncated_law"]

ELEMENTWISE = ("constant", "uniform", "normal", "truncated_normal")

# Kernel codes (numba and torch engines switch on them).
CONSTANT, UNIFORM, NORMAL, TRUNCATED, TRUNCATED_FAR = 0, 1, 2, 3, 4

# The largest |z| a Box-Muller normal of stream v2 reaches, rounded up: the smallest u0 is
# 2^-53, and sqrt(-2 ln 2^-53) = 8.5717.
NORMAL_REACH = 8.6
# Below this upper Phi the linear form p = Phi(lo) + u W would leave AS 241's accurate
# range (p >= 1e-300 for the smallest u = 2^-53): Phi(-35.6) ~ 1e-279.
_FAR_PHI = 1e-280
# Beyond this many parent stds in the tail all the mass lies within 1/|x| < 1e-8 of the
# inner bound, i.e. within float64 rounding of it: the value *is* the bound.
_AT_BOUND_SIGMAS = 1e8
# Below this width x reach (in parent stds) the normal density is flat across the interval to
# 1e-10 relative: the truncated law is the uniform on it (and the inverse CDF cannot resolve
# it: at width 1e-17 every p rounds to the same value).
_FLAT = 1e-10


@dataclass(frozen=True)
class ElementLaw:
    """``value = shift + scale * z`` with ``z`` from the standard law of ``code``.

    Uniform: ``z = 2u - 1``. Normal: Box-Muller. Truncated normal on [lo, hi] in parent-std
    units, sampled on the mirror image ``[-hi, -lo]`` when ``flip`` (so the interval's inner
    end is never near Phi = 1): ``z = flip * x``, where x is the inverse CDF of

    * ``TRUNCATED``: ``p = p_lo + u w``, with ``1 - p = q_hi + (1 - u) w`` to keep the upper
      half's precision;
    * ``TRUNCATED_FAR`` (the whole interval beyond ~35.6 stds): ``ln p = log_hi +
      ln(u + (1 - u) ratio)``, ratio = Phi(lo) / Phi(hi), solved by Newton steps.
    """

    code: int
    shift: float
    scale: float
    flip: float = 1.0
    lo: float = -math.inf
    hi: float = math.inf
    p_lo: float = 0.0
    q_hi: float = 0.0
    width: float = 0.0
    log_hi: float = 0.0
    ratio: float = 0.0

    @property
    def constants(self) -> tuple[float, ...]:
        """The numbers in the fixed order every compiled kernel takes them."""
        return (self.shift, self.scale, self.flip, self.lo, self.hi, self.p_lo, self.q_hi,
                self.width, self.log_hi, self.ratio)


def element_law(spec: InitSpec) -> ElementLaw:
    """The :class:`ElementLaw` of an element-wise spec; InitError for a structured one."""
    kind = spec.distribution
    if kind == "constant":
        return ElementLaw(CONSTANT, spec.mean, 0.0)
    if kind == "uniform":
        assert spec.bound is not None
        return ElementLaw(UNIFORM, spec.mean, spec.bound)
    if kind == "normal":
        return ElementLaw(NORMAL, spec.mean, spec.std)
    if kind == "truncated_normal":
        assert spec.truncation is not None
        return truncated_law(spec.mean, spec.parent_std, *spec.truncation)
    raise InitError(
        f"element-wise sampling needs one of the laws {', '.join(ELEMENTWISE)}; "
        f"{spec.scheme} is {kind!r}, which must be sampled whole: sample the whole tensor "
        "instead of a range of it"
    )


def truncated_law(mean: float, parent_std: float, low: float, high: float) -> ElementLaw:
    """N(mean, parent_std²) truncated to [low, high] in parent-std units."""
    if low <= -NORMAL_REACH and high >= NORMAL_REACH:
        # Wider than every value the normal stream reaches (and the mass beyond 8.6 stds is
        # 1e-17, below double rounding): the law is the normal, sampled as such (Box-Muller,
        # no inverse CDF). torch's trunc_normal_(std=0.02) on [-2, 2] is this case.
        return ElementLaw(NORMAL, mean, parent_std)
    if (high - low) * max(abs(low), abs(high)) < _FLAT:
        # The density varies by under 1e-10 (relative) across [low, high], an interval too
        # narrow for the inverse CDF to resolve (p = 1/2 + u·1e-17 is 1/2): (0, 1e-17),
        # truncate=1e-6, or torch's std=1e308 on [-1, 1]. The law is the uniform on it.
        return ElementLaw(UNIFORM, mean + parent_std * (0.5 * low + 0.5 * high),
                          parent_std * (0.5 * high - 0.5 * low))
    flip = -1.0 if low >= 0.0 else 1.0
    lo, hi = (-high, -low) if flip < 0 else (low, high)
    if hi < -_AT_BOUND_SIGMAS:  # every value rounds to the inner bound
        return ElementLaw(CONSTANT, mean + parent_std * flip * hi, 0.0)
    p_lo, p_hi = float(special.ndtr(lo)), float(special.ndtr(hi))
    if p_hi >= _FAR_PHI:
        # ndtr(hi) - ndtr(lo) loses nothing here: both lie in [0, 1] and p_lo < 1/2.
        return ElementLaw(TRUNCATED, mean, parent_std, flip, lo, hi, p_lo,
                          float(special.ndtr(-hi)), p_hi - p_lo)
    log_hi = float(special.log_ndtr(hi))
    ratio = math.exp(float(special.log_ndtr(lo)) - log_hi)
    return ElementLaw(TRUNCATED_FAR, mean, parent_std, flip, lo, hi, log_hi=log_hi,
                      ratio=ratio)
