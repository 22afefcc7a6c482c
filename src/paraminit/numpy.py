"""NumPy backend, the reference: ``sample(scheme_or_spec, shape, seed=..., name=...)``.

Values are a pure function of (seed, name, element index) — see ``docs/streams.md``.
Element-wise laws are computed by the compiled engine (or the NumPy reference when numba is
unavailable, :mod:`paraminit.core.engines`) in float64 and cast by the one policy (float64 ->
float32 -> float16); bounded laws are clipped to their bounds rounded inward, so no value
ever lies outside them, in any dtype.

Every registered scheme is also available as a JAX-style factory::

    init = paraminit.numpy.he_normal(mode="fan_out")
    w = init(seed=0, shape=(256, 128, 3, 3), dtype="float32", name="conv1.weight")
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ._errors import InitError
from .core import validate as _validate
from .core.engines import ELEMENTWISE, Box, canonical, sample_box
from .core.engines.cast import cast_array
from .core.schemes import ALIASES, REGISTRY, get_scheme, resolve, validate
from .core.spec import InitSpec
from .core.stream import Stream
from .core.structured import structured_values

__all__ = ["DTYPES", "factory", "sample", "sample_elements"]

DTYPES = ("float16", "float32", "float64")


def _dtype(dtype: Any) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in DTYPES:
        raise InitError(
            f"dtype must be one of {', '.join(map(repr, DTYPES))}; received {dtype!r}. "
            "For bfloat16 use paraminit.torch (it samples in float32 and casts once)"
        )
    return resolved


def _spec(scheme_or_spec: str | InitSpec, shape: Sequence[int] | None, layout: str,
          options: dict[str, Any]) -> InitSpec:
    if isinstance(scheme_or_spec, InitSpec):
        if options:
            raise InitError(
                f"options {sorted(options)} cannot be combined with a resolved InitSpec; "
                "pass the scheme name instead, or resolve the spec with them"
            )
        if shape is not None and tuple(shape) != scheme_or_spec.shape:
            raise InitError(
                f"shape {tuple(shape)} differs from the spec's shape {scheme_or_spec.shape}; "
                "omit shape when passing a spec"
            )
        return scheme_or_spec
    if not isinstance(scheme_or_spec, str):
        raise InitError("scheme_or_spec must be a registry name (paraminit.schemes()) or an "
                        "InitSpec from paraminit.resolve; received "
                        f"{_validate.show(scheme_or_spec)}")
    if shape is None:
        raise InitError("shape is required when scheme is given by name; e.g. shape=(256, 128)")
    return resolve(scheme_or_spec, shape, layout=layout, **options)


def sample(
    scheme_or_spec: str | InitSpec,
    shape: Sequence[int] | None = None,
    *,
    seed: int,
    name: str = "",
    dtype: Any = "float32",
    layout: str = "torch",
    **options: Any,
) -> np.ndarray:
    """Sample a whole tensor.

    Args:
        scheme_or_spec: a registry name (``paraminit.schemes()``) or a resolved InitSpec.
        shape: required with a name; must match the spec otherwise.
        seed: int in [0, 2**64 - 1]. name: the parameter's name, keying its own stream.
        dtype: float16, float32 or float64. layout: see ``paraminit.compute_fans``.
        **options: the scheme's options and the fan options of ``paraminit.resolve``.

    Example:
        >>> sample("he_normal", (256, 128, 3, 3), seed=0, name="conv1.weight").shape
        (256, 128, 3, 3)
    """
    target = _dtype(dtype)
    spec = _spec(scheme_or_spec, shape, layout, options)
    stream = Stream(seed, _validate.text("name", name))
    with _allocation(spec, target):
        if spec.distribution in ELEMENTWISE:
            return sample_box(spec, stream, target)
        return cast_array(structured_values(spec, stream), target.name)


@contextmanager
def _allocation(spec: InitSpec, dtype: np.dtype, count: int | None = None) -> Iterator[None]:
    """NumPy's MemoryError (or its 'array is too big') as an InitError with the size."""
    try:
        yield
    except InitError:
        raise
    except (MemoryError, ValueError) as error:
        if isinstance(error, ValueError) and "too big" not in str(error):
            raise
        count = math.prod(spec.shape) if count is None else count
        raise InitError(
            f"cannot allocate {count} {dtype.name} values for shape {spec.shape} "
            f"({count * dtype.itemsize / 2**30:.3g} GiB, more with working copies): "
            "sample a smaller shape, or element ranges with sample_elements") from None


def sample_elements(
    scheme_or_spec: str | InitSpec,
    shape: Sequence[int] | None = None,
    *,
    seed: int,
    name: str = "",
    start: int = 0,
    stop: int | None = None,
    dtype: Any = "float32",
    layout: str = "torch",
    **options: Any,
) -> np.ndarray:
    """Flat elements [start, stop) of the tensor's canonical element order, without
    sampling the rest.

    Takes what :func:`sample` takes (a registry name with a shape and options, or a resolved
    InitSpec). In the torch layout (and for 0-D and 1-D shapes) that order is the storage's
    C order, and this equals ``sample(...).ravel()[start:stop]`` bit for bit: this is what a
    shard or a worker thread computes. In another layout the elements follow torch's
    arrangement of the same tensor (:func:`paraminit.core.fans.canonical_axes`), e.g.
    ``sample(...).T.ravel()[start:stop]`` for a (in, out) kernel. Element-wise laws only
    (structured inits need the whole).

    Example:
        >>> part = sample_elements("he_normal", (64, 32), seed=0, name="w", start=5, stop=9)
        >>> bool((part == sample("he_normal", (64, 32), seed=0, name="w").ravel()[5:9]).all())
        True
    """
    target = _dtype(dtype)
    spec = canonical(_spec(scheme_or_spec, shape, layout, options)).spec
    numel = math.prod(spec.shape)
    start = _validate.integer("start", start)
    stop = numel if stop is None else _validate.integer("stop", stop)
    if not 0 <= start <= stop <= numel:
        raise InitError(
            f"need 0 <= start <= stop <= {numel} for shape {spec.shape}; "
            f"received start={_validate.show(start)}, stop={_validate.show(stop)}"
        )
    stream = Stream(seed, _validate.text("name", name))
    with _allocation(spec, target, stop - start):
        return sample_box(spec, stream, target, Box.flat(numel, start, stop))


def factory(scheme: str, *, layout: str = "torch", **options: Any) -> Callable[..., np.ndarray]:
    """A JAX-style initializer ``init(seed, shape, dtype="float32", *, name="")``.

    The layout, like the options, is fixed when the factory is made (as a JAX initializer
    is bound to the kernel convention of the layer that uses it).

    Options are validated now, at the factory call (``paraminit.core.schemes.validate``).
    """
    validate(scheme, {"layout": layout, **options})

    def init(seed: int, shape: Sequence[int], dtype: Any = "float32", *,
             name: str = "") -> np.ndarray:
        return sample(scheme, shape, seed=seed, name=name, dtype=dtype, layout=layout,
                      **options)

    init.__name__ = init.__qualname__ = scheme
    init.__doc__ = f"{get_scheme(scheme).summary} (paraminit.numpy.{scheme})"
    return init


def __getattr__(attribute: str) -> Callable[..., Callable[..., np.ndarray]]:
    if attribute in REGISTRY or attribute in ALIASES:
        return lambda **options: factory(attribute, **options)
    raise AttributeError(f"module 'paraminit.numpy' has no attribute {attribute!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *REGISTRY, *ALIASES])
