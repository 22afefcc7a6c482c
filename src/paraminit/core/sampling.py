"""From an InitSpec and a stream to float64 values (the law, before any dtype cast)."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from .._errors import InitError
from .spec import InitSpec
from .stream import Stream
from .structured import structured_values

__all__ = ["ELEMENTWISE", "draw", "draw_elements", "inward_bounds"]

ELEMENTWISE = ("constant", "uniform", "normal", "truncated_normal")


def _truncated_standard_normal(u: np.ndarray, low: float, high: float) -> np.ndarray:
    """Inverse-CDF sampling of N(0,1) restricted to [low, high] from u in (0, 1).

    x = Φ⁻¹(Φ(low) + u (Φ(high) − Φ(low))), evaluated in log space
    (``log_ndtr``/``ndtri_exp``) so that intervals deep in a tail, where Φ underflows
    (beyond about −38), keep full precision; an interval in the upper tail is sampled as
    the mirror image of the lower one. The result is clipped to [low, high] against the
    last ulp of rounding only (no mass is moved).
    """
    if low >= 0.0:  # mirror: sample -x on [-high, -low], whose CDF values are not near 1
        return -_truncated_standard_normal(1.0 - u, -high, -low)
    log_low, log_high = special.log_ndtr(low), special.log_ndtr(high)
    # log(Φ(low)·(1 − u) + Φ(high)·u), without leaving log space
    with np.errstate(divide="ignore"):  # log_low = -inf when low = -inf: the term vanishes
        log_cdf = np.logaddexp(log_low + np.log1p(-u), log_high + np.log(u))
    return np.clip(special.ndtri_exp(log_cdf), low, high)


def draw_elements(spec: InitSpec, stream: Stream, start: int, stop: int) -> np.ndarray:
    """Float64 values of flat elements [start, stop) of an element-wise spec."""
    kind = spec.distribution
    if kind == "constant":
        return np.full(stop - start, spec.mean, dtype=np.float64)
    if kind == "uniform":
        assert spec.bound is not None
        return spec.mean + spec.bound * (2.0 * stream.uniform(start, stop) - 1.0)
    if kind == "normal":
        return spec.mean + spec.std * stream.normal(start, stop)
    if kind == "truncated_normal":
        assert spec.truncation is not None
        low, high = spec.truncation
        t = _truncated_standard_normal(stream.uniform(start, stop), low, high)
        return spec.mean + spec.parent_std * t
    raise InitError(
        f"flat-range sampling needs an element-wise law ({', '.join(ELEMENTWISE)}); "
        f"{spec.scheme} is {kind!r}, which must be sampled whole"
    )


def draw(spec: InitSpec, stream: Stream) -> np.ndarray:
    """Float64 values of the whole tensor, shaped ``spec.shape``."""
    if spec.distribution in ELEMENTWISE:
        return draw_elements(spec, stream, 0, math.prod(spec.shape)).reshape(spec.shape)
    return structured_values(spec, stream)


def inward_bounds(spec: InitSpec, dtype: np.dtype) -> tuple[np.generic, np.generic] | None:
    """The spec's [low, high] rounded *inward* to ``dtype``, or None when unbounded.

    Casting a value drawn inside [low, high] to a narrower float can round it past a
    bound; clipping to these representable bounds fixes the last ulp, nothing more.
    """
    bounds = spec.bounds
    if bounds is None:
        return None
    low, high = (np.asarray(b, dtype=dtype)[()] for b in bounds)
    if float(low) < bounds[0]:
        low = np.nextafter(low, np.asarray(np.inf, dtype=dtype))
    if float(high) > bounds[1]:
        high = np.nextafter(high, np.asarray(-np.inf, dtype=dtype))
    return low, high
