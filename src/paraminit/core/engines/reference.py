"""The NumPy reference engine: stream v2 written plainly, the oracle of every other engine.

Each element is computed from its own Philox block (a block's two lanes are computed twice
when both are wanted: clarity over speed). ``docs/streams.md`` specifies the same steps.
"""

from __future__ import annotations

import numpy as np

from ..stream import Stream, philox4x32_10
from . import transforms as tf
from .law import CONSTANT, NORMAL, TRUNCATED, TRUNCATED_FAR, UNIFORM, ElementLaw

__all__ = ["box_indices", "fill", "from_uniform", "law_values", "normal_values",
           "smallest_k", "uniform_values"]

_MASK32 = np.uint64(0xFFFFFFFF)
_ONE = np.uint64(1)


def box_indices(shape: tuple[int, ...], starts: tuple[int, ...],
                stops: tuple[int, ...]) -> np.ndarray:
    """Global C-order flat indices (uint64) of the box ``[starts, stops)``, in C order."""
    ranges = [np.arange(a, b, dtype=np.uint64) for a, b in zip(starts, stops, strict=True)]
    index = np.zeros((), dtype=np.uint64)
    for extent, axis_range in zip(shape, ranges, strict=True):
        index = index[..., None] * np.uint64(extent) + axis_range
    return index.reshape(-1)


def _words(stream: Stream, index: np.ndarray) -> tuple[np.ndarray, ...]:
    block = index >> _ONE
    tag0, tag1 = stream.tag
    counter = (block & _MASK32, block >> np.uint64(32),
               np.full(block.shape, tag0, np.uint64), np.full(block.shape, tag1, np.uint64))
    return philox4x32_10(counter, stream.key)


def _mantissa(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """The 52-bit integer of two words: 32 high bits and the top 20 of the second."""
    return (high << np.uint64(20)) | (low >> np.uint64(12))


def _unit(mantissa: np.ndarray) -> np.ndarray:
    # m + 0.5 needs 53 significant bits, exactly float64's: u is exact, never 0 nor 1.
    return (mantissa.astype(np.float64) + 0.5) * 2.0**-52


def _log(x: np.ndarray) -> np.ndarray:
    """ln x for x > 0 finite: frexp (exact), then :func:`transforms.log_reduced`."""
    mantissa, exponent = np.frexp(x)
    small = mantissa < tf.SQRT_HALF
    f = np.where(small, 2.0 * mantissa, mantissa)
    k = (exponent - small).astype(np.float64)
    return tf.log_reduced(f, k)


def uniform_values(stream: Stream, index: np.ndarray) -> np.ndarray:
    """u in (0, 1) of each element: lane l uses words (2l, 2l + 1)."""
    w = _words(stream, index)
    lane1 = (index & _ONE).astype(bool)
    return _unit(_mantissa(np.where(lane1, w[2], w[0]), np.where(lane1, w[3], w[1])))


def normal_values(stream: Stream, index: np.ndarray) -> np.ndarray:
    """Box-Muller: lane 0 is r cos(theta), lane 1 is r sin(theta)."""
    w = _words(stream, index)
    radius = np.sqrt(-2.0 * _log(_unit(_mantissa(w[0], w[1]))))
    # theta = 2 pi u1 = (pi/2) (quadrant + rho): the top 2 bits of u1's 52 are the quadrant.
    m1 = _mantissa(w[2], w[3])
    rho = ((m1 & np.uint64(2**50 - 1)).astype(np.float64) + 0.5) * 2.0**-50
    up = rho >= 0.5
    f = np.where(up, rho - 1.0, rho)  # exact; f in [-1/2, 1/2)
    quadrant = ((m1 >> np.uint64(50)).astype(np.int64) + up) & 3
    lane1 = (index & _ONE).astype(bool)
    s, c = tf.sin_half_pi(f), tf.cos_half_pi(f)
    # lane 0: cos(theta) over quadrants (c, -s, -c, s); lane 1: sin(theta) (s, c, -s, -c),
    # which is lane 0's table shifted by one quadrant.
    turn = (quadrant + 3 * lane1) & 3
    trig = np.choose(turn, (c, -s, -c, s))
    return radius * trig


def _ndtri(p: np.ndarray, pc: np.ndarray) -> np.ndarray:
    """Phi^-1(p), given p and 1 - p each to full relative precision (AS 241)."""
    q = p - 0.5
    central = np.abs(q) <= 0.425
    tail_p = np.where(q < 0.0, p, pc)
    r = np.sqrt(-_log(np.where(central, 0.5, tail_p)))
    magnitude = np.where(r <= 5.0, tf.ndtri_near_tail(r), tf.ndtri_far_tail(r))
    return np.where(central, tf.ndtri_central(np.where(central, q, 0.0)),
                    np.where(q < 0.0, -magnitude, magnitude))


def law_values(law: ElementLaw, stream: Stream, index: np.ndarray) -> np.ndarray:
    """Float64 values of the law at the given flat indices (before any dtype cast)."""
    if law.code == CONSTANT:
        return np.full(index.shape, law.shift)
    if law.code == NORMAL:
        return law.shift + law.scale * normal_values(stream, index)
    return from_uniform(law, uniform_values(stream, index))


def from_uniform(law: ElementLaw, u: np.ndarray) -> np.ndarray:
    """The values of a uniform or truncated-normal law at the uniforms ``u`` in (0, 1)."""
    if law.code == UNIFORM:
        return law.shift + law.scale * (2.0 * u - 1.0)
    if law.code == TRUNCATED:
        x = _ndtri(law.p_lo + u * law.width, law.q_hi + (1.0 - u) * law.width)
    else:
        assert law.code == TRUNCATED_FAR
        x = tf.ndtri_far(law.log_hi + _log(u + (1.0 - u) * law.ratio),
                         _log, np.sqrt)
    x = np.minimum(np.maximum(x, law.lo), law.hi)  # against the last ulp only
    return law.shift + law.scale * (law.flip * x)

# Runs handled per pass of :func:`fill`: bounds the temporaries to a few tens of MB.
_PASS_ELEMENTS = 1 << 20


def fill(out: np.ndarray, dtype: str, law: ElementLaw, stream: Stream, run_starts: np.ndarray,
         run_length: int, clip: tuple[float, float]) -> None:
    """The reference twin of :func:`.compiled.fill`: same arguments, same bits."""
    from .cast import bfloat16_bits

    runs_per_pass = max(1, _PASS_ELEMENTS // max(run_length, 1))
    offsets = np.arange(run_length, dtype=np.uint64)
    for first in range(0, run_starts.size, runs_per_pass):
        starts = run_starts[first:first + runs_per_pass]
        values = law_values(law, stream, (starts[:, None] + offsets).reshape(-1))
        if dtype == "float64":
            stored = np.clip(values, *clip)
        else:
            single = np.clip(values.astype(np.float32), np.float32(clip[0]), np.float32(clip[1]))
            stored = {"float32": single, "float16": single.astype(np.float16).view(np.uint16),
                      "bfloat16": bfloat16_bits(single)}[dtype]
        out[first * run_length:(first + starts.size) * run_length] = stored


def smallest_k(keys: np.ndarray, k: int) -> np.ndarray:
    """Mask of the k smallest keys of each row, ties broken by the lower index (as a stable
    argsort would), in linear time: a selection of each row's k-th key, then its crowded rows."""
    kth = np.partition(keys, k - 1, axis=1)[:, k - 1:k]
    keep = keys <= kth
    # more than k at or below the k-th key: equal keys at the k-th place (for the sparse
    # mask, two equal 52-bit draws); keep the lowest-indexed of them
    for row in np.flatnonzero(keep.sum(axis=1) > k):
        below = keys[row] < kth[row]
        tied = np.flatnonzero(keys[row] == kth[row])
        keep[row] = below
        keep[row, tied[:k - int(below.sum())]] = True
    return keep
