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

__all__ = ["FORMATS", "fill"]

# Destination formats: the buffer's dtype and how a float32 is stored in it.
FORMATS = {"float64": 0, "float32": 1, "float16": 2, "bfloat16": 3}
# Elements per work item: large enough to amortise scheduling, small enough to balance.
_CHUNK = 1 << 15

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_MASK50 = np.uint64(2**50 - 1)
_S12, _S20, _S32, _S50 = np.uint64(12), np.uint64(20), np.uint64(32), np.uint64(50)
_U1 = np.uint64(1)

_jit = numba.njit(cache=True, nogil=True)
_horner = _jit(tf._horner)


def _jit_transform(function):
    """Jit one of :mod:`.transforms`' functions with its ``_horner`` calls bound to the jitted
    Horner (numba resolves a function's globals when it compiles, and cannot call Python)."""
    scope = {**vars(tf), "_horner": _horner}
    return _jit(FunctionType(function.__code__, scope, function.__name__))


tf_log_reduced = _jit_transform(tf.log_reduced)
tf_sin = _jit_transform(tf.sin_half_pi)
tf_cos = _jit_transform(tf.cos_half_pi)
tf_central = _jit_transform(tf.ndtri_central)
tf_near = _jit_transform(tf.ndtri_near_tail)
tf_far = _jit_transform(tf.ndtri_far_tail)
tf_mills = _jit_transform(tf.mills_series)


@intrinsic
def _float32_bits(typingctx, value):
    """The IEEE bit pattern of a float32 as a uint32 (an LLVM bitcast)."""
    signature = types.uint32(types.float32)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.uint32))

    return signature, codegen


@_jit
def _philox(c0, c1, c2, c3, k0, k1):
    for round_index in range(10):
        if round_index:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        p0 = c0 * _M0
        p1 = c2 * _M1
        c0, c1, c2, c3 = ((p1 >> _S32) ^ c1 ^ k0, p1 & _MASK32,
                          (p0 >> _S32) ^ c3 ^ k1, p0 & _MASK32)
    return c0, c1, c2, c3


@_jit
def _mantissa(high, low):
    return (high << _S20) | (low >> _S12)


@_jit
def _unit(mantissa):
    return (np.float64(mantissa) + 0.5) * 2.0**-52


@_jit
def _log(x):
    mantissa, exponent = math.frexp(x)
    if mantissa < tf.SQRT_HALF:
        return tf_log_reduced(2.0 * mantissa, np.float64(exponent - 1))
    return tf_log_reduced(mantissa, np.float64(exponent))


@_jit
def _normal_pair(w0, w1, w2, w3):
    radius = math.sqrt(-2.0 * _log(_unit(_mantissa(w0, w1))))
    m1 = _mantissa(w2, w3)
    rho = (np.float64(m1 & _MASK50) + 0.5) * 2.0**-50
    quadrant = np.int64(m1 >> _S50)
    f = rho
    if rho >= 0.5:
        f = rho - 1.0
        quadrant += 1
    s, c = tf_sin(f), tf_cos(f)
    quadrant &= 3
    if quadrant == 0:
        return radius * c, radius * s
    if quadrant == 1:
        return radius * -s, radius * c
    if quadrant == 2:
        return radius * -c, radius * -s
    return radius * s, radius * -c


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


@_jit
def _from_uniform(code, u, consts):
    shift, scale, flip, lo, hi, p_lo, q_hi, width, log_hi, ratio = consts
    if code == UNIFORM:
        return shift + scale * (2.0 * u - 1.0)
    if code == TRUNCATED:
        x = _ndtri(p_lo + u * width, q_hi + (1.0 - u) * width)
    else:
        x = _ndtri_far(log_hi + _log(u + (1.0 - u) * ratio))
    x = min(max(x, lo), hi)
    return shift + scale * (flip * x)


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


@_jit
def _bfloat16_bits(single):
    bits = _float32_bits(single)
    upper = bits >> np.uint32(16)
    remainder = bits & np.uint32(0xFFFF)
    if remainder > np.uint32(0x8000) or (remainder == np.uint32(0x8000)
                                         and (upper & np.uint32(1))):
        upper += np.uint32(1)
    return np.uint16(upper)


@_jit
def _store(out, position, value, fmt, clip_lo, clip_hi):
    if fmt == 0:
        out[position] = min(max(value, clip_lo), clip_hi)
        return
    single = min(max(np.float32(value), np.float32(clip_lo)), np.float32(clip_hi))
    if fmt == 1:
        out[position] = single
    elif fmt == 2:
        out[position] = _half_bits(single)
    else:
        out[position] = _bfloat16_bits(single)


@numba.njit(cache=True, nogil=True, parallel=True)
def _fill_runs(out, fmt, code, consts, key0, key1, tag0, tag1, run_starts, run_length,
               clip_lo, clip_hi):
    """out[r * run_length + j] = value of global element run_starts[r] + j."""
    chunks_per_run = (run_length + _CHUNK - 1) // _CHUNK
    items = run_starts.size * chunks_per_run
    for item in numba.prange(items):
        run = item // chunks_per_run
        first = (item % chunks_per_run) * _CHUNK
        count = min(_CHUNK, run_length - first)
        local = run * run_length + first
        start = run_starts[run] + np.uint64(first)
        stop = start + np.uint64(count)
        block = start >> _U1
        while (block << _U1) < stop:
            w0, w1, w2, w3 = _philox(block & _MASK32, block >> _S32, tag0, tag1, key0, key1)
            even = block << _U1
            if code == CONSTANT:
                v0 = v1 = consts[0]
            elif code == NORMAL:
                z0, z1 = _normal_pair(w0, w1, w2, w3)
                v0, v1 = consts[0] + consts[1] * z0, consts[0] + consts[1] * z1
            else:
                v0 = _from_uniform(code, _unit(_mantissa(w0, w1)), consts)
                v1 = _from_uniform(code, _unit(_mantissa(w2, w3)), consts)
            if even >= start:
                _store(out, local + np.int64(even - start), v0, fmt, clip_lo, clip_hi)
            if even + _U1 < stop:
                _store(out, local + np.int64(even + _U1 - start), v1, fmt, clip_lo, clip_hi)
            block += _U1


def fill(out: np.ndarray, dtype: str, law: ElementLaw, stream: Stream, run_starts: np.ndarray,
         run_length: int, clip: tuple[float, float]) -> None:
    """Write the runs' values into the flat C-contiguous ``out`` (float16/bfloat16: uint16)."""
    key0, key1 = (np.uint64(k) for k in stream.key)
    tag0, tag1 = (np.uint64(t) for t in stream.tag)
    _fill_runs(out, FORMATS[dtype], law.code, law.constants, key0, key1, tag0, tag1,
               run_starts, run_length, clip[0], clip[1])
