"""Fuzzed constructor arguments: an InitError or correct values, never a crash."""

from __future__ import annotations

import math

import keras
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import paraminit.keras as pk
from paraminit import InitError

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 1e-30, 1e30, 1e300, -1e300, 1.0, -1.0]),
    st.integers(min_value=-(2**70), max_value=2**70),
)
ANYTHING = st.one_of(NUMBERS, st.none(), st.booleans(), st.text(max_size=8),
                     st.lists(st.integers(0, 3), max_size=2))
SEEDS = st.one_of(st.integers(min_value=-(2**65), max_value=2**65), st.none(), st.booleans(),
                  st.floats(), st.text(max_size=3))
SHAPES = st.sampled_from([(16, 8), (3, 3, 4, 8), (7,), (8, 8)])
DTYPES = st.sampled_from(["float32", "float16", "bfloat16"])


def _check_values(init, shape, dtype) -> None:
    """Calling: an InitError, or finite values of the shape inside the law's bounds."""
    try:
        tensor = init(shape, dtype=dtype)
    except InitError:
        return
    values = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(tensor, "float32")))
    assert values.shape == shape
    assert np.isfinite(values).all()
    spec = init.resolve(shape)
    if spec.bounds is not None:
        low, high = spec.bounds
        assert low <= values.min() and values.max() <= high


@given(name=st.sampled_from(sorted(pk.classes())), data=st.data(), shape=SHAPES, dtype=DTYPES)
def test_any_arguments(name, data, shape, dtype):
    cls = pk.classes()[name]
    arguments = {}
    for parameter in cls.__signature__.parameters.values():
        if data.draw(st.booleans()):
            strategy = {"seed": SEEDS, "name": st.one_of(st.text(max_size=4), ANYTHING)}.get(
                parameter.name, ANYTHING)
            arguments[parameter.name] = data.draw(strategy, label=parameter.name)
    try:
        init = cls(**arguments)
    except InitError:
        return
    _check_values(init, shape, dtype)


@given(stddev=NUMBERS, mean=NUMBERS, shape=SHAPES, dtype=DTYPES)
def test_normal_laws_huge_and_tiny(stddev, mean, shape, dtype):
    for cls in (pk.RandomNormal, pk.TruncatedNormal):
        try:
            init = cls(mean=mean, stddev=stddev, seed=0)
        except InitError as error:
            assert "mean" in str(error) or "stddev" in str(error)
            assert not (math.isfinite(stddev) and stddev > 0 and math.isfinite(mean))
            continue
        _check_values(init, shape, dtype)


@given(minval=st.floats(allow_nan=False, allow_infinity=False, width=32),
       maxval=st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_uniform_bounds(minval, maxval):
    if minval >= maxval:
        try:
            pk.RandomUniform(minval, maxval)
        except InitError as error:
            assert "minval must be < maxval" in str(error)
        else:
            raise AssertionError("minval >= maxval was accepted")
        return
    _check_values(pk.RandomUniform(minval, maxval, seed=1), (16, 8), "float32")


@given(mode=st.text(max_size=10), distribution=st.text(max_size=20))
def test_bad_modes_and_distributions(mode, distribution):
    try:
        pk.VarianceScaling(mode=mode, distribution=distribution)
    except InitError as error:
        assert "mode" in str(error) or "distribution" in str(error)
    else:
        assert mode in ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
        assert distribution.lower() in ("truncated_normal", "normal", "untruncated_normal",
                                        "uniform")


@given(gain=st.floats(max_value=0.0), cls=st.sampled_from([pk.Orthogonal, pk.Identity,
                                                           pk.DeltaOrthogonal]))
def test_non_positive_gain(gain, cls):
    try:
        cls(gain=gain)
    except InitError as error:
        assert "gain" in str(error)
    else:
        raise AssertionError(f"gain={gain!r} was accepted")


@given(seed=SEEDS)
def test_seeds(seed):
    valid = seed is None or (isinstance(seed, int) and not isinstance(seed, bool)
                             and 0 <= seed < 2**64)
    try:
        init = pk.HeNormal(seed=seed)
    except InitError as error:
        assert not valid and "seed must be" in str(error)
    else:
        assert valid
        _check_values(init, (8, 8), "float32")


AXIS_LISTS = st.one_of(st.none(), st.lists(st.one_of(
    st.integers(-5, 5), st.integers(min_value=-(2**70), max_value=2**70)), max_size=4))


@given(input_axes=AXIS_LISTS, output_axes=AXIS_LISTS,
       shape=st.sampled_from([(16, 8), (3, 3, 4, 8), (4, 6, 5), (7,), ()]), dtype=DTYPES)
def test_fan_axes(input_axes, output_axes, shape, dtype):
    """Any input_axes/output_axes: an InitError, or Keras' fans and values in bounds."""
    try:
        init = pk.GlorotUniform(seed=1, input_axes=input_axes, output_axes=output_axes)
    except InitError:
        return
    _check_values(init, shape, dtype)
    if input_axes is not None:
        try:
            fans = init.resolve(shape).fans
        except InitError:
            return
        assert fans.fan_in == math.prod(shape[a] for a in input_axes)
        assert fans.fan_out == math.prod(shape[a] for a in output_axes)
