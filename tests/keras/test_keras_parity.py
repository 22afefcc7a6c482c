"""Parity with keras.initializers: the same fans, std and bounds from the same shape, and
values whose statistics agree with Keras' own draws (tolerances from the sample size)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from keras.src.initializers.random_initializers import compute_fans as keras_fans
from scipy import stats

import paraminit.keras as pk

# dense (in, out), conv (3, 3, in, out), depthwise (3, 3, 32, 1), 1-D
SHAPES = [(256, 128), (3, 3, 32, 64), (3, 3, 32, 1), (500,)]
TRUNC2 = 0.87962566103423978  # std of N(0, 1) cut at +-2 (REFERENCE.md)
Z = 5.0  # standard errors allowed; the seeds are fixed, so each run is the same
KS_P = 1e-4

# Keras' VarianceScaling arguments of each preset: (scale, mode, distribution)
VARIANCE_SCALING = {
    "GlorotNormal": (1.0, "fan_avg", "truncated_normal"),
    "GlorotUniform": (1.0, "fan_avg", "uniform"),
    "HeNormal": (2.0, "fan_in", "truncated_normal"),
    "HeUniform": (2.0, "fan_in", "uniform"),
    "LecunNormal": (1.0, "fan_in", "truncated_normal"),
    "LecunUniform": (1.0, "fan_in", "uniform"),
}
EXPLICIT = [  # VarianceScaling with its own arguments
    {"scale": 0.5, "mode": "fan_out", "distribution": "untruncated_normal"},
    {"scale": 3.0, "mode": "fan_avg", "distribution": "uniform"},
    {"scale": 1.0, "mode": "fan_in", "distribution": "normal"},  # Keras: truncated
    {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"},
]


def _np(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(getattr(x, "value", x)), dtype=np.float64)


def _std_error(values: np.ndarray) -> float:
    """Standard error of the sample std, from the sample's own fourth moment."""
    v = values.ravel()
    centred = v - v.mean()
    s2 = np.mean(centred**2)
    m4 = np.mean(centred**4)
    return math.sqrt(max(m4 - s2 * s2, 1e-300) / (4 * s2 * v.size))


def _keras_target(scale: float, mode: str, distribution: str, shape,
                  **axes) -> dict[str, float]:
    """Keras' formula (random_initializers.VarianceScaling.__call__), on Keras' fans."""
    fan_in, fan_out = keras_fans(shape, **axes)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(scale / max(1.0, fan))
    if distribution == "uniform":
        return {"std": std, "bound": math.sqrt(3.0 * scale / max(1.0, fan))}
    if distribution in ("truncated_normal", "normal"):
        return {"std": std, "parent": std / TRUNC2}
    return {"std": std}


def _compare_draws(ours: np.ndarray, theirs: np.ndarray, target_std: float) -> None:
    for values in (ours, theirs):
        assert abs(values.std() - target_std) < Z * _std_error(values)
    assert abs(ours.mean()) < Z * target_std / math.sqrt(ours.size)
    assert stats.ks_2samp(ours.ravel(), theirs.ravel()).pvalue > KS_P


def _cases():
    for name, args in VARIANCE_SCALING.items():
        for shape in SHAPES:
            yield pytest.param(name, {}, args, shape, id=f"{name}-{shape}")
    for i, kwargs in enumerate(EXPLICIT):
        args = (kwargs["scale"], kwargs["mode"], kwargs["distribution"])
        for shape in SHAPES:
            yield pytest.param("VarianceScaling", kwargs, args, shape, id=f"VS{i}-{shape}")


@pytest.mark.parametrize(("name", "kwargs", "args", "shape"), list(_cases()))
def test_variance_scaling_family(name, kwargs, args, shape):
    ours_init = getattr(pk, name)(seed=11, name="w", **kwargs)
    theirs_init = getattr(keras.initializers, name)(seed=11, **kwargs)
    target = _keras_target(*args, shape)
    spec = ours_init.resolve(shape)
    fan_in, fan_out = keras_fans(shape)
    assert (spec.fans.fan_in, spec.fans.fan_out) == (fan_in, fan_out)
    assert spec.std == pytest.approx(target["std"], rel=1e-12)
    ours, theirs = _np(ours_init(shape)), _np(theirs_init(shape))
    assert ours.shape == theirs.shape == shape
    if "bound" in target:
        assert spec.bound == pytest.approx(target["bound"], rel=1e-12)
        assert np.abs(ours).max() <= target["bound"]
    if "parent" in target:
        assert spec.parent_std == pytest.approx(target["parent"], rel=1e-12)
        assert np.abs(ours).max() <= 2 * target["parent"]
        assert np.abs(theirs).max() <= 2 * target["parent"] * (1 + 1e-6)
    _compare_draws(ours, theirs, target["std"])


@pytest.mark.parametrize("shape", [(512, 256), (3, 3, 64, 64)])
@pytest.mark.parametrize(("mean", "stddev"), [(0.0, 0.02), (1.5, 0.3)])
def test_truncated_normal_parent_std(shape, mean, stddev):
    """Keras' TruncatedNormal: stddev the parent std, cut at mean +- 2 stddev."""
    ours = _np(pk.TruncatedNormal(mean, stddev, seed=3)(shape))
    theirs = _np(keras.initializers.TruncatedNormal(mean, stddev, seed=3)(shape))
    spec = pk.TruncatedNormal(mean, stddev).resolve(shape)
    assert spec.parent_std == pytest.approx(stddev, rel=1e-12)
    assert spec.std == pytest.approx(TRUNC2 * stddev, rel=1e-12)
    assert spec.bounds == pytest.approx((mean - 2 * stddev, mean + 2 * stddev), rel=1e-12)
    assert np.abs(ours - mean).max() <= 2 * stddev * (1 + 1e-6)
    assert abs(ours.std() - TRUNC2 * stddev) < Z * _std_error(ours)
    assert abs(theirs.std() - TRUNC2 * stddev) < Z * _std_error(theirs)
    assert stats.ks_2samp(ours.ravel(), theirs.ravel()).pvalue > KS_P


@pytest.mark.parametrize("shape", SHAPES)
def test_random_normal_and_uniform(shape):
    for name, kwargs, std in (
        ("RandomNormal", {"mean": 0.5, "stddev": 0.2}, 0.2),
        ("RandomUniform", {"minval": -0.3, "maxval": 0.1}, 0.4 / math.sqrt(12)),
        ("RandomNormal", {}, 0.05),
        ("RandomUniform", {}, 0.1 / math.sqrt(12)),
    ):
        ours = _np(getattr(pk, name)(seed=5, **kwargs)(shape))
        theirs = _np(getattr(keras.initializers, name)(seed=5, **kwargs)(shape))
        assert abs(ours.std() - std) < Z * _std_error(ours)
        assert abs(ours.mean() - theirs.mean()) < Z * std * math.sqrt(2 / ours.size)
        assert stats.ks_2samp(ours.ravel(), theirs.ravel()).pvalue > KS_P
        if name == "RandomUniform":
            low, high = kwargs.get("minval", -0.05), kwargs.get("maxval", 0.05)
            assert low <= ours.min() and ours.max() <= high


@pytest.mark.parametrize("shape", [(64, 128), (128, 64), (100, 100), (3, 3, 16, 32),
                                   (2, 3, 64, 8)])
@pytest.mark.parametrize("gain", [1.0, 1.7])
def test_orthogonal(shape, gain):
    """Keras' reading: (prod(shape[:-1]), shape[-1]) is gain x a semi-orthogonal matrix."""
    for init in (pk.Orthogonal(gain, seed=1), keras.initializers.Orthogonal(gain, seed=1)):
        matrix = _np(init(shape)).reshape(-1, shape[-1])
        small = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
        np.testing.assert_allclose(small, gain**2 * np.eye(len(small)), atol=1e-5)


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (6, 2)])
def test_deterministic_match_exactly(shape):
    for name, args in (("Identity", (2.5,)), ("Zeros", ()), ("Ones", ()), ("Constant", (0.3,))):
        ours = getattr(pk, name)(*args)(shape)
        theirs = getattr(keras.initializers, name)(*args)(shape)
        np.testing.assert_array_equal(_np(ours), _np(theirs))
        assert keras.backend.standardize_dtype(ours.dtype) == "float32"


def test_one_dimensional_and_scalar_fans_as_keras():
    """Keras reads (n,) as fan_in = fan_out = n and () as 1: so do these classes."""
    assert pk.HeNormal().resolve((500,)).std == pytest.approx(math.sqrt(2 / 500))
    assert pk.GlorotUniform().resolve(()).bound == pytest.approx(math.sqrt(3.0))
    assert "fan_in = fan_out = 500" in pk.HeNormal().resolve((500,)).notes[-1]
    assert keras.ops.shape(pk.HeNormal(seed=0)(())) == ()


def test_empty_shapes_give_empty_tensors_as_keras():
    for init in (pk.HeNormal(seed=0), pk.Orthogonal(seed=0), pk.RandomNormal(seed=0)):
        assert tuple(keras.ops.shape(init((0, 4)))) == (0, 4)
        assert tuple(keras.ops.shape(keras.initializers.HeNormal(seed=0)((0, 4)))) == (0, 4)


def test_keras_fans_equal_paraminit_keras_layout():
    """The spec's fans are Keras' compute_fans on every rank >= 2 (depthwise included)."""
    for shape in [(7, 3), (5, 7, 3), (3, 3, 32, 1), (2, 3, 4, 5, 6)]:
        fans = pk.VarianceScaling().resolve(shape).fans
        assert (fans.fan_in, fans.fan_out) == keras_fans(shape)


# (shape, input_axes, output_axes): an EinsumDense-style (in, heads, head_dim) kernel, a
# multi-axis input, negative axes, a conv kernel whose window counts in neither fan
AXES = [((64, 4, 16), [0], [1, 2]), ((8, 8, 32), [0, 1], [2]), ((16, 4, 32), [-3], [-1]),
        ((3, 3, 32, 64), [2], [3])]


@pytest.mark.parametrize(("shape", "input_axes", "output_axes"), AXES)
@pytest.mark.parametrize("name", ["HeNormal", "GlorotUniform", "LecunNormal", "VarianceScaling"])
def test_input_and_output_axes_as_keras(name, shape, input_axes, output_axes):
    """Keras' compute_fans(shape, input_axes, output_axes): the product of the named axes,
    no receptive field; the same std and bound, and draws that agree with Keras' own."""
    axes = {"input_axes": input_axes, "output_axes": output_axes}
    kwargs = {"scale": 0.7, "mode": "fan_out", "distribution": "uniform"} \
        if name == "VarianceScaling" else {}
    args = (kwargs["scale"], kwargs["mode"], kwargs["distribution"]) if kwargs \
        else VARIANCE_SCALING[name]
    ours_init = getattr(pk, name)(seed=4, name="w", **kwargs, **axes)
    theirs_init = getattr(keras.initializers, name)(seed=4, **kwargs, **axes)
    spec = ours_init.resolve(shape)
    assert (spec.fans.fan_in, spec.fans.fan_out) == keras_fans(shape, **axes)
    target = _keras_target(*args, shape, **axes)
    assert spec.std == pytest.approx(target["std"], rel=1e-12)
    assert "as Keras reads them" in spec.notes[-1]
    ours, theirs = _np(ours_init(shape)), _np(theirs_init(shape))
    assert ours.shape == theirs.shape == shape
    _compare_draws(ours, theirs, target["std"])


def test_axes_of_the_default_layout_give_the_default_values_rescaled():
    """Axes that name Keras' own (in, out) keep the canonical element order: the values are
    the layout-read ones times the ratio of the stds (a conv window leaves both fans)."""
    shape = (3, 3, 16, 32)
    default = pk.HeUniform(seed=8, name="conv.weight")
    on_axes = pk.HeUniform(seed=8, name="conv.weight", input_axes=[2], output_axes=[3])
    assert on_axes.resolve(shape).element_order == default.resolve(shape).element_order
    np.testing.assert_allclose(_np(on_axes(shape)), 3.0 * _np(default(shape)), rtol=1e-6)
    dense = (20, 30)
    np.testing.assert_array_equal(
        _np(pk.HeUniform(seed=8, input_axes=[0], output_axes=[1])(dense)),
        _np(pk.HeUniform(seed=8)(dense)))
