"""Seeds from torch generators, and writing a spec's values into a tensor in place.

The values never come from torch's RNG: a spec is sampled by the core's counter-based
stream (:class:`paraminit.core.stream.Stream`) through the engine seam
(:mod:`paraminit.core.engines`). A contiguous CPU tensor is written in place by the
compiled engine, through a NumPy view of its own storage (no copy of the tensor); a tensor
on another device, or a non-contiguous one, by the torch-native engine on its own device
(:mod:`paraminit.core.engines.torch_engine`: the same bits, no host staging copy). Only the
*seed* comes from torch, so ``torch.manual_seed`` keeps reproducing.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from .._errors import InitError
from ..core.engines import (
    ELEMENTWISE,
    STANDARD_NORMAL,
    Box,
    Prepared,
    canonical,
    fill_box,
    prepare,
    set_num_threads,
    torch_engine,
)
from ..core.engines.cast import check_magnitude
from ..core.spec import InitSpec
from ..core.stream import Stream
from ..core.structured import matrix_shape, orthogonal_from_gaussian, structured_values, support

__all__ = ["SEED_HIGH", "check_dtype", "draw_seed", "empty_noop", "write_spec"]

# torch.randint's upper bound is exclusive and must fit an int64: seeds lie in
# [0, 2**63 - 2], all valid Stream seeds.
SEED_HIGH = 2**63 - 1

_DETERMINISTIC = frozenset({"constant", "identity", "dirac", "identity_hadamard"})
_SUPPORTED_BY_INDEX = frozenset({"identity", "dirac"})
_SUPPORTED = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


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
    bounds: tuple[float, float] | None = None, box: Box | None = None,
) -> torch.Tensor:
    """Sample ``spec`` with ``Stream(seed, name)`` and write it into ``tensor`` under no_grad.

    ``seed`` None draws one from ``generator`` (:func:`draw_seed`); deterministic specs
    (constant, identity, dirac) draw none. Meta tensors are left alone (no storage) and
    consume no seed. Values follow the one cast policy (float64 -> float32 -> float16 or
    bfloat16, :mod:`paraminit.core.engines.cast`); bounded laws (``bounds``, by default
    ``spec.bounds``) are clipped to their bounds rounded *inward* in the tensor's dtype, so
    no value ever lies outside them. ``box`` (element-wise laws) says which part of the
    spec's tensor ``tensor`` holds: a shard gets the values of that part of the whole. The
    values equal ``paraminit.numpy.sample(spec, seed=seed, name=name, dtype=...)`` bit for
    bit. Everything that can fail is checked before the first value is written.
    """
    if tensor.is_meta:
        return tensor
    deterministic = spec.distribution in _DETERMINISTIC
    if not deterministic:
        check_dtype(tensor, function)
    box = Box.whole(spec.shape) if box is None else box
    if tuple(tensor.shape) != box.box_shape:
        raise InitError(
            f"{function}: the spec's shape {box.box_shape} differs from the tensor's "
            f"{tuple(tensor.shape)}; resolve the spec on tensor.shape"
        )
    if spec.element_order is not None:  # written through a view in the canonical order
        moved = canonical(spec, box)
        write_spec(tensor.permute(spec.element_order), moved.spec, seed=seed,
                   generator=generator, name=name, function=function, bounds=bounds,
                   box=moved.box)
        return tensor
    if seed is None:
        seed = 0 if deterministic else draw_seed(generator)
    stream = Stream(seed, name)
    if not tensor.dtype.is_floating_point:
        return _write_exact(tensor, spec, stream, function)
    if spec.distribution not in ELEMENTWISE:
        if box != Box.whole(spec.shape):
            raise InitError(f"{function}: {spec.scheme} is sampled whole; it cannot be "
                            "written shard by shard")
        return _write_structured(tensor, spec, stream)
    prepared = prepare(spec, tensor.dtype, bounds)
    torch_engine.check_device(tensor.device)
    with torch.no_grad():
        _fill(tensor, prepared, stream, box)
    return tensor


def _fill(tensor: torch.Tensor, prepared: Prepared, stream: Stream, box: Box) -> None:
    """The box's values into ``tensor`` on its own device.

    A CPU tensor is written by the compiled engine through a NumPy view of its own storage
    (a non-contiguous one through a contiguous CPU temporary); a tensor on another device
    by the torch-native engine there.
    """
    if tensor.device.type != "cpu":
        torch_engine.fill_tensor(tensor, prepared, stream, box)
        return
    target = tensor if tensor.is_contiguous() else torch.empty(tensor.shape, dtype=tensor.dtype)
    storage = target.detach()
    if target.dtype == torch.bfloat16:
        view = storage.view(torch.int16).numpy().view(np.uint16)
    else:
        view = storage.numpy()
    threads = torch.get_num_threads()
    set_num_threads(threads)
    try:
        fill_box(view, prepared, stream, box)
    finally:
        # numba's OpenMP layer sets the process's OpenMP thread count, which torch reads as
        # its own: give torch back the count it had (torch.set_num_threads(1) stays 1)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    if target is not tensor:
        tensor.copy_(target)


def _write_structured(tensor: torch.Tensor, spec: InitSpec, stream: Stream) -> torch.Tensor:
    dtype = str(tensor.dtype).removeprefix("torch.")
    if spec.distribution in _SUPPORTED_BY_INDEX:  # zeros and a few values, written in place
        index, value = support(spec)
        check_magnitude(abs(value), dtype)
        with torch.no_grad():
            tensor.zero_()
            tensor[tuple(torch.from_numpy(i).to(tensor.device) for i in index)] = _rounded(
                torch.tensor(value, dtype=torch.float64), tensor.dtype).to(tensor.device)
        return tensor
    if spec.distribution == "orthogonal":
        values = _orthogonal(tensor, spec, stream)
    else:
        values = torch.from_numpy(np.ascontiguousarray(structured_values(spec, stream)))
        values = values.reshape(spec.shape).to(tensor.device)
    if values.numel():
        low, high = torch.aminmax(values)
        check_magnitude(max(float(high), -float(low)), dtype)
    with torch.no_grad():
        tensor.copy_(_rounded(values, tensor.dtype))
    return tensor


def _rounded(values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The cast policy on whole values: float64 -> float32 -> the tensor's dtype."""
    return values if values.dtype == dtype else values.to(torch.float32).to(dtype)


# Householder QR in float32 keeps max|QᵀQ − I| below 1e-6 up to this many rows or columns
# (measured with torch 2.13 on the CPU: 5.5e-7 at 1024², 8.3e-7 at 4096²). Matrices at
# least _FLOAT32_QR_MIN on their short side (where the factorisation's cost matters) and at
# most _FLOAT32_QR_MAX on their long side, bound for float32 or narrower, are factorised in
# float32; the rest in float64, whose error (< 1e-12) is below any storage rounding.
_FLOAT32_QR_MIN, _FLOAT32_QR_MAX = 256, 4096


def _orthogonal(tensor: torch.Tensor, spec: InitSpec, stream: Stream) -> torch.Tensor:
    """An orthogonal spec's values by torch's QR on the tensor's device.

    The Gaussian is the same stream elements as :func:`paraminit.core.structured.orthogonal`
    (the engines write it in the working dtype); the factorisation is torch's, so values
    equal the NumPy backend's to rounding, not bit for bit (no two LAPACKs agree to the bit),
    and repeat exactly on rerun.
    """
    rows, cols = matrix_shape(spec)
    narrow = (tensor.dtype != torch.float64
              and min(rows, cols) >= _FLOAT32_QR_MIN and max(rows, cols) <= _FLOAT32_QR_MAX)
    work = torch.float32 if narrow else torch.float64
    torch_engine.check_device(tensor.device)
    gaussian = torch.empty((rows, cols), dtype=work, device=tensor.device)
    law = Prepared(STANDARD_NORMAL, str(work).removeprefix("torch."), (-math.inf, math.inf))
    _fill(gaussian, law, stream, Box.whole((rows, cols)))
    return orthogonal_from_gaussian(spec, gaussian, torch)


def _write_exact(tensor: torch.Tensor, spec: InitSpec, stream: Stream,
                 function: str) -> torch.Tensor:
    """Deterministic values into an integer, bool or complex tensor: exact (complex: as
    the real part's dtype rounds them), or an InitError."""
    if spec.distribution in ELEMENTWISE:
        values = np.full(spec.shape, spec.mean, dtype=np.float64)
    else:
        values = structured_values(spec, stream)
    if tensor.dtype.is_complex:  # real values, exact in the real part's dtype or refused
        real = tensor.dtype.to_real()
        if values.size:
            check_magnitude(float(np.abs(values).max()), str(real).removeprefix("torch."))
        with torch.no_grad():
            tensor.copy_(_rounded(torch.from_numpy(np.ascontiguousarray(values)), real)
                         .reshape(spec.shape))
        return tensor
    info = torch.iinfo(tensor.dtype) if tensor.dtype != torch.bool else None
    low, high = (0, 1) if info is None else (info.min, info.max)
    wrong = (values != np.round(values)) | (values < low) | (values > high)
    if wrong.any():
        bad = float(values[wrong].flat[0])
        raise InitError(f"{function}: {tensor.dtype} cannot hold the value {bad!r} exactly "
                        f"(integers in [{low}, {high}]); use a value it holds, or a float "
                        "tensor")
    with torch.no_grad():
        tensor.copy_(torch.from_numpy(np.ascontiguousarray(values)).reshape(spec.shape))
    return tensor
