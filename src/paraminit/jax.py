"""JAX initializers: ``jax.nn.initializers``' names and meanings, paraminit's values.

Every factory returns ``init(key, shape, dtype=jnp.float_, out_sharding=None)``, as
``jax.nn.initializers`` does, and reads fans from JAX's (..., in, out) layout with
``in_axis=-2, out_axis=-1`` (``batch_axis`` dims excluded from the receptive field)::

    import paraminit.jax as pij
    init = pij.he_normal()
    w = init(jax.random.key(0), (3, 3, 64, 128))          # (kh, kw, in, out)
    w = init(pij.key(0, "conv1.weight"), (3, 3, 64, 128))  # == the torch weight, moved

The values come from paraminit's counter-based stream (``docs/streams.md``) computed in
``jax.numpy`` (:mod:`paraminit.core.engines.jax_engine`): uint32 Philox, element by
element, so an initializer jits, vmaps over keys, and with ``out_sharding`` computes each
device's shard where it lives. The stream's key and counter tag are the JAX key's data
words: a 4-word key (:func:`key`, or ``impl="rbg"``) gives them all; a 2-word threefry key
gives the Philox key, with the tag 0. :func:`key` ``(seed, name)`` builds the key of
paraminit's ``Stream(seed, name)``, so the values equal ``paraminit.numpy`` and
``paraminit.torch`` for that (seed, name), in the canonical element order (a Dense kernel
is the torch Linear weight transposed).

Every paraminit scheme is also here under its own name (``paraminit.schemes()``), with
paraminit's options (``pij.msra(variance_norm="average")``) and the "jax" layout.
Low precision: float16 and bfloat16 are sampled in float32 (float64 for the law's
arithmetic) and cast once. Complex dtypes: ``variance_scaling``, its presets and
``normal`` sample them as JAX does, with the correct truncated-normal constant
(:func:`_complex_values`); the other initializers refuse them with an InitError.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._errors import InitError
from .core import validate as _validate
from .core.engines import ELEMENTWISE, STANDARD_NORMAL, STANDARD_UNIFORM, canonical, prepare
from .core.engines.cast import cast_array, check_magnitude
from .core.engines.jax_engine import element_values
from .core.engines.law import NORMAL_REACH
from .core.fans import explicit_axes
from .core.schemes import (
    ALIASES,
    REGISTRY,
    parent_truncated_normal,
    resolve,
    resolve_on_axes,
    validate,
)
from .core.spec import InitSpec
from .core.stream import KeyStream, Stream
from .core.structured import (
    matrix_shape,
    orthogonal_from_gaussian,
    random_reach,
    structured_values,
)

__all__ = [
    "constant", "delta_orthogonal", "factory", "glorot_normal", "glorot_uniform",
    "he_normal", "he_uniform", "kaiming_normal", "kaiming_uniform", "key", "lecun_normal",
    "lecun_uniform", "normal", "ones", "orthogonal", "truncated_normal", "uniform",
    "variance_scaling", "xavier_normal", "xavier_uniform", "zeros",
]

Initializer = Callable[..., jax.Array]
_DTYPES = ("float16", "bfloat16", "float32", "float64")
_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")
_COMPLEX = ("complex64", "complex128")
# The complex standard normal cut to |z| < 2: |z|^2 is Exp(1) cut at 4, which keeps the mass
# 1 - e^-4 and has the mean (1 - 5 e^-4) / (1 - e^-4).
_COMPLEX_CUT_MASS = -math.expm1(-4.0)
COMPLEX_TRUNCATED_STD = math.sqrt((1.0 - 5.0 * math.exp(-4.0)) / _COMPLEX_CUT_MASS)
# Schemes whose values need no randomness: computed on the host, constants under jit.
_DETERMINISTIC = ("identity", "dirac", "identity_hadamard")


def key(seed: int, name: str = "") -> jax.Array:
    """The JAX key (``impl="rbg"``, four data words) of paraminit's ``Stream(seed, name)``.

    An initializer called with it gives the values ``paraminit.numpy.sample(..., seed=seed,
    name=name)`` gives, and the torch adapter writes, for the same scheme.
    """
    stream = Stream(seed, _validate.text("name", name))
    words = np.array([*stream.key, *stream.tag], dtype=np.uint32)
    return jax.random.wrap_key_data(words, impl="rbg")


def _words(rng: Any) -> jax.Array:
    """The four uint32 stream words of a JAX key (typed or raw uint32 data)."""
    if isinstance(rng, (int, np.integer)) or not hasattr(rng, "dtype"):
        raise InitError(f"key must be a JAX PRNG key (jax.random.key(0) or paraminit.jax.key"
                        f"(seed, name)); received {_validate.show(rng)}")
    data = jax.random.key_data(rng) if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key) else rng
    if data.dtype != jnp.uint32 or data.ndim != 1 or data.shape[0] not in (2, 4):
        raise InitError(
            f"key must be one JAX key: its data 2 or 4 uint32 words; received data of shape "
            f"{tuple(data.shape)} and dtype {data.dtype}. vmap over a batch of keys instead "
            "of passing them together")
    if data.shape[0] == 2:
        data = jnp.concatenate([data, jnp.zeros(2, dtype=jnp.uint32)])
    return data


def _resolve_dtype(dtype: Any) -> Any:
    try:  # jnp.float_ is float32 unless x64 is on, as in jax.nn.initializers
        return jnp.dtype(jax.dtypes.canonicalize_dtype(dtype))
    except TypeError:
        return None


def _dtype_name(dtype: Any) -> str:
    resolved = _resolve_dtype(dtype)
    if resolved is not None and jnp.issubdtype(resolved, jnp.complexfloating):
        raise InitError(f"dtype {resolved.name} is complex, which only variance_scaling, its "
                        "presets (glorot_*, he_*, lecun_*, ...) and normal sample, as in "
                        f"jax.nn.initializers; use one of those or a real dtype "
                        f"({', '.join(_DTYPES)})")
    if resolved is None or resolved.name not in _DTYPES:
        raise InitError(f"dtype must be one of {', '.join(_DTYPES)}; received {dtype!r}")
    return resolved.name


def _complex_values(spec: InitSpec, data: jax.Array, dtype: Any) -> jax.Array:
    """A complex law with E|z|^2 = spec.std^2 and a uniform phase, as JAX defines them
    (``jax.nn.initializers.variance_scaling``): ``normal``, real and imaginary parts each
    N(0, std^2 / 2); ``uniform``, uniform on the disk of radius sqrt(2) std (|z|^2 = 2u std^2);
    ``truncated_normal``, the complex standard normal cut to |z| < 2 (|z|^2 an Exp(1) cut at
    4, by its inverse CDF) and divided by its std, sqrt((1 - 5 e^-4) / (1 - e^-4)) =
    0.96196183, so E|z|^2 is std^2 (JAX divides by 0.95311164 and gives 1.0187 std^2).

    The two parts of element i are elements (i, 0) and (i, 1) of a (*shape, 2) real tensor of
    the stream, in the canonical order with the part axis last: the normal parts are the
    stream's own normals; the uniform and truncated laws take modulus and phase from its
    uniforms through jnp's float64 sqrt, log1p, cos and sin.
    """
    rank = len(spec.shape)
    shape, order = (*spec.shape, 2), spec.element_order
    order = None if order is None else (*order, rank)
    words = tuple(data)
    real = jnp.float64 if dtype == jnp.complex128 else jnp.float32
    with jax.enable_x64(True):
        if spec.distribution == "normal":
            parts = element_values(STANDARD_NORMAL, "float64", (-math.inf, math.inf), words,
                                   shape, order) * (spec.std / math.sqrt(2.0))
            real_part, imag_part = parts[..., 0], parts[..., 1]
        else:
            unit = element_values(STANDARD_UNIFORM, "float64", (0.0, 1.0), words, shape, order)
            if spec.distribution == "uniform":
                modulus = jnp.sqrt(2.0 * unit[..., 0]) * spec.std
            else:
                modulus = jnp.sqrt(-jnp.log1p(-_COMPLEX_CUT_MASS * unit[..., 0])) * (
                    spec.std / COMPLEX_TRUNCATED_STD)
            phase = 2.0 * math.pi * unit[..., 1]
            real_part, imag_part = modulus * jnp.cos(phase), modulus * jnp.sin(phase)
        return lax.complex(real_part.astype(real), imag_part.astype(real))


def _complex_reach(spec: InitSpec) -> float:
    """The largest real or imaginary part :func:`_complex_values` can give."""
    if spec.distribution == "normal":
        return NORMAL_REACH * spec.std / math.sqrt(2.0)
    if spec.distribution == "uniform":
        return math.sqrt(2.0) * spec.std
    return 2.0 * spec.std / COMPLEX_TRUNCATED_STD


def _host(spec: InitSpec, words: jax.Array, dtype: str) -> jax.Array:
    """A structured law that needs the whole tensor on the host, through a callback (so it
    traces and jits): float32 or float64 values, cast once on the device."""
    work = "float64" if dtype == "float64" else "float32"

    def compute(data: np.ndarray) -> np.ndarray:
        stream = KeyStream(words=tuple(int(w) for w in np.asarray(data)))
        return cast_array(structured_values(spec, stream), work)

    with jax.enable_x64(True):
        result = jax.ShapeDtypeStruct(spec.shape, jnp.dtype(work))
        values = jax.pure_callback(compute, result, words, vmap_method="sequential")
        return values.astype(jnp.dtype(dtype))


def _orthogonal(spec: InitSpec, words: jax.Array, dtype: str) -> jax.Array:
    """Orthogonal in jax.numpy: the Gaussian of the canonical (rows, cols) matrix from the
    stream, QR in float64, moved to the storage layout."""
    moved = canonical(spec)
    rows, cols = matrix_shape(moved.spec)
    gaussian = element_values(STANDARD_NORMAL, "float64", (-math.inf, math.inf), words,
                              (rows, cols))
    with jax.enable_x64(True):
        values = orthogonal_from_gaussian(moved.spec, gaussian, jnp)
        if moved.to_storage is not None:
            values = jnp.transpose(values, moved.to_storage)
        return values.astype(jnp.float32).astype(jnp.dtype(dtype)) if dtype != "float64" \
            else values


def _sharding(out_sharding: Any) -> Any:
    """``out_sharding`` as ``jax.nn.initializers`` take it: a Sharding, a PartitionSpec (of
    the mesh ``jax.set_mesh`` made current) or None."""
    if out_sharding is not None and not isinstance(
            out_sharding, (jax.sharding.Sharding, jax.sharding.PartitionSpec)):
        raise InitError(f"out_sharding must be a jax.sharding.Sharding (e.g. NamedSharding(mesh, "
                        "PartitionSpec('x'))), a PartitionSpec under jax.set_mesh, or None; "
                        f"received {_validate.show(out_sharding)}")
    return out_sharding


@functools.lru_cache(maxsize=1024)
def _program(spec: InitSpec, dtype: str, out_sharding: Any) -> Callable[[jax.Array], jax.Array]:
    """The jitted ``key words -> values`` of a spec in ``dtype`` (a canonical name), after
    every check that can fail (an InitError is raised here, so never cached). One program per
    (spec, dtype, sharding): an eager call (a Flax NNX module built outside jit) runs it
    instead of dispatching the stream's dozens of operations one by one, and under an outer
    jit or vmap it inlines. With ``out_sharding`` (:func:`_placed`), XLA's partitioner computes
    each device's shard where it lives: the element-wise laws are functions of the element
    index (iota)."""
    if dtype in _COMPLEX:
        check_magnitude(_complex_reach(spec), "float64" if dtype == "complex128" else "float32")

        def compute(data: jax.Array) -> jax.Array:
            return _complex_values(spec, data, jnp.dtype(dtype))
    elif spec.distribution in ELEMENTWISE:
        law, name, clip = prepare(spec, dtype)

        def compute(data: jax.Array) -> jax.Array:
            return element_values(law, name, clip, tuple(data), spec.shape,
                                  spec.element_order)
    elif spec.distribution in _DETERMINISTIC:
        exact = structured_values(spec, Stream(0))
        if exact.size:
            check_magnitude(float(np.abs(exact).max()), dtype)
        values = cast_array(exact, "float64" if dtype == "float64" else "float32")

        def compute(data: jax.Array) -> jax.Array:
            return jnp.asarray(values).astype(jnp.dtype(dtype))
    else:
        check_magnitude(random_reach(spec), dtype)
        structured = _orthogonal if spec.distribution == "orthogonal" else _host

        def compute(data: jax.Array) -> jax.Array:
            return structured(spec, data, dtype)
    if out_sharding is None:
        return jax.jit(compute)
    return jax.jit(lambda data: _placed(compute(data), out_sharding), out_shardings=out_sharding)


def _placed(values: jax.Array, out_sharding: Any) -> jax.Array:
    """``values`` laid out as ``out_sharding``, also inside an outer jit (which drops a
    nested jit's ``out_shardings`` on a mesh of Explicit axes): ``reshard`` on Explicit
    axes, a sharding constraint on Auto ones, as ``jax.random``'s ``out_sharding`` does."""
    mesh = (jax.sharding.get_abstract_mesh() if isinstance(out_sharding, jax.sharding.PartitionSpec)
            else getattr(out_sharding, "mesh", None))
    types = getattr(mesh, "axis_types", ())
    if types and all(kind == jax.sharding.AxisType.Explicit for kind in types):
        return jax.sharding.reshard(values, out_sharding)
    return lax.with_sharding_constraint(values, out_sharding)


def sample(spec: InitSpec, rng: Any, dtype: Any = "float32",
           out_sharding: Any = None) -> jax.Array:
    """The values of a resolved spec for one JAX key, as a jax array of ``dtype``."""
    return _program(spec, _dtype_name(dtype), _sharding(out_sharding))(_words(rng))


def _make(build: Callable[[tuple[int, ...]], InitSpec], label: str,
          complex_laws: bool = False) -> Initializer:
    """``init(key, shape, dtype, out_sharding)`` of the spec ``build`` gives for a shape;
    with ``complex_laws`` complex dtypes too (:func:`_complex_values`)."""
    def init(key: Any, shape: Sequence[int], dtype: Any = jnp.float_,
             out_sharding: Any = None) -> jax.Array:
        spec = build(_validate.shape(shape))
        resolved = _resolve_dtype(dtype)
        if complex_laws and resolved is not None and resolved.name in _COMPLEX:
            return _program(spec, resolved.name, _sharding(out_sharding))(_words(key))
        return sample(spec, key, dtype, out_sharding)

    init.__name__ = init.__qualname__ = label
    return init


def factory(scheme: str, *, layout: str = "jax", **options: Any) -> Initializer:
    """A JAX initializer for any paraminit scheme, options checked now."""
    validate(scheme, {"layout": layout, **options})
    init = _make(lambda shape: resolve(scheme, shape, layout=layout, **options), scheme)
    init.__doc__ = f"{REGISTRY[ALIASES.get(scheme, scheme)].summary} (paraminit.jax.{scheme})"
    return init


def _jax_fans(shape: tuple[int, ...], in_axis: Any, out_axis: Any,
              batch_axis: Any) -> tuple[int, int, tuple[int, ...], tuple[int, ...]]:
    """JAX's ``_compute_fans``: fan_in = prod(in dims) x receptive field, fan_out =
    prod(out dims) x receptive field, the receptive field the product of the other
    non-batch dims, as JAX reads them (it rejects fewer than 2 dims; so does this)."""
    if len(shape) < 2:
        raise InitError(f"variance scaling needs a shape of at least 2 dims (in and out); "
                        f"received shape {shape}. Initialise biases with zeros or normal")
    ins = explicit_axes(shape, in_axis, "in_axis")
    outs = explicit_axes(shape, out_axis, "out_axis")
    batch = explicit_axes(shape, batch_axis, "batch_axis")
    if set(ins) & set(outs) or (set(ins) | set(outs)) & set(batch):
        raise InitError(f"in_axis {ins}, out_axis {outs} and batch_axis {batch} must be "
                        f"distinct axes of shape {shape}")
    receptive = math.prod(d for a, d in enumerate(shape) if a not in (*ins, *outs, *batch))
    fan_in = math.prod(shape[a] for a in ins) * receptive
    fan_out = math.prod(shape[a] for a in outs) * receptive
    return fan_in, fan_out, ins, outs


def variance_scaling(scale: float, mode: str, distribution: str, in_axis: Any = -2,
                     out_axis: Any = -1, batch_axis: Any = (),
                     dtype: Any = jnp.float_) -> Initializer:
    """``jax.nn.initializers.variance_scaling``: variance ``scale / n`` with n the fan of
    ``mode`` (He et al. 2015 §2.2; Glorot & Bengio 2010 §4.2; LeCun et al. 1998 §4.6).

    ``distribution`` is ``"truncated_normal"`` (cut at ±2 stds, the parent std divided by
    0.87962566103423978 so the *result* has the variance), ``"normal"`` or ``"uniform"``
    (bound sqrt(3 scale / n)); JAX's ``"untruncated_normal"`` is ``"normal"``.
    """
    scale = _validate.real("scale", scale, positive=True)
    _validate.choice("mode", mode, _MODES)
    distribution = "normal" if distribution == "untruncated_normal" else distribution
    _validate.choice("distribution", distribution, _DISTRIBUTIONS)

    def build(shape: tuple[int, ...]) -> InitSpec:
        fan_in, fan_out, ins, outs = _jax_fans(shape, in_axis, out_axis, batch_axis)
        return resolve_on_axes("variance_scaling", shape, fan_in, fan_out, ins, outs, "jax",
                               scale=scale, mode=mode, distribution=distribution)

    return _fixed(build, "variance_scaling", dtype, complex_laws=True)


def _preset(scale: float, mode: str, distribution: str, label: str):
    def make(in_axis: Any = -2, out_axis: Any = -1, batch_axis: Any = (),
             dtype: Any = jnp.float_) -> Initializer:
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis,
                                dtype)

    make.__name__ = make.__qualname__ = label
    make.__doc__ = (f"``jax.nn.initializers.{label}``: variance_scaling({scale:g}, "
                    f"{mode!r}, {distribution!r}).")
    return make


glorot_normal = xavier_normal = _preset(1.0, "fan_avg", "truncated_normal", "glorot_normal")
glorot_uniform = xavier_uniform = _preset(1.0, "fan_avg", "uniform", "glorot_uniform")
he_normal = kaiming_normal = _preset(2.0, "fan_in", "truncated_normal", "he_normal")
he_uniform = kaiming_uniform = _preset(2.0, "fan_in", "uniform", "he_uniform")
lecun_normal = _preset(1.0, "fan_in", "truncated_normal", "lecun_normal")
lecun_uniform = _preset(1.0, "fan_in", "uniform", "lecun_uniform")


def _fixed(spec_of: Callable[[tuple[int, ...]], InitSpec], label: str,
           dtype: Any, complex_laws: bool = False) -> Initializer:
    init = _make(spec_of, label, complex_laws)

    def with_default(key: Any, shape: Sequence[int], dtype: Any = dtype,
                     out_sharding: Any = None) -> jax.Array:
        return init(key, shape, dtype, out_sharding)

    with_default.__name__ = with_default.__qualname__ = label
    return with_default


def zeros(key: Any, shape: Sequence[int], dtype: Any = jnp.float_,
          out_sharding: Any = None) -> jax.Array:
    """``jax.nn.initializers.zeros``."""
    return _fixed(lambda s: resolve("zeros", s), "zeros", dtype)(key, shape, dtype,
                                                                 out_sharding)


def ones(key: Any, shape: Sequence[int], dtype: Any = jnp.float_,
         out_sharding: Any = None) -> jax.Array:
    """``jax.nn.initializers.ones``."""
    return _fixed(lambda s: resolve("ones", s), "ones", dtype)(key, shape, dtype,
                                                              out_sharding)


def constant(value: float, dtype: Any = jnp.float_) -> Initializer:
    """``jax.nn.initializers.constant(value)``: every element ``value``."""
    value = _validate.real("value", value)
    return _fixed(lambda s: resolve("constant", s, value=value), "constant", dtype)


def normal(stddev: float = 1e-2, dtype: Any = jnp.float_) -> Initializer:
    """``jax.nn.initializers.normal(stddev)``: N(0, stddev²)."""
    stddev = _validate.real("stddev", stddev, positive=True)
    return _fixed(lambda s: resolve("normal", s, std=stddev), "normal", dtype,
                  complex_laws=True)


def uniform(scale: float = 1e-2, dtype: Any = jnp.float_) -> Initializer:
    """``jax.nn.initializers.uniform(scale)``: U[0, scale), one-sided as JAX's (not
    symmetric about 0)."""
    scale = _validate.real("scale", scale, positive=True)
    return _fixed(lambda s: resolve("uniform", s, low=0.0, high=scale), "uniform", dtype)


def truncated_normal(stddev: float = 1e-2, dtype: Any = jnp.float_, lower: float = -2.0,
                     upper: float = 2.0) -> Initializer:
    """``jax.nn.initializers.truncated_normal``: ``stddev`` times a standard normal cut to
    [lower, upper]. ``stddev`` is the *parent* std (JAX's meaning), so the result's std is
    ``stddev * 0.8796`` for the default ±2."""
    stddev = _validate.real("stddev", stddev, positive=True)
    lower = _validate.real("lower", lower, allow_inf=True)
    upper = _validate.real("upper", upper, allow_inf=True)
    if not lower < upper:
        raise InitError(f"truncated_normal needs lower < upper; received lower={lower!r}, "
                        f"upper={upper!r}")
    return _fixed(lambda s: parent_truncated_normal(
        "truncated_normal", s, 0.0, stddev, lower * stddev, upper * stddev),
        "truncated_normal", dtype)


def orthogonal(scale: float = 1.0, column_axis: int = -1,
               dtype: Any = jnp.float_) -> Initializer:
    """``jax.nn.initializers.orthogonal``: ``scale`` times a Haar matrix of the
    ``column_axis`` against the other dims (Saxe et al. 2014 §3; Mezzadri 2007)."""
    scale = _validate.real("scale", scale, positive=True)
    column_axis = _validate.integer("column_axis", column_axis)

    def build(shape: tuple[int, ...]) -> InitSpec:
        if len(shape) < 2:
            raise InitError(f"orthogonal needs a shape of at least 2 dims; received {shape}")
        return resolve("orthogonal", shape, out_axis=column_axis % len(shape)
                       if -len(shape) <= column_axis < len(shape) else column_axis,
                       gain=scale)

    return _fixed(build, "orthogonal", dtype)


def delta_orthogonal(scale: float = 1.0, column_axis: int = -1,
                     dtype: Any = jnp.float_) -> Initializer:
    """``jax.nn.initializers.delta_orthogonal`` (Xiao et al. 2018, Algorithm 2): an
    orthogonal (in, out) matrix at the centre tap (k-1)//2 of a (*k, in, out) kernel with
    in <= out, zeros elsewhere."""
    scale = _validate.real("scale", scale, positive=True)
    if column_axis != -1:
        raise InitError(f"delta_orthogonal supports column_axis=-1 (the out channels, "
                        f"last); received column_axis={column_axis!r}")

    def build(shape: tuple[int, ...]) -> InitSpec:
        if len(shape) not in (3, 4, 5):
            raise InitError(f"delta_orthogonal needs a 3-D, 4-D or 5-D (*k, in, out) kernel; "
                            f"received shape {shape}")
        if shape[-2] > shape[-1]:
            raise InitError(f"delta_orthogonal needs in <= out channels; received shape "
                            f"{shape} (in {shape[-2]}, out {shape[-1]})")
        return resolve("delta_orthogonal", shape, layout="jax", gain=scale, center="jax")

    return _fixed(build, "delta_orthogonal", dtype)


def __getattr__(attribute: str) -> Callable[..., Initializer]:
    if attribute in REGISTRY or attribute in ALIASES:
        return lambda **options: factory(attribute, **options)
    raise AttributeError(f"module 'paraminit.jax' has no attribute {attribute!r}")


def __dir__() -> list[str]:
    return sorted({*__all__, *REGISTRY, *ALIASES})
