"""The torch-native engine: stream v2 in torch tensor ops, on the destination's own device.

The same steps as :mod:`.reference` (the oracle), written with eager torch operations so
they run where the tensor lives (CPU, CUDA, ...) and give the same bits:

* Philox4x32-10 in int64 tensors. A 32 x 32-bit product does not fit an int64, so the
  constant multiplier is split into 16-bit halves (each partial product < 2^48) and the
  product's high and low 32-bit words are recombined exactly.
* The law's float64 arithmetic is :mod:`.transforms`' own source (only ``+ - * /``, each
  one eager kernel, so nothing is contracted into a fused multiply-add); ``frexp`` (from the
  bit pattern) and selections (``torch.where``) are exact on every device. Nothing divides
  by a Python scalar (CUDA turns ``t / c`` into ``t * (1 / c)``), and ``1.0 / t`` is
  torch's ``reciprocal(t) * 1.0``, the same correctly rounded quotient.
* ``torch.sqrt`` is *not* correctly rounded on every CPU build (torch 2.13's x86 wheel
  misses by one ulp on about 1% of float64 inputs, at any ``ATEN_CPU_CAPABILITY``), so
  :func:`_sqrt` corrects its result to the correctly rounded root by an exact test.
* The cast policy of :mod:`.cast`: clip in float64, round to float32, clip in float32 and
  round once more to float16/bfloat16; torch's conversions round to nearest even, as the
  policy does.

Each Philox block is computed once per pass and gives both of its lanes. Work goes in
passes of at most :data:`_PASS_ELEMENTS` (CPU) or :data:`_DEVICE_PASS_ELEMENTS` (other
devices) elements, so temporaries stay bounded whatever the tensor's size. The math needs
float64: on a device without it (Apple MPS) an ``InitError`` says so before anything is
written. Importing this module imports torch; nothing else in :mod:`paraminit.core` does.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..._errors import InitError
from ..stream import Stream
from . import transforms as tf
from .law import CONSTANT, NORMAL, TRUNCATED, UNIFORM, ElementLaw

if TYPE_CHECKING:
    from . import Box, Prepared

__all__ = ["check_device", "fill", "fill_tensor", "law_values", "philox4x32_10"]

# Elements per pass: each temporary stays within 2 MB (cache-sized) on the CPU, 32 MB on
# a GPU (where a pass is a few hundred kernel launches, each needs to be large).
_PASS_ELEMENTS = 1 << 18
_DEVICE_PASS_ELEMENTS = 1 << 22

_MASK32 = 0xFFFFFFFF
_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
           "bfloat16": torch.bfloat16}

Word = torch.Tensor | int


def check_device(device: torch.device) -> None:
    """InitError when the engine cannot compute stream v2's float64 arithmetic on ``device``."""
    if device.type == "mps":
        raise InitError(
            f"the torch-native engine computes stream v2 in float64, which the {device} "
            "device does not support, so its values would differ from every other device; "
            "initialise the tensor on the CPU and move it (t = t.cpu(); init ...; "
            "t = t.to('mps')), or initialise the module before module.to('mps')"
        )


def _mulhilo(word: Word, multiplier: int) -> tuple[Word, Word]:
    """(high, low) 32-bit words of ``word * multiplier``, both < 2^32, exactly in int64.

    ``word * multiplier = b 2^16 + a`` with ``a = word * (multiplier mod 2^16)`` and
    ``b = word * (multiplier div 2^16)``, both < 2^48; ``t = a + (b mod 2^16) 2^16 < 2^49``
    gives low = t mod 2^32 and high = b div 2^16 + t div 2^32. In place on the temporaries.
    """
    if isinstance(word, int):
        product = word * multiplier
        return product >> 32, product & _MASK32
    a = word * (multiplier & 0xFFFF)
    b = word * (multiplier >> 16)
    t = (b & 0xFFFF).bitwise_left_shift_(16).add_(a)
    high = b.bitwise_right_shift_(16).add_(t >> 32)
    return high, t.bitwise_and_(_MASK32)


def _xor(fresh: Word, *others: Word) -> Word:
    """``fresh ^ others...``, in place when ``fresh`` is a temporary tensor."""
    if isinstance(fresh, int):
        return fresh ^ others[0] ^ others[1]
    for other in others:
        fresh = fresh.bitwise_xor_(other)
    return fresh


def philox4x32_10(counter: tuple[Word, Word, Word, Word],
                  key: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    """Philox4x32-10 on int64 tensors (or Python ints) of 32-bit counter words, one key.

    The torch twin of :func:`paraminit.core.stream.philox4x32_10`; returns four int64
    tensors of 32-bit values (at least one counter word must be a tensor). The counter
    tensors are not modified.
    """
    c0, c1, c2, c3 = counter
    k0, k1 = key[0] & _MASK32, key[1] & _MASK32
    for round_index in range(10):
        if round_index:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        high0, low0 = _mulhilo(c0, _M0)
        high1, low1 = _mulhilo(c2, _M1)
        c0, c1, c2, c3 = _xor(high1, c1, k0), low1, _xor(high0, c3, k1), low0
    return c0, c1, c2, c3


def _sqrt(x: torch.Tensor) -> torch.Tensor:
    """The correctly rounded square root of float64 ``x`` in [2^-900, 2^900] (IEEE sqrt)."""
    return _round_sqrt(x, torch.sqrt(x))


def _round_sqrt(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The correctly rounded sqrt of ``x``, given ``y`` within one ulp of it.

    ``y`` moves one ulp up (down) when x lies above (below) the square of the midpoint to
    its upper (lower) neighbour. With Dekker's exact square ``y * y = p + e`` (Veltkamp
    split, ``+ - *`` only; ``x - p`` is exact by Sterbenz) and ``y = Y 2^(k-53)``, the terms
    of ``x - (y +- h)^2`` scaled by ``2^(106 - 2k)`` are integers below 2^57 but for h^2
    (1/4, or 1/16 below a power of two), so the test is exact in int64, and never a tie.
    """
    bits = y.view(torch.int64)
    k = (bits >> 52) - 1022                      # y in [2^(k-1), 2^k)
    fraction = bits & (2**52 - 1)
    mantissa = fraction | 2**52                  # Y: y = Y 2^(k-53)
    scale = ((1023 + 106 - 2 * k) << 52).view(torch.float64)  # 2^(106 - 2k), exact
    c = y * 134217729.0                          # 2^27 + 1
    high = c - (c - y)
    low = y - high
    p = y * y
    e = ((high * high - p) + (high * low + high * low)) + low * low
    r = ((x - p) * scale).to(torch.int64) - (e * scale).to(torch.int64)  # (x - y^2) S
    up = (r - mantissa) > 0                      # x > (y + h)^2, h = ulp(y) / 2
    down = (r + torch.where(fraction == 0, 2**51, mantissa)) <= 0  # x < (y - h_below)^2
    return (bits + up.to(torch.int64) - down.to(torch.int64)).view(torch.float64)


def _words(stream: Stream, blocks: torch.Tensor) -> tuple[torch.Tensor, ...]:
    tag0, tag1 = stream.tag
    return philox4x32_10((blocks & _MASK32, blocks >> 32, tag0, tag1), stream.key)


def _mantissa(high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
    return (high << 20) | (low >> 12)


def _unit(mantissa: torch.Tensor) -> torch.Tensor:
    return (mantissa.to(torch.float64) + 0.5) * 2.0**-52


def _frexp(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """NumPy's frexp of positive finite float64 ``x``: ``x = m 2^e``, m in [1/2, 1), exactly.

    From the bit pattern (int64 ops only), so it runs on every device with float64, unlike
    ``torch.frexp``; a subnormal is first scaled by 2^54 (exact).
    """
    tiny = x < 2.0**-1022
    bits = torch.where(tiny, x * 2.0**54, x).view(torch.int64)
    exponent = (bits >> 52) - torch.where(tiny, 1022 + 54, 1022)
    mantissa = ((bits & (2**52 - 1)) | (1022 << 52)).view(torch.float64)
    return mantissa, exponent


def _log(x: torch.Tensor) -> torch.Tensor:
    """ln x for x > 0 finite: frexp (exact), then :func:`transforms.log_reduced`."""
    mantissa, exponent = _frexp(x)
    small = mantissa < tf.SQRT_HALF
    f = torch.where(small, 2.0 * mantissa, mantissa)
    k = (exponent - small.to(torch.int64)).to(torch.float64)
    return tf.log_reduced(f, k)


def _normal_pairs(w: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Box-Muller of each block: (..., 2), lane 0 r cos(theta) and lane 1 r sin(theta)."""
    radius = _sqrt(-2.0 * _log(_unit(_mantissa(w[0], w[1]))))
    m1 = _mantissa(w[2], w[3])
    rho = ((m1 & (2**50 - 1)).to(torch.float64) + 0.5) * 2.0**-50
    up = rho >= 0.5
    f = torch.where(up, rho - 1.0, rho)
    quadrant = ((m1 >> 50) + up.to(torch.int64)) & 3
    s, c = tf.sin_half_pi(f), tf.cos_half_pi(f)
    table = (c, -s, -c, s)

    def trig(turn: torch.Tensor) -> torch.Tensor:
        return torch.where(turn == 0, table[0], torch.where(
            turn == 1, table[1], torch.where(turn == 2, table[2], table[3])))

    return radius[..., None] * torch.stack((trig(quadrant), trig((quadrant + 3) & 3)), dim=-1)


def _ndtri(p: torch.Tensor, pc: torch.Tensor) -> torch.Tensor:
    q = p - 0.5
    central = q.abs() <= 0.425
    lower = q < 0.0
    tail_p = torch.where(lower, p, pc)
    r = _sqrt(-_log(torch.where(central, 0.5, tail_p)))
    magnitude = torch.where(r <= 5.0, tf.ndtri_near_tail(r), tf.ndtri_far_tail(r))
    return torch.where(central, tf.ndtri_central(torch.where(central, q, 0.0)),
                       torch.where(lower, -magnitude, magnitude))


def _from_uniform(law: ElementLaw, u: torch.Tensor) -> torch.Tensor:
    if law.code == UNIFORM:
        return law.shift + law.scale * (2.0 * u - 1.0)
    if law.code == TRUNCATED:
        x = _ndtri(law.p_lo + u * law.width, law.q_hi + (1.0 - u) * law.width)
    else:
        x = tf.ndtri_far(law.log_hi + _log(u + (1.0 - u) * law.ratio),
                         _log, _sqrt)
    x = torch.clamp(x, law.lo, law.hi)
    return law.shift + law.scale * (law.flip * x)


def _block_values(law: ElementLaw, stream: Stream, blocks: torch.Tensor) -> torch.Tensor:
    """Float64 values of both lanes of each block: shape ``blocks.shape + (2,)``."""
    w = _words(stream, blocks)
    if law.code == NORMAL:
        return law.shift + law.scale * _normal_pairs(w)
    u = torch.stack((_unit(_mantissa(w[0], w[1])), _unit(_mantissa(w[2], w[3]))), dim=-1)
    return _from_uniform(law, u)


def law_values(law: ElementLaw, stream: Stream, starts: np.ndarray, length: int,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """Float64 values of elements ``starts[r] + j`` (j < length), run by run: (R * length,)."""
    device = torch.device(device)
    runs = int(starts.size)
    if law.code == CONSTANT:
        return torch.full((runs * length,), law.shift, dtype=torch.float64, device=device)
    odd = (starts & np.uint64(1)).astype(bool)
    any_odd, all_odd = bool(odd.any()), bool(odd.all())
    per_run = length // 2 + 1 if any_odd else (length + 1) // 2
    offsets = torch.arange(per_run, dtype=torch.int64, device=device)
    if runs == 1:
        blocks = (offsets + int(starts[0]) // 2)[None, :]
    else:
        first = torch.from_numpy((starts >> np.uint64(1)).astype(np.int64)).to(device)
        blocks = first[:, None] + offsets
    pairs = _block_values(law, stream, blocks).reshape(runs, 2 * per_run)
    if all_odd:
        values = pairs[:, 1:length + 1]
    elif not any_odd:
        values = pairs[:, :length]
    else:
        mask = torch.from_numpy(odd).to(device)[:, None]
        values = torch.where(mask, pairs[:, 1:length + 1], pairs[:, :length])
    return values.reshape(-1)


def _cast(values: torch.Tensor, dtype: str, clip: tuple[float, float]) -> torch.Tensor:
    """The policy of :mod:`.cast`; the clip bounds are representable in ``dtype``."""
    if dtype == "float64":
        return torch.clamp(values, clip[0], clip[1])
    single = torch.clamp(values.to(torch.float32), clip[0], clip[1])
    return single if dtype == "float32" else single.to(_DTYPES[dtype])


def _pieces(run_starts: np.ndarray, run_length: int, per_pass: int):
    """(starts of the pass's runs, length, position in the output) of each pass."""
    if run_length >= per_pass:  # long runs: each is cut into pieces
        for run, start in enumerate(run_starts.tolist()):
            for offset in range(0, run_length, per_pass):
                yield (np.array([start + offset], dtype=np.uint64),
                       min(per_pass, run_length - offset), run * run_length + offset)
        return
    runs_per_pass = max(1, per_pass // run_length)
    for first in range(0, run_starts.size, runs_per_pass):
        yield run_starts[first:first + runs_per_pass], run_length, first * run_length


def fill(out: torch.Tensor, dtype: str, law: ElementLaw, stream: Stream,
         run_starts: np.ndarray, run_length: int, clip: tuple[float, float]) -> None:
    """The torch twin of :func:`.reference.fill`: ``out`` is a flat contiguous tensor of
    ``dtype`` (float16 and bfloat16 as themselves), on any device with float64."""
    check_device(out.device)
    per_pass = _PASS_ELEMENTS if out.device.type == "cpu" else _DEVICE_PASS_ELEMENTS
    for starts, length, position in _pieces(run_starts, run_length, per_pass):
        values = law_values(law, stream, starts, length, out.device)
        out[position:position + values.numel()].copy_(_cast(values, dtype, clip))


def fill_tensor(tensor: torch.Tensor, prepared: Prepared, stream: Stream, box: Box) -> None:
    """Write the box's values into ``tensor`` in place, on its own device.

    ``tensor`` holds ``box.box_shape``'s elements in C order (any strides); ``prepared``
    is :func:`paraminit.core.engines.prepare`'s for the tensor's dtype. A contiguous tensor
    is written pass by pass through a flat view; another through one contiguous temporary
    on its device. Everything is checked before the first write.
    """
    law, name, clip = prepared
    check_device(tensor.device)
    if _DTYPES.get(name) != tensor.dtype:
        raise InitError(f"the destination's dtype {tensor.dtype} differs from the prepared "
                        f"dtype {name}; prepare the spec for {tensor.dtype}")
    count = math.prod(box.box_shape)
    if tensor.numel() != count:
        raise InitError(f"the destination must hold the box's {count} elements; received "
                        f"shape {tuple(tensor.shape)}")
    if count == 0:
        return
    run_starts, run_length = box.runs()
    with torch.no_grad():
        if tensor.is_contiguous():
            fill(tensor.detach().view(-1), name, law, stream, run_starts, run_length, clip)
        else:
            staging = torch.empty(tensor.shape, dtype=tensor.dtype, device=tensor.device)
            fill(staging.view(-1), name, law, stream, run_starts, run_length, clip)
            tensor.copy_(staging)
