"""Seeds from torch generators, and writing a spec's values into a tensor in place.

The values never come from torch's RNG: a spec is sampled by the core's counter-based
stream (:class:`paraminit.core.stream.Stream`) through the engine seam
(:mod:`paraminit.core.engines`). A CPU tensor is written in place by the compiled engine,
through a NumPy view of its own storage (no copy of the tensor); a tensor on another device
by the torch-native engine on that device. Only the *seed* comes from torch, so
``torch.manual_seed`` keeps reproducing.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .._errors import InitError
from ..core.engines import ELEMENTWISE, Box, fill_box, prepare, set_num_threads
from ..core.spec import InitSpec
from ..core.stream import Stream
from ..core.structured import structured_values

__all__ = ["SEED_HIGH", "check_dtype", "draw_seed", "empty_noop", "write_spec"]

# torch.randint's upper bound is exclusive and must fit an int64: seeds lie in
# [0, 2**63 - 2], all valid Stream seeds.
SEED_HIGH = 2**63 - 1

_DETERMINISTIC = frozenset({"constant", "identity", "dirac"})
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
    with torch.no_grad():
        if tensor.device.type == "cpu" and tensor.is_contiguous():
            _fill_cpu(tensor, prepared, stream, box)
        else:
            staging = torch.empty(tensor.shape, dtype=tensor.dtype)
            _fill_cpu(staging, prepared, stream, box)
            tensor.copy_(staging)
    return tensor


def _fill_cpu(tensor: torch.Tensor, prepared, stream: Stream, box: Box) -> None:
    """The compiled engine writes the contiguous CPU tensor's own storage."""
    storage = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        view = storage.view(torch.int16).numpy().view(np.uint16)
    else:
        view = storage.numpy()
    set_num_threads(torch.get_num_threads())
    fill_box(view, prepared, stream, box)


def _write_structured(tensor: torch.Tensor, spec: InitSpec, stream: Stream) -> torch.Tensor:
    values = torch.from_numpy(np.ascontiguousarray(structured_values(spec, stream)))
    values = values.reshape(spec.shape)
    if tensor.dtype != torch.float64:
        values = values.to(torch.float32).to(tensor.dtype)
    if not torch.isfinite(values).all():
        raise InitError(f"values up to {float(values.abs().max()):.6g} cannot be held by "
                        f"{tensor.dtype}; lower the gain or use a wider dtype")
    with torch.no_grad():
        tensor.copy_(values)
    return tensor


def _write_exact(tensor: torch.Tensor, spec: InitSpec, stream: Stream,
                 function: str) -> torch.Tensor:
    """Deterministic values into an integer or bool tensor: exact, or an InitError."""
    if spec.distribution in ELEMENTWISE:
        values = np.full(spec.shape, spec.mean, dtype=np.float64)
    else:
        values = structured_values(spec, stream)
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
