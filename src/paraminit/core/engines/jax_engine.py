"""The JAX engine: stream v2 in ``jax.numpy``, element by element, traceable.

The same steps as :mod:`.reference` (the oracle), written so that each output element is a
pure function of its own index, computed from ``lax.broadcasted_iota``: the whole thing is
one element-wise XLA computation, so it jits, vmaps over keys, and under an output sharding
every device computes its own shard where it lives, with no communication.

* Philox4x32-10 in uint32 arithmetic: the 32 x 32-bit products are split into 16-bit
  halves (each partial product < 2^32) and the high word is carried exactly.
* The law's float64 arithmetic is :mod:`.transforms`' own source, inside a scoped
  ``jax.enable_x64`` (the user's program needs no x64 flag; the result is cast to the
  requested dtype before it leaves the scope). XLA's CPU compiler contracts ``a * b + c``
  into a fused multiply-add inside a fusion, which rounds once instead of twice and would
  change the bits; every product therefore passes through :func:`_kept`, a NaN-preserving
  select the compiler cannot see through, so it stays a separately rounded product.
* ``frexp`` (exact), ``sqrt`` and ``/`` (correctly rounded in IEEE-754) are XLA's own;
  the tests compare every law, dtype and shape with the NumPy reference bit for bit.
* Each element computes its own Philox block, so a normal's two lanes cost two blocks:
  twice the reference's Philox work, the price of being shard-local and element-wise.

Importing this module imports jax; nothing else in :mod:`paraminit.core` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from . import transforms as tf
from .law import CONSTANT, NORMAL, TRUNCATED, UNIFORM, ElementLaw

__all__ = ["DTYPES", "KeyWords", "element_values", "philox4x32_10"]

DTYPES = {"float64": jnp.float64, "float32": jnp.float32, "float16": jnp.float16,
          "bfloat16": jnp.bfloat16}
_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85

KeyWords = tuple[Any, Any, Any, Any]  # (key0, key1, tag0, tag1): uint32 scalars or ints


class _F64:
    """A float64 array whose ``*`` is never fused into a following add: lets
    :mod:`.transforms`' engine-neutral source (``+ - * /`` only) run on XLA.

    XLA's CPU compiler fuses element-wise code into one LLVM loop and lets LLVM contract
    ``a * b + c`` into a fused multiply-add, rounded once instead of twice. Each product
    passes through ``where(isnan(p), nan, p)``, which keeps every value but blocks that
    contraction where LLVM cannot prove the product finite. It is not a complete defence:
    XLA's simplifier also reassociates float constants (``(u + a) - 0.5`` into
    ``u + (a - 0.5)``) and LLVM removes the select where it proves a product finite, so the
    inverse-CDF laws can differ from the reference in the last float64 bit (see
    ``docs/jax.md``); the uniform and Box-Muller laws match it bit for bit.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def like(self, value: Any) -> _F64:
        return _F64(value)

    @staticmethod
    def _raw(other: Any) -> Any:
        return other.value if isinstance(other, _F64) else other

    def __add__(self, other: Any) -> _F64:
        return _F64(self.value + self._raw(other))

    def __radd__(self, other: Any) -> _F64:
        return _F64(self._raw(other) + self.value)

    def __sub__(self, other: Any) -> _F64:
        return _F64(self.value - self._raw(other))

    def __rsub__(self, other: Any) -> _F64:
        return _F64(self._raw(other) - self.value)

    def __mul__(self, other: Any) -> _F64:
        product = self.value * self._raw(other)
        return _F64(jnp.where(jnp.isnan(product), jnp.nan, product))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> _F64:
        return _F64(self.value / self._raw(other))

    def __rtruediv__(self, other: Any) -> _F64:
        return _F64(self._raw(other) / self.value)

    def __neg__(self) -> _F64:
        return _F64(-self.value)


def _mulhilo(word: jax.Array, multiplier: int) -> tuple[jax.Array, jax.Array]:
    """(high, low) 32-bit words of ``word * multiplier`` in uint32 arithmetic.

    With ``word = a1 2^16 + a0`` and ``multiplier = m1 2^16 + m0`` every partial product
    ``ai mj`` is below 2^32; the low word is the wrapped product and the high word
    ``a1 m1 + (a0 m1 >> 16) + (a1 m0 >> 16)`` plus the carry out of the middle column.
    """
    m0, m1 = jnp.uint32(multiplier & 0xFFFF), jnp.uint32(multiplier >> 16)
    a0, a1 = word & jnp.uint32(0xFFFF), word >> 16
    p00, p01, p10, p11 = a0 * m0, a0 * m1, a1 * m0, a1 * m1
    middle = (p00 >> 16) + (p01 & jnp.uint32(0xFFFF)) + (p10 & jnp.uint32(0xFFFF))
    high = p11 + (p01 >> 16) + (p10 >> 16) + (middle >> 16)
    return high, word * jnp.uint32(multiplier)


def philox4x32_10(counter: Sequence[jax.Array], key: tuple[Any, Any]) -> tuple[jax.Array, ...]:
    """Philox4x32-10 on uint32 arrays of counter words, one key (uint32 scalars or ints):
    the JAX twin of :func:`paraminit.core.stream.philox4x32_10`."""
    c0, c1, c2, c3 = counter
    k0, k1 = jnp.uint32(key[0]), jnp.uint32(key[1])
    for round_index in range(10):
        if round_index:
            k0 = k0 + jnp.uint32(_W0)
            k1 = k1 + jnp.uint32(_W1)
        high0, low0 = _mulhilo(c0, _M0)
        high1, low1 = _mulhilo(c2, _M1)
        c0, c1, c2, c3 = high1 ^ c1 ^ k0, low1, high0 ^ c3 ^ k1, low0
    return c0, c1, c2, c3


def _unit(high: jax.Array, low: jax.Array) -> _F64:
    """u = (m + 0.5) 2^-52 with m = high 2^20 + (low >> 12): exact in float64."""
    mantissa = _F64(high.astype(jnp.float64)) * 2.0**20 + (low >> 12).astype(
        jnp.float64)
    return (mantissa + 0.5) * 2.0**-52


def _log(x: _F64) -> _F64:
    """ln x for x > 0 finite: frexp (exact), then :func:`transforms.log_reduced`."""
    mantissa, exponent = jnp.frexp(x.value)
    small = mantissa < tf.SQRT_HALF
    f = jnp.where(small, 2.0 * mantissa, mantissa)
    k = (exponent - small.astype(exponent.dtype)).astype(jnp.float64)
    return tf.log_reduced(x.like(f), x.like(k))


def _sqrt(x: _F64) -> _F64:
    return x.like(jnp.sqrt(x.value))


def _where(condition: jax.Array, a: _F64, b: _F64) -> _F64:
    return a.like(jnp.where(condition, a.value, b.value))


def _normal(w: tuple[jax.Array, ...], lane: jax.Array) -> _F64:
    """Box-Muller of each element's block, the lane's half: r cos(theta) or r sin(theta)."""
    radius = _sqrt(-2.0 * _log(_unit(w[0], w[1])))
    # m1 = w2 2^20 + (w3 >> 12); quadrant = m1 >> 50, rho from m1 mod 2^50 (exact).
    rest = _F64((w[2] & jnp.uint32(2**30 - 1)).astype(jnp.float64)) * 2.0**20 + (
        w[3] >> 12).astype(jnp.float64)
    rho = (rest + 0.5) * 2.0**-50
    up = rho.value >= 0.5
    f = _where(up, rho - 1.0, rho)
    quadrant = ((w[2] >> 30) + up.astype(jnp.uint32)) & jnp.uint32(3)
    s, c = tf.sin_half_pi(f).value, tf.cos_half_pi(f).value
    # lane 0: cos over quadrants (c, -s, -c, s); lane 1: sin = cos one quadrant back
    turn = (quadrant + jnp.where(lane == 1, jnp.uint32(3), jnp.uint32(0))) & jnp.uint32(3)
    trig = jnp.where(turn == 0, c, jnp.where(turn == 1, -s, jnp.where(turn == 2, -c, s)))
    return radius * f.like(trig)


def _ndtri(p: _F64, pc: _F64) -> _F64:
    q = p - 0.5
    central = jnp.abs(q.value) <= 0.425
    lower = q.value < 0.0
    tail_p = _where(lower, p, pc)
    r = _sqrt(-_log(_where(central, p.like(jnp.full_like(p.value, 0.5)), tail_p)))
    magnitude = _where(r.value <= 5.0, tf.ndtri_near_tail(r), tf.ndtri_far_tail(r))
    middle = tf.ndtri_central(q.like(jnp.where(central, q.value, 0.0)))
    return _where(central, middle, _where(lower, -magnitude, magnitude))


def _from_uniform(law: ElementLaw, unit: _F64) -> _F64:
    if law.code == UNIFORM:
        return law.shift + law.scale * (2.0 * unit - 1.0)
    if law.code == TRUNCATED:
        x = _ndtri(law.p_lo + unit * law.width, law.q_hi + (1.0 - unit) * law.width)
    else:
        x = tf.ndtri_far(law.log_hi + _log(unit + (1.0 - unit) * law.ratio),
                         _log, _sqrt)
    clipped = x.like(jnp.clip(x.value, law.lo, law.hi))
    return law.shift + law.scale * (law.flip * clipped)


def _element_index(shape: tuple[int, ...], order: tuple[int, ...] | None) -> jax.Array:
    """Each storage element's index in the canonical C order (uint64)."""
    rank = len(shape)
    order = tuple(range(rank)) if order is None else order
    canonical_shape = [shape[axis] for axis in order]
    stride, strides = 1, {}
    for position in reversed(range(rank)):
        strides[order[position]] = stride
        stride *= canonical_shape[position]
    index = jnp.zeros(shape, dtype=jnp.uint64)
    for axis in range(rank):
        if shape[axis] > 1:
            index = index + lax.broadcasted_iota(jnp.uint64, shape, axis) * jnp.uint64(
                strides[axis])
    return index


def _law_values(law: ElementLaw, words: KeyWords, shape: tuple[int, ...],
                order: tuple[int, ...] | None) -> jax.Array:
    if law.code == CONSTANT:
        return jnp.full(shape, law.shift, dtype=jnp.float64)
    index = _element_index(shape, order)
    block = index >> 1
    lane = (index & jnp.uint64(1)).astype(jnp.uint32)
    counter = (block.astype(jnp.uint32), (block >> 32).astype(jnp.uint32),
               jnp.broadcast_to(jnp.uint32(words[2]), shape),
               jnp.broadcast_to(jnp.uint32(words[3]), shape))
    w = philox4x32_10(counter, (words[0], words[1]))
    if law.code == NORMAL:
        return (law.shift + law.scale * _normal(w, lane)).value
    high = jnp.where(lane == 1, w[2], w[0])
    low = jnp.where(lane == 1, w[3], w[1])
    return _from_uniform(law, _unit(high, low)).value


def element_values(law: ElementLaw, dtype: str, clip: tuple[float, float],
                   words: KeyWords, shape: tuple[int, ...],
                   order: tuple[int, ...] | None = None) -> jax.Array:
    """The values of ``law`` for a tensor of storage ``shape``, as a jax array of ``dtype``.

    ``words`` are the stream's key and counter tag (uint32 scalars, traced or not: from
    :class:`paraminit.core.stream.Stream` or a JAX key's data); ``order`` the spec's
    canonical element order; ``clip`` the bounds rounded inward in ``dtype``
    (:func:`paraminit.core.engines.prepare`). The cast policy of :mod:`.cast`: clip in
    float64, round to float32, clip there and round once more to float16 or bfloat16.
    """
    with jax.enable_x64(True):
        values = _law_values(law, tuple(jnp.asarray(w, dtype=jnp.uint32) for w in words),
                             tuple(shape), order)
        low, high = clip
        if dtype == "float64":
            return jnp.clip(values, low, high)
        single = jnp.clip(values.astype(jnp.float32), jnp.float32(low), jnp.float32(high))
        return single if dtype == "float32" else single.astype(DTYPES[dtype])
