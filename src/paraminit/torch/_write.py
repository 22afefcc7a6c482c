"""Seeds from torch generators, and writing a spec's values into a tensor in place.

The values never come from torch's RNG: a spec is sampled by the core's counter-based
stream (:class:`paraminit.core.stream.Stream`) in float64, cast once, and copied into the
tensor. Only the *seed* comes from torch, so ``torch.manual_seed`` keeps reproducing.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from .._errors import InitError
from ..core.sampling import ELEMENTWISE, draw, draw_elements
from ..core.spec import InitSpec
from ..core.stream import Stream

__all__ = ["SEED_HIGH", "check_dtype", "draw_seed", "empty_noop", "write_spec"]

# torch.randint's upper bound is exclusive and must fit an int64: seeds lie in
# [0, 2**63 - 2], all valid Stream seeds.
SEED_HIGH = 2**63 - 1

_DETERMINISTIC = frozenset({"constant", "identity", "dirac"})
_LOW_PRECISION = (torch.float16, torch.bfloat16)
_SUPPORTED = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# Element-wise laws of larger contiguous tensors are sampled this many elements at a time,
# bounding the float64 temporaries to 32 MB; each element depends only on its index, so
# the values are the same as sampled whole.
_CHUNK_ELEMENTS = 1 << 22


def draw_seed(generator: torch.Generator | None = None) -> int:
    """One seed for the core stream: ``torch.randint(0, 2**63 - 1, (1,), generator=generator)``.

    Exactly one draw from ``generator`` (torch's default generator when None), so
    ``torch.manual_seed(s)`` reproduces a sequence of calls and successive calls differ.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    return int(torch.randint(0, SEED_HIGH, (1,), generator=generator, device=device).item())


def empty_noop(tensor: torch.Tensor, stacklevel: int = 3) -> bool:
    """torch's zero-element rule: warn ``"Initializing zero-element tensors is a no-op"``.

    ``stacklevel`` counts from this function, so 3 points at the caller of its caller.
    """
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=stacklevel)
        return True
    return False


def check_dtype(tensor: torch.Tensor, function: str) -> None:
    """Random laws are sampled for real floating tensors only."""
    if tensor.dtype not in _SUPPORTED:
        raise InitError(
            f"{function}: tensor dtype must be one of float16, bfloat16, float32, float64 for a "
            f"random init; received {tensor.dtype}. Initialise a float tensor and cast it "
            "(e.g. w.data = w.float()), or use constant_/zeros_ for other dtypes"
        )


def write_spec(
    tensor: torch.Tensor, spec: InitSpec, *, seed: int | None = None,
    generator: torch.Generator | None = None, name: str = "", function: str = "init_",
    bounds: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Sample ``spec`` with ``Stream(seed, name)`` and copy it into ``tensor`` under no_grad.

    ``seed`` None draws one from ``generator`` (:func:`draw_seed`); deterministic specs
    (constant, identity, dirac) draw none. Meta tensors are left alone (no storage) and
    consume no seed. Float64 tensors get the float64 values; every other float dtype gets
    them cast to float32 and then, once, to its own dtype. Bounded laws (``bounds``, by
    default ``spec.bounds``) are clipped after each cast to the bounds rounded *inward* in
    that dtype, so no value ever lies outside them; this moves only values within one ulp
    of a bound (no mass piles up there). For float32/float64 tensors the values equal
    ``paraminit.numpy.sample(spec, seed=seed, name=name, dtype=...)`` bit for bit.
    """
    if tensor.is_meta:
        return tensor
    deterministic = spec.distribution in _DETERMINISTIC
    if not deterministic:
        check_dtype(tensor, function)
    if tuple(tensor.shape) != spec.shape:
        raise InitError(
            f"{function}: the spec's shape {spec.shape} differs from the tensor's "
            f"{tuple(tensor.shape)}; resolve the spec on tensor.shape"
        )
    if seed is None:
        seed = 0 if deterministic else draw_seed(generator)
    bounds = spec.bounds if bounds is None else bounds
    numel = tensor.numel()
    if spec.distribution in ELEMENTWISE and numel > _CHUNK_ELEMENTS and tensor.is_contiguous():
        stream = Stream(seed, name)
        with torch.no_grad():
            flat = tensor.view(-1)
            for start in range(0, numel, _CHUNK_ELEMENTS):
                stop = min(numel, start + _CHUNK_ELEMENTS)
                chunk = torch.from_numpy(draw_elements(spec, stream, start, stop))
                flat[start:stop].copy_(_cast(chunk, tensor.dtype, bounds))
        return tensor
    # ascontiguousarray makes 0-D arrays 1-D: reshape back
    values = torch.from_numpy(np.ascontiguousarray(draw(spec, Stream(seed, name))))
    values = values.reshape(spec.shape)
    values = _cast(values, tensor.dtype, bounds)
    with torch.no_grad():
        tensor.copy_(values)
    return tensor


def _cast(
    values: torch.Tensor, dtype: torch.dtype, bounds: tuple[float, float] | None
) -> torch.Tensor:
    """float64 CPU values -> ``dtype`` (via float32 below float64), bounds kept."""
    if not dtype.is_floating_point:  # deterministic 0/1 patterns: copy_ converts exactly
        return values
    if bounds is not None:
        values = _clip_inward(values, bounds)
    if dtype != torch.float64:
        values = values.to(torch.float32)
        if bounds is not None:
            values = _clip_inward(values, bounds)
    if dtype in _LOW_PRECISION:
        values = values.to(dtype)
        if bounds is not None:
            values = _clip_inward(values, bounds)
    return values


def _clip_inward(values: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    low, high = bounds
    return torch.clamp(values, min=_inward(low, values.dtype, +1.0),
                       max=_inward(high, values.dtype, -1.0))


def _inward(bound: float, dtype: torch.dtype, direction: float) -> torch.Tensor:
    """``bound`` rounded to ``dtype``, stepped one ulp towards ``direction`` if it fell outside.

    The torch twin of :func:`paraminit.core.sampling.inward_bounds` (same rounding, same
    step), usable for bfloat16, which NumPy lacks.
    """
    rounded = torch.tensor(bound, dtype=torch.float64).to(dtype)
    outside = float(rounded) < bound if direction > 0 else float(rounded) > bound
    if outside:
        rounded = torch.nextafter(rounded, torch.tensor(direction * math.inf, dtype=dtype))
    return rounded
