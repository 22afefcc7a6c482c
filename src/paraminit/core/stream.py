"""Counter-based random streams: values are a pure function of (seed, name, element index).

The generator is Philox4x32-10 (Salmon et al. 2011, "Parallel Random Numbers: As Easy as
1, 2, 3", SC'11, §4.2), implemented here in vectorised NumPy as the reference. The exact
bit-level recipe, enough for another implementation to reproduce every value, is in
``docs/streams.md``; in short:

* ``digest = SHA-256(b"paraminit/philox4x32-10/v1" + u64le(seed) + u64le(len(name_utf8)) +
  name_utf8 + purpose_utf8)``, read as eight little-endian uint32 words ``h0..h7``;
  key = (h0, h1); counter of block ``b`` = (b mod 2^32, b div 2^32, h2, h3).
* Element ``i`` of the C-order flattening lives in block ``i // 2``, lane ``i % 2``.
* Uniform: lane ``l`` uses words (2l, 2l+1): ``m = w[2l]·2^20 + (w[2l+1] >> 12)``,
  ``u = (m + 0.5)·2^-52`` in (0, 1), never 0 or 1 (52 bits, so m + 0.5 is exact).
* Normal: Box-Muller on the block's two uniforms u0, u1: lane 0 is
  ``sqrt(-2 ln u0)·cos(2π u1)``, lane 1 the same with ``sin``, where ln, cos and sin are
  stream v2's own (:mod:`paraminit.core.engines.transforms`), made of correctly rounded
  IEEE operations only, so every engine computes the same bits.

Because each element depends only on its own index, a tensor sampled whole, in chunks,
on one thread or sharded over many processes gets bit-identical values.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from .._errors import InitError
from . import validate

__all__ = ["KeyStream", "MAX_SEED", "STREAM_VERSION", "Stream", "philox4x32_10"]

MAX_SEED = 2**64 - 1
# v2 (paraminit 0.2): the normal and truncated-normal transforms use the engines' shared
# arithmetic instead of libm; keys and uniforms are unchanged from v1.
STREAM_VERSION = 2
_DOMAIN = b"paraminit/philox4x32-10/v1"
# Philox4x32 round multipliers and Weyl key increments (Salmon et al. 2011, Table 2; the
# increments are the golden ratio and sqrt(3) - 1 in 0.32 fixed point).
_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK32 = 0xFFFFFFFF
_ROUNDS = 10


def philox4x32_10(
    counter: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], key: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Philox4x32 with 10 rounds on arrays of counter words (uint32 values), one key.

    Returns the four output words as uint64 arrays holding 32-bit values. Checked against
    the Random123 known-answer vectors in the tests.
    """
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in counter)
    k0, k1 = key[0] & _MASK32, key[1] & _MASK32
    m0, m1, mask = np.uint64(_M0), np.uint64(_M1), np.uint64(_MASK32)
    shift = np.uint64(32)
    for round_index in range(_ROUNDS):
        if round_index:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        p0 = c0 * m0
        p1 = c2 * m1
        c0, c1, c2, c3 = (
            (p1 >> shift) ^ c1 ^ np.uint64(k0),
            p1 & mask,
            (p0 >> shift) ^ c3 ^ np.uint64(k1),
            p0 & mask,
        )
    return c0, c1, c2, c3


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InitError(f"seed must be an int in [0, 2**64 - 1]; received {seed!r}")
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise InitError(f"seed must be an int in [0, 2**64 - 1]; received {seed!r}")
    return seed


@dataclass(frozen=True)
class Stream:
    """The random stream of one parameter: ``Stream(seed, name)``.

    ``purpose`` separates independent sub-streams of the same parameter (the sparse
    init's mask uses ``purpose="mask"``).
    """

    seed: int
    name: str = ""
    purpose: str = ""
    _key: tuple[int, int] = field(init=False, repr=False, compare=False)
    _tag: tuple[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seed = _check_seed(self.seed)
        name = validate.text("name", self.name).encode("utf-8")
        purpose = validate.text("purpose", self.purpose).encode("utf-8")
        digest = hashlib.sha256(
            _DOMAIN
            + seed.to_bytes(8, "little")
            + len(name).to_bytes(8, "little")
            + name
            + purpose
        ).digest()
        words = np.frombuffer(digest, dtype="<u4")
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "_key", (int(words[0]), int(words[1])))
        object.__setattr__(self, "_tag", (int(words[2]), int(words[3])))

    def substream(self, purpose: str) -> Stream:
        return Stream(self.seed, self.name, purpose)

    @property
    def key(self) -> tuple[int, int]:
        """The Philox key (h0, h1) of this stream."""
        return self._key

    @property
    def tag(self) -> tuple[int, int]:
        """The counter's upper words (h2, h3).

        Block b's counter is (b mod 2^32, b div 2^32, h2, h3).
        """
        return self._tag

    def uniform(self, start: int, stop: int) -> np.ndarray:
        """Uniform (0, 1) float64 values of elements ``start .. stop - 1`` (52-bit grid)."""
        from .engines import STANDARD_UNIFORM, flat_values

        return flat_values(STANDARD_UNIFORM, self, *_check_range(start, stop))

    def normal(self, start: int, stop: int) -> np.ndarray:
        """Standard normal float64 values of elements ``start .. stop - 1`` (Box-Muller)."""
        from .engines import STANDARD_NORMAL, flat_values

        return flat_values(STANDARD_NORMAL, self, *_check_range(start, stop))


def _check_range(start: int, stop: int) -> tuple[int, int]:
    for argument, value in (("start", start), ("stop", stop)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InitError(f"{argument} must be a non-negative int; received {value!r}")
    if stop < start:
        raise InitError(f"stop must be >= start; received start={start!r}, stop={stop!r}")
    return int(start), int(stop)


@dataclass(frozen=True)
class KeyStream(Stream):
    """The stream of a JAX key: its Philox key and counter tag are the key's four data
    words ``(key0, key1, tag0, tag1)`` themselves (no SHA-256 of a seed and name), so the
    same words traced on a device or given to the host give the same values. A sub-stream
    (the sparse init's mask) hashes the words with its purpose.
    """

    seed: int = 0
    words: tuple[int, int, int, int] = (0, 0, 0, 0)

    def __post_init__(self) -> None:
        words = tuple(int(w) & _MASK32 for w in self.words)
        if self.purpose:
            digest = hashlib.sha256(_DOMAIN + b"/key" + np.asarray(words, dtype="<u4")
                                    .tobytes() + self.purpose.encode("utf-8")).digest()
            words = tuple(int(w) for w in np.frombuffer(digest, dtype="<u4")[:4])
        object.__setattr__(self, "_key", words[:2])
        object.__setattr__(self, "_tag", words[2:])

    def substream(self, purpose: str) -> Stream:
        return KeyStream(purpose=validate.text("purpose", purpose), words=self.words)
