"""Engines: from (stream, law, index set) to values in a destination buffer.

The stream's key derivation lives in :mod:`paraminit.core.stream`; an engine turns a
stream's key and an index set into the values of an element-wise law, with the one cast
policy of :mod:`.cast`. Two engines serve host (NumPy) buffers, chosen once per process:

* ``compiled`` (default): numba, fused and multi-threaded (:mod:`.compiled`);
* ``reference``: plain NumPy, the readable specification and the tests' oracle
  (:mod:`.reference`); used when numba cannot load, with one warning.

``PARAMINIT_ENGINE=reference`` forces the reference. Both compute the same bits. The torch
adapter writes CPU tensors through these (a NumPy view of the tensor's own storage) and
tensors on other devices with the torch-native engine. Threads: ``set_num_threads(n)``, or
the ``PARAMINIT_NUM_THREADS`` environment variable; by default numba's (all cores).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, replace
from functools import cache
from types import ModuleType
from typing import NamedTuple

import numpy as np

from ..._errors import InitError
from .. import validate
from ..spec import InitSpec
from ..stream import Stream
from .cast import DTYPES, check_representable, clip_bounds
from .law import ELEMENTWISE, NORMAL, UNIFORM, ElementLaw, element_law
from .reference import box_indices

__all__ = ["Box", "Canonical", "DTYPES", "ELEMENTWISE", "ElementLaw", "Prepared",
           "STANDARD_NORMAL", "STANDARD_UNIFORM", "canonical", "element_law", "engine_name",
           "fill_box", "flat_values", "prepare", "sample_box", "set_num_threads",
           "smallest_k"]

ENGINES = ("compiled", "reference")


@dataclass(frozen=True)
class Box:
    """The index set ``[starts[d], stops[d])`` in every dimension d of a tensor of ``shape``."""

    shape: tuple[int, ...]
    starts: tuple[int, ...]
    stops: tuple[int, ...]

    @classmethod
    def whole(cls, shape: tuple[int, ...]) -> Box:
        return cls(tuple(shape), (0,) * len(shape), tuple(shape))

    @classmethod
    def flat(cls, numel: int, start: int, stop: int) -> Box:
        """Flat elements [start, stop) of a tensor's C-order flattening."""
        return cls((numel,), (start,), (stop,))

    def __post_init__(self) -> None:
        if not (len(self.shape) == len(self.starts) == len(self.stops)):
            raise InitError(f"a box needs one start and stop per dimension of {self.shape}; "
                            f"received starts={self.starts}, stops={self.stops}")
        for axis, (size, start, stop) in enumerate(
                zip(self.shape, self.starts, self.stops, strict=True)):
            if not 0 <= start <= stop <= size:
                raise InitError(f"box dimension {axis}: need 0 <= start <= stop <= {size}; "
                                f"received start={start}, stop={stop}")

    @property
    def box_shape(self) -> tuple[int, ...]:
        return tuple(b - a for a, b in zip(self.starts, self.stops, strict=True))

    def runs(self) -> tuple[np.ndarray, int]:
        """(global start of each contiguous run, run length), runs in the box's C order."""
        shape, starts, stops = self.shape, self.starts, self.stops
        inner, k = 1, len(shape)
        while k > 0 and starts[k - 1] == 0 and stops[k - 1] == shape[k - 1]:
            inner *= shape[k - 1]
            k -= 1
        if k == 0:
            return np.zeros(1, dtype=np.uint64), inner
        outer = box_indices(shape[:k - 1], starts[:k - 1], stops[:k - 1])
        run_starts = (outer * np.uint64(shape[k - 1]) + np.uint64(starts[k - 1])) * np.uint64(inner)
        return run_starts, (stops[k - 1] - starts[k - 1]) * inner


class Canonical(NamedTuple):
    """A spec and box in the canonical element order, and the way back to storage.

    ``to_storage`` is the axes argument of ``transpose`` that turns values computed on
    ``spec.shape`` (canonical) into the storage layout, None when no move is needed.
    """

    spec: InitSpec
    box: Box
    to_storage: tuple[int, ...] | None


def canonical(spec: InitSpec, box: Box | None = None) -> Canonical:
    """``spec`` (and a storage ``box`` of it) moved to the canonical element order of
    :func:`paraminit.core.fans.canonical_axes`: every engine and structured sampler
    computes there, so a (seed, name, scheme) gives the same logical tensor in every
    layout. The axis numbers a structured law keeps (``out_axis``, ``in_axis``,
    ``spatial_axes``) are renumbered with it."""
    box = Box.whole(spec.shape) if box is None else box
    order = spec.element_order
    if order is None:
        return Canonical(spec, box, None)
    position = {axis: index for index, axis in enumerate(order)}
    params = dict(spec.params)
    for key in ("out_axis", "in_axis"):
        if key in params:
            params[key] = position[params[key]]
    if "spatial_axes" in params:
        params["spatial_axes"] = tuple(position[axis] for axis in params["spatial_axes"])
    moved = replace(spec, shape=tuple(spec.shape[axis] for axis in order), params=params,
                    element_order=None)
    moved_box = Box(moved.shape, tuple(box.starts[axis] for axis in order),
                    tuple(box.stops[axis] for axis in order))
    return Canonical(moved, moved_box, tuple(int(i) for i in np.argsort(order)))


@cache
def _engine() -> tuple[str, ModuleType]:
    wanted = os.environ.get("PARAMINIT_ENGINE", "compiled")
    validate.choice("PARAMINIT_ENGINE", wanted, ENGINES)
    if wanted == "compiled":
        try:
            from . import compiled
        except Exception as error:  # numba missing or broken: the reference still works
            warnings.warn(f"paraminit: the compiled engine could not load ({error!r}); "
                          "using the NumPy reference engine, about 50x slower. Install "
                          "numba to fix this", RuntimeWarning, stacklevel=3)
        else:
            threads = os.environ.get("PARAMINIT_NUM_THREADS")
            if threads:
                set_num_threads(int(threads))
            return "compiled", compiled
    from . import reference
    return "reference", reference


def engine_name() -> str:
    """The host engine in use: ``"compiled"`` or ``"reference"``."""
    return _engine()[0]


def set_num_threads(threads: int) -> None:
    """Threads of the compiled engine (values never depend on it)."""
    threads = validate.integer("threads", threads, minimum=1)
    import numba

    numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))


def _dtype_name(dtype: object) -> str:
    name = getattr(dtype, "name", None) or str(dtype).removeprefix("torch.")
    return validate.choice("dtype", name, DTYPES)


class Prepared(NamedTuple):
    """What an engine needs of a spec in one dtype, checked: the law, dtype name, clip."""

    law: ElementLaw
    dtype: str
    clip: tuple[float, float]


def prepare(spec: InitSpec, dtype: object,
            bounds: tuple[float, float] | None = None) -> Prepared:
    """The law, dtype name and clip bounds of ``spec`` in ``dtype``; InitError if unholdable.

    ``bounds`` overrides ``spec.bounds`` (torch's ``trunc_normal_`` clips to its absolute
    [a, b]). Everything that can fail is checked here, before any value is written.
    """
    name = _dtype_name(dtype)
    law = element_law(spec)
    bounds = spec.bounds if bounds is None else bounds
    check_representable(law, bounds, name)
    clip = (-math.inf, math.inf) if bounds is None else clip_bounds(bounds, name)
    return Prepared(law, name, clip)


def fill_box(out: np.ndarray, prepared: Prepared,
             stream: Stream, box: Box) -> None:
    """Write the box's values into ``out``: C-contiguous, ``box.box_shape`` elements, of the
    dtype (uint16 bit patterns for float16 via ``view`` or bfloat16)."""
    law, name, clip = prepared
    if not out.flags.c_contiguous or out.size != math.prod(box.box_shape):
        raise InitError(f"the destination must be C-contiguous with {math.prod(box.box_shape)} "
                        f"elements; received shape {out.shape}")
    if out.size == 0:
        return
    run_starts, run_length = box.runs()
    flat = out.reshape(-1)
    if name == "float16":
        flat = flat.view(np.uint16)
    _engine()[1].fill(flat, name, law, stream, run_starts, run_length, clip)


# u itself: 0.5 + 0.5 (2u - 1) is exact for every u of the 52-bit grid (each step is).
STANDARD_UNIFORM = ElementLaw(UNIFORM, 0.5, 0.5)
STANDARD_NORMAL = ElementLaw(NORMAL, 0.0, 1.0)


def flat_values(law: ElementLaw, stream: Stream, start: int, stop: int) -> np.ndarray:
    """Float64 values of ``law`` at flat elements [start, stop), by the host engine."""
    out = np.empty(stop - start, dtype=np.float64)
    if out.size:
        _engine()[1].fill(out, "float64", law, stream, np.array([start], dtype=np.uint64),
                          stop - start, (-math.inf, math.inf))
    return out


def smallest_k(keys: np.ndarray, k: int) -> np.ndarray:
    """Mask of the k smallest of each row's keys (2-D float64), ties to the lower index."""
    if k == 0:  # e.g. torch's sparse_ with a sparsity that zeroes every input
        return np.zeros(keys.shape, dtype=bool)
    return _engine()[1].smallest_k(keys, k)


def sample_box(spec: InitSpec, stream: Stream, dtype: object = "float32",
               box: Box | None = None) -> np.ndarray:
    """A new NumPy array of the box's values (the whole tensor by default), in the
    storage layout, computed in the canonical element order (:func:`canonical`)."""
    spec, box, to_storage = canonical(spec, box)
    prepared = prepare(spec, dtype)
    if prepared.dtype == "bfloat16":
        raise InitError("NumPy has no bfloat16: sample bfloat16 through paraminit.torch")
    out = np.empty(box.box_shape, dtype=prepared.dtype)
    fill_box(out, prepared, stream, box)
    return out if to_storage is None else np.ascontiguousarray(out.transpose(to_storage))
