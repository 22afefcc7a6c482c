"""The one cast policy: float64 law values to the destination dtype, bounds kept.

Every engine computes a value in float64 and then, for a destination narrower than
float64, rounds it to float32 and (for float16 and bfloat16) rounds that float32 once more
to the destination, always to nearest-even; this is the rounding torch applies to a
float64 -> float32 -> half tensor, so the torch-native engine needs no special code.
Bounded laws are clipped, in float32 (float64 for float64), to their bounds rounded
*inward* in the destination dtype: a value drawn inside the bounds that would round past one
is moved by at most one ulp, and no mass piles up.

Values a dtype cannot hold are refused before anything is written (an ``InitError`` naming
the bounds, the dtype and a fix), never clipped silently or written as inf.
"""

from __future__ import annotations

import math

import numpy as np

from ..._errors import InitError
from .law import CONSTANT, NORMAL, NORMAL_REACH, UNIFORM, ElementLaw

__all__ = ["DTYPES", "bfloat16_bits", "cast_array", "check_magnitude", "check_representable",
           "clip_bounds",
           "round_to"]

DTYPES = ("float16", "bfloat16", "float32", "float64")
# Parent stds past a truncated normal's innermost point that its values can reach: the mass
# beyond 40 is below exp(-800), far under the 2^-53 resolution of the uniforms.
_TAIL_REACH = 40.0
_MAX = {"float16": 65504.0, "bfloat16": float(np.finfo(np.float32).max) * (1 - 2.0**-8),
        "float32": float(np.finfo(np.float32).max), "float64": float(np.finfo(np.float64).max)}


def bfloat16_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even (finite inputs)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    upper = bits >> np.uint32(16)
    remainder = bits & np.uint32(0xFFFF)
    round_up = (remainder > 0x8000) | ((remainder == 0x8000) & ((upper & np.uint32(1)) == 1))
    return (upper + round_up.astype(np.uint32)).astype(np.uint16)


def _bfloat16_value(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def round_to(values: np.ndarray, dtype: str) -> np.ndarray:
    """The policy's rounding of float64 values, returned as float64 (exact) for comparison."""
    if dtype == "float64":
        return np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):  # overflow to inf is the answer, checked by the callers
        single = np.asarray(values, dtype=np.float64).astype(np.float32)
        if dtype == "float16":
            return single.astype(np.float16).astype(np.float64)
    if dtype == "bfloat16":
        return _bfloat16_value(bfloat16_bits(single)).astype(np.float64)
    return single.astype(np.float64)


def _next_inward(value: float, dtype: str, direction: float) -> float:
    """The neighbour of representable ``value`` one ulp towards ``direction`` in ``dtype``."""
    if dtype == "bfloat16":
        bits = int(bfloat16_bits(np.array([value], dtype=np.float32))[0])
        towards_zero = (value > 0) == (direction < 0)
        step = -1 if towards_zero else 1
        if value == 0:
            bits, step = (0x8000 if direction < 0 else 0x0000), 1
        return float(_bfloat16_value(np.array([bits + step], dtype=np.uint16))[0])
    kind = {"float16": np.float16, "float32": np.float32, "float64": np.float64}[dtype]
    return float(np.nextafter(kind(value), kind(direction * math.inf)))


def clip_bounds(bounds: tuple[float, float], dtype: str) -> tuple[float, float]:
    """``bounds`` rounded inward in ``dtype`` (as float64); InitError if none lies inside."""
    low, high = bounds
    rounded_low, rounded_high = (float(v) for v in round_to(np.array(bounds), dtype))
    if rounded_low < low:
        rounded_low = _next_inward(rounded_low, dtype, +1.0)
    if rounded_high > high:
        rounded_high = _next_inward(rounded_high, dtype, -1.0)
    if rounded_low > rounded_high:
        raise InitError(
            f"no {dtype} value lies in the bounds [{low!r}, {high!r}] (the nearest are "
            f"{float(round_to(np.array([low]), dtype)[0])!r} and its neighbours); widen the "
            f"bounds or sample in a wider dtype (float32) and cast yourself"
        )
    return rounded_low, rounded_high


def check_representable(law: ElementLaw, bounds: tuple[float, float] | None, dtype: str) -> None:
    """InitError when the law's values can exceed ``dtype``'s finite range."""
    limit = _MAX[dtype]
    if law.code == CONSTANT:
        reach, what = abs(law.shift), f"the value {law.shift!r}"
    elif law.code == NORMAL:
        reach = abs(law.shift) + NORMAL_REACH * law.scale
        what = f"mean {law.shift!r} with std {law.scale!r} (reaching ±{NORMAL_REACH}σ)"
    elif law.code == UNIFORM:
        assert bounds is not None
        reach, what = max(abs(bounds[0]), abs(bounds[1])), f"the bounds {list(bounds)!r}"
    else:  # a truncated normal reaches no further than its bounds, nor _TAIL_REACH parent
        # stds past the interval's point nearest the centre (the mass beyond is < 1e-300):
        # torch's trunc_normal_(b=inf) or (b=1e300) in bfloat16 is as holdable as b=2
        inner = min(max(0.0, law.lo), law.hi)
        ends = (max(law.lo, inner - _TAIL_REACH), min(law.hi, inner + _TAIL_REACH))
        reach = max(abs(law.shift + law.scale * law.flip * x) for x in ends)
        what = (f"the truncated normal (mean {law.shift!r}, parent std {law.scale!r}, values up "
                f"to ±{reach:.6g})")
    if not math.isfinite(reach) or round_to(np.array([reach]), dtype)[0] > limit:
        raise InitError(
            f"{what} cannot be held by {dtype} (largest finite value {limit:.6g}); "
            "scale the law down, or use a wider dtype (float32 or float64)"
        )


def check_magnitude(peak: float, dtype: str) -> None:
    """InitError when values up to ``|peak|`` (a structured init's largest) overflow ``dtype``."""
    if not math.isfinite(peak) or round_to(np.array([peak]), dtype)[0] > _MAX[dtype]:
        raise InitError(f"values up to {peak:.6g} cannot be held by {dtype} (largest finite "
                        f"value {_MAX[dtype]:.6g}); lower the gain or use a wider dtype")


def cast_array(values: np.ndarray, dtype: str) -> np.ndarray:
    """Whole float64 values (a structured init's) to a NumPy ``dtype`` by the policy."""
    values = np.asarray(values, dtype=np.float64)
    if values.size:
        check_magnitude(max(float(values.max()), -float(values.min())), dtype)
    if dtype == "float64":
        return values
    single = values.astype(np.float32)
    return single.astype(np.float16) if dtype == "float16" else single
