"""Fuzzed factory arguments, shapes and dtypes of paraminit.jax: an InitError naming the
problem, or finite values of the shape and dtype, never a crash or a silent inf."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import paraminit.jax as pij
import paraminit.numpy as pn
from fuzz_inputs import NUMBERS, assert_within, scheme_calls
from paraminit import InitError, resolve

KEY = jax.random.key(0)
FACTORIES = [name for name in pij.__all__ if name not in ("factory", "key", "zeros", "ones")]
AXES = st.one_of(st.integers(-6, 6), st.lists(st.integers(-4, 4), max_size=3).map(tuple))
WORDS = st.sampled_from(["fan_in", "fan_out", "fan_avg", "fan_geo_avg", "fan_inn",
                         "normal", "uniform", "truncated_normal", "untruncated_normal", "cauchy",
                         ""])
ANYTHING = st.one_of(NUMBERS, AXES, WORDS, st.none(), st.booleans())
SHAPES = st.sampled_from([(16, 8), (3, 3, 4, 8), (8,), (8, 8), (0, 4), (2, 5, 6)])
DTYPES = st.sampled_from([jnp.float32, jnp.float16, jnp.bfloat16, jnp.complex64,
                          jnp.int32])


def _strategy(parameter: str):
    if parameter.endswith("axis"):
        return AXES
    if parameter in ("mode", "distribution"):
        return WORDS
    return ANYTHING


def _check_values(init, shape, dtype) -> None:
    try:
        values = init(KEY, shape, dtype)
    except InitError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert values.shape == shape and values.dtype == dtype
    host = np.asarray(values.astype(jnp.complex64 if values.dtype == jnp.complex64
                                    else jnp.float32))
    assert np.isfinite(host).all(), (init, shape, dtype)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(FACTORIES), data=st.data(), shape=SHAPES, dtype=DTYPES)
def test_any_factory_arguments(name, data, shape, dtype):
    make = getattr(pij, name)
    arguments = {}
    for parameter in inspect.signature(make).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        required = parameter.default is parameter.empty
        if parameter.name != "dtype" and (required or data.draw(st.booleans())):
            arguments[parameter.name] = data.draw(_strategy(parameter.name),
                                                  label=parameter.name)
    try:
        init = make(**arguments)
    except InitError as error:
        assert str(error) and "\n" not in str(error)
        return
    _check_values(init, shape, dtype)


@settings(max_examples=50, deadline=None)
@given(stddev=NUMBERS, dtype=DTYPES)
def test_huge_and_tiny_stds_are_refused_or_finite(stddev, dtype):
    for make in (pij.normal, pij.truncated_normal):
        try:
            init = make(stddev)
        except InitError as error:
            assert "stddev" in str(error)
            continue
        _check_values(init, (16, 8), dtype)


@settings(max_examples=120, deadline=None)
@given(call=scheme_calls(), dtype=st.sampled_from(["float32", "bfloat16", "float16"]))
def test_any_paraminit_scheme_through_factory(call, dtype):
    """Every scheme of ``paraminit.schemes()``: an InitError, or the values the numpy
    backend gives for the same stream (within a float32 ulp: XLA may reassociate)."""
    scheme, shape, options = call
    try:
        init = pij.factory(scheme, **options)
        values = init(pij.key(3, "w"), shape, dtype)
    except InitError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert values.shape == shape and values.dtype == jnp.dtype(dtype)
    spec = resolve(scheme, shape, layout="jax", **options)
    host = np.asarray(values.astype(jnp.float32), dtype=np.float64)
    assert_within(host, spec)
    expected = pn.sample(spec, seed=3, name="w", dtype="float32").astype(np.float64)
    np.testing.assert_allclose(host, expected, rtol=2 ** -6 if dtype != "float32" else 1e-6,
                               atol=1e-30)
