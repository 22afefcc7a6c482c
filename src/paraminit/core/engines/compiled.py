"""The compiled CPU engine: stream v2 in numba, fused, multi-threaded, writing in place.

One kernel computes Philox4x32-10, the law's transform (:mod:`.transforms`, the same source
as the reference) and the cast policy (:mod:`.cast`) per element and stores straight into
the destination buffer in its own dtype (float16 and bfloat16 as their bit patterns); there
is no temporary of the tensor. Work is split over ``numba.get_num_threads()`` threads in
chunks of whole Philox blocks, so the values do not depend on the thread count.

Compiled with ``cache=True``: the machine code is stored next to this file (or in numba's
user cache directory when that is read-only), so a second process does not compile again.
"""

from __future__ import annotations

import math
from types import FunctionType

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from ..stream import Stream
from . import transforms as tf
from .law import CONSTANT, NORMAL, TRUNCATED, UNIFORM, ElementLaw

__all__ = ["FORMATS", "fill", "smallest_k"]

# Destination formats: the buffer's dtype and how a float32 is stored in it.
FORMATS = {"float64": 0, "float32": 1, "float16": 2, "bfloat16": 3}
# Elements per work item: large enough to amortise scheduling, small enough to balance and
# for the item's scratch buffers (96 KiB) to stay below malloc's mmap threshold (128 KiB).
_CHUNK = 1 << 12
# Below this many elements waking a second thread costs more than it saves.
_PARALLEL_MIN = 1 << 16

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_MASK50 = np.uint64(2**50 - 1)
_S12, _S20, _S32, _S50, _S52 = (np.uint64(n) for n in (12, 20, 32, 50, 52))
_FRACTION = np.uint64(2**52 - 1)
_HALF_EXPONENT = np.uint64(1022 << 52)  # the exponent field of [1/2, 1)
_U1 = np.uint64(1)

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
# Inlined in numba's IR, so that the per-element loops are one body LLVM can vectorise.
_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
_horner = _inline(tf._horner)


def _jit_transform(function):
    """Jit one of :mod:`.transforms`' functions with its ``_horner`` calls bound to the jitted
    Horner (numba resolves a function's globals when it compiles, and cannot call Python)."""
    scope = {**vars(tf), "_horner": _horner}
    return _inline(FunctionType(function.__code__, scope, function.__name__))


tf_log_reduced = _jit_transform(tf.log_reduced)
tf_sin = _jit_transform(tf.sin_half_pi)
tf_cos = _jit_transform(tf.cos_half_pi)
tf_central = _jit_transform(tf.ndtri_central)
tf_near = _jit_transform(tf.ndtri_near_tail)
tf_far = _jit_transform(tf.ndtri_far_tail)
tf_mills = _jit_transform(tf.mills_series)


def _bitcast(source, target, doc):
    """An intrinsic reinterpreting a ``source`` value's bits as ``target`` (an LLVM bitcast)."""

    def typer(typingctx, value):
        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], context.get_value_type(target))

        return target(source), codegen

    typer.__doc__ = doc
    return intrinsic(typer)


_float32_bits = _bitcast(types.float32, types.uint32, "The IEEE bits of a float32.")
_float64_bits = _bitcast(types.float64, types.uint64, "The IEEE bits of a float64.")
_bits_float64 = _bitcast(types.uint64, types.float64, "The float64 of IEEE bits.")


@_inline
def _philox(c0, c1, c2, c3, k0, k1):
    # Words are uint64 holding 32-bit values; masking the factors lets LLVM use the
    # 32 x 32 -> 64-bit vector multiply.
    for round_index in range(10):
        if round_index:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        p0 = (c0 & _MASK32) * _M0
        p1 = (c2 & _MASK32) * _M1
        c0, c1, c2, c3 = ((p1 >> _S32) ^ c1 ^ k0, p1 & _MASK32,
                          (p0 >> _S32) ^ c3 ^ k1, p0 & _MASK32)
    return c0, c1, c2, c3


@_jit
def _philox_blocks(words, first, count, key0, key1, tag0, tag1):
    """words[:, j] = Philox4x32-10 of block first + j; a branch-free loop LLVM vectorises."""
    for j in range(count):
        block = first + np.uint64(j)
        w0, w1, w2, w3 = _philox(block & _MASK32, block >> _S32, tag0, tag1, key0, key1)
        words[0, j], words[1, j], words[2, j], words[3, j] = w0, w1, w2, w3


@_inline
def _mantissa(high, low):
    return (np.uint64(high) << _S20) | (np.uint64(low) >> _S12)


@_inline
def _unit(mantissa):
    # m < 2^52 fits an int64, whose conversion to float64 vectorises (and is exact here).
    return (np.float64(np.int64(mantissa)) + 0.5) * 2.0**-52


@_inline
def _log(x):
    """ln x for a positive normal float64: frexp by bit operations (exact, vectorisable)."""
    bits = _float64_bits(x)
    exponent = np.int64(bits >> _S52) - 1022
    mantissa = _bits_float64((bits & _FRACTION) | _HALF_EXPONENT)  # in [1/2, 1)
    small = mantissa < tf.SQRT_HALF
    f = 2.0 * mantissa if small else mantissa
    k = np.float64(exponent - 1) if small else np.float64(exponent)
    return tf_log_reduced(f, k)


@_inline
def _normal_pair(w0, w1, w2, w3):
    """Box-Muller of one block, with the reference's quadrant table, free of branches."""
    radius = math.sqrt(-2.0 * _log(_unit(_mantissa(w0, w1))))
    m1 = _mantissa(w2, w3)
    rho = (np.float64(np.int64(m1 & _MASK50)) + 0.5) * 2.0**-50
    up = rho >= 0.5
    f = rho - 1.0 if up else rho
    quadrant = (np.int64(m1 >> _S50) + (1 if up else 0)) & 3
    s, c = tf_sin(f), tf_cos(f)
    odd = (quadrant & 1) == 1
    # lane 0, cos(theta) over quadrants: (c, -s, -c, s); lane 1, sin(theta): (s, c, -s, -c)
    cosine = s if odd else c
    sine = c if odd else s
    cosine = -cosine if quadrant == 1 or quadrant == 2 else cosine
    sine = -sine if quadrant >= 2 else sine
    return radius * cosine, radius * sine


@_jit
def _ndtri(p, pc):
    q = p - 0.5
    if abs(q) <= 0.425:
        return tf_central(q)
    r = math.sqrt(-_log(p if q < 0.0 else pc))
    magnitude = tf_near(r) if r <= 5.0 else tf_far(r)
    return -magnitude if q < 0.0 else magnitude


@_jit
def _ndtri_far(log_p):
    x = -tf_far(math.sqrt(-log_p))
    for _ in range(3):
        series = tf_mills(1.0 / (x * x))
        gap = -0.5 * x * x - _log(-x) - tf.HALF_LOG_2PI + _log(series) - log_p
        x = x + gap * series / x
    return x


@_inline
def _truncated_value(x, consts):
    """The value of the truncated law at its standard quantile x (clamped against the last ulp)."""
    shift, scale, flip, lo, hi = consts[0], consts[1], consts[2], consts[3], consts[4]
    return shift + scale * (flip * min(max(x, lo), hi))


@_jit
def _truncated(code, u, consts):
    p_lo, q_hi, width, log_hi, ratio = consts[5], consts[6], consts[7], consts[8], consts[9]
    if code == TRUNCATED:
        x = _ndtri(p_lo + u * width, q_hi + (1.0 - u) * width)
    else:
        x = _ndtri_far(log_hi + _log(u + (1.0 - u) * ratio))
    return _truncated_value(x, consts)


@_inline
def _lane_unit(words, j, lane):
    return _unit(_mantissa(words[2 * lane, j], words[2 * lane + 1, j]))


@_jit
def _law_values(values, words, count, code, consts):
    """values[2j + lane] = the law's value of block j's lane: one loop per law, so the
    uniform and normal loops are branch-free and vectorise."""
    shift, scale = consts[0], consts[1]
    if code == CONSTANT:
        values[:2 * count] = shift
    elif code == UNIFORM:
        for j in range(count):
            for lane in range(2):
                values[2 * j + lane] = shift + scale * (2.0 * _lane_unit(words, j, lane) - 1.0)
    elif code == NORMAL:
        for j in range(count):
            z0, z1 = _normal_pair(words[0, j], words[1, j], words[2, j], words[3, j])
            values[2 * j] = shift + scale * z0
            values[2 * j + 1] = shift + scale * z1
    elif code == TRUNCATED:
        # Vectorised pass: every element as if in AS 241's central region; then a scalar
        # pass redoes the (few) elements in the tails. Same arithmetic as _ndtri's either way.
        p_lo, width = consts[5], consts[7]
        for j in range(count):
            for lane in range(2):
                q = p_lo + _lane_unit(words, j, lane) * width - 0.5
                values[2 * j + lane] = _truncated_value(tf_central(q), consts)
        for j in range(count):
            for lane in range(2):
                u = _lane_unit(words, j, lane)
                if abs(p_lo + u * width - 0.5) > 0.425:
                    values[2 * j + lane] = _truncated(code, u, consts)
    else:
        for j in range(count):
            for lane in range(2):
                values[2 * j + lane] = _truncated(code, _lane_unit(words, j, lane), consts)


@_jit
def _half_bits(single):
    """float32 -> float16 bits, round to nearest even, subnormals included."""
    bits = _float32_bits(single)
    sign = (bits >> np.uint32(16)) & np.uint32(0x8000)
    exponent = np.int64((bits >> np.uint32(23)) & np.uint32(0xFF)) - 112
    mantissa = bits & np.uint32(0x7FFFFF)
    if exponent >= 31:
        return np.uint16(sign | np.uint32(0x7C00))
    if exponent <= 0:
        if exponent < -10:
            return np.uint16(sign)
        full = mantissa | np.uint32(0x800000)
        shift = np.uint32(14 - exponent)
        result = full >> shift
        remainder = full & ((np.uint32(1) << shift) - np.uint32(1))
        halfway = np.uint32(1) << (shift - np.uint32(1))
    else:
        result = (np.uint32(exponent) << np.uint32(10)) | (mantissa >> np.uint32(13))
        remainder = mantissa & np.uint32(0x1FFF)
        halfway = np.uint32(0x1000)
    if remainder > halfway or (remainder == halfway and (result & np.uint32(1))):
        result += np.uint32(1)
    return np.uint16(sign | result)


@_inline
def _bfloat16_bits(single):
    """float32 -> bfloat16 bits, round to nearest even (finite inputs), branch-free."""
    bits = _float32_bits(single)
    return np.uint16((bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))
                     >> np.uint32(16))


@_jit
def _store(out, local, values, offset, count, fmt, clip_lo, clip_hi):
    """out[local + e] = values[offset + e] under the cast policy (:mod:`.cast`)."""
    if fmt == 0:
        for e in range(count):
            out[local + e] = min(max(values[offset + e], clip_lo), clip_hi)
        return
    lo, hi = np.float32(clip_lo), np.float32(clip_hi)
    if fmt == 1:
        for e in range(count):
            out[local + e] = min(max(np.float32(values[offset + e]), lo), hi)
    elif fmt == 2:
        for e in range(count):
            out[local + e] = _half_bits(min(max(np.float32(values[offset + e]), lo), hi))
    else:
        for e in range(count):
            out[local + e] = _bfloat16_bits(min(max(np.float32(values[offset + e]), lo), hi))


@_jit
def _fill_span(out, local, start, count, fmt, code, consts, key0, key1, tag0, tag1,
               clip_lo, clip_hi, words, values):
    """Global elements [start, start + count) into out[local:local + count]."""
    first = start >> _U1
    blocks = np.int64(((start + np.uint64(count) + _U1) >> _U1) - first)
    _philox_blocks(words, first, blocks, key0, key1, tag0, tag1)
    _law_values(values, words, blocks, code, consts)
    _store(out, local, values, np.int64(start & _U1), count, fmt, clip_lo, clip_hi)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _fill_runs(out, fmt, code, consts, key0, key1, tag0, tag1, run_starts, run_length,
               clip_lo, clip_hi):
    """out[r * run_length + j] = value of global element run_starts[r] + j.

    A work item is a piece of at most _CHUNK elements of one long run, or as many whole
    short runs as fit in _CHUNK elements; each has its own scratch buffers.
    """
    if run_length >= _CHUNK:
        pieces, runs_per_item = (run_length + _CHUNK - 1) // _CHUNK, 1
        items = run_starts.size * pieces
    else:
        pieces, runs_per_item = 1, _CHUNK // max(run_length, 1)
        items = (run_starts.size + runs_per_item - 1) // runs_per_item
    for item in numba.prange(items):
        words = np.empty((4, _CHUNK // 2 + 1), dtype=np.uint64)
        values = np.empty(_CHUNK + 2, dtype=np.float64)
        if pieces > 1 or runs_per_item == 1:
            run, piece = item // pieces, item % pieces
            first = piece * _CHUNK
            count = min(_CHUNK, run_length - first)
            _fill_span(out, run * run_length + first, run_starts[run] + np.uint64(first),
                       count, fmt, code, consts, key0, key1, tag0, tag1, clip_lo, clip_hi,
                       words, values)
        else:
            for run in range(item * runs_per_item,
                             min((item + 1) * runs_per_item, run_starts.size)):
                _fill_span(out, run * run_length, run_starts[run], run_length, fmt, code,
                           consts, key0, key1, tag0, tag1, clip_lo, clip_hi, words, values)


def fill(out: np.ndarray, dtype: str, law: ElementLaw, stream: Stream, run_starts: np.ndarray,
         run_length: int, clip: tuple[float, float]) -> None:
    """Write the runs' values into the flat C-contiguous ``out`` (float16/bfloat16: uint16)."""
    key0, key1 = (np.uint64(k) for k in stream.key)
    tag0, tag1 = (np.uint64(t) for t in stream.tag)
    threads = numba.get_num_threads()
    if out.size < _PARALLEL_MIN:
        numba.set_num_threads(1)  # this thread's setting only
    try:
        _fill_runs(out, FORMATS[dtype], law.code, law.constants, key0, key1, tag0, tag1,
                   run_starts, run_length, clip[0], clip[1])
    finally:
        numba.set_num_threads(threads)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def smallest_k(keys, k):
    """The reference's :func:`~.reference.smallest_k` (same mask), rows in parallel."""
    rows, cols = keys.shape
    keep = np.zeros((rows, cols), dtype=np.bool_)
    for row in numba.prange(rows):
        line = keys[row]
        kth = np.partition(line, k - 1)[k - 1]
        wanted = k
        for j in range(cols):
            if line[j] < kth:
                keep[row, j] = True
                wanted -= 1
        for j in range(cols):  # the lowest-indexed keys equal to the k-th complete k
            if wanted > 0 and line[j] == kth:
                keep[row, j] = True
                wanted -= 1
    return keep
