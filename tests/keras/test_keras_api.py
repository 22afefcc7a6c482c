"""paraminit.keras' surface: errors, seed policy, dtypes, serialisation, saved models."""

from __future__ import annotations

import inspect
import math
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import paraminit
import paraminit.keras as pk
import paraminit.numpy as pn
from paraminit import InitError
from paraminit.core.engines.cast import clip_bounds

SRC = str(Path(__file__).resolve().parents[2] / "src")
KERAS_NAMES = ["Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform",
               "Identity", "LecunNormal", "LecunUniform", "Ones", "Orthogonal", "RandomNormal",
               "RandomUniform", "TruncatedNormal", "VarianceScaling", "Zeros"]
# a shape every class accepts (delta/conv-orthogonal need out >= in, identity 2-D)
SHAPE_OF = {"Identity": (6, 8), "Sparse": (32, 16), "IdentityHadamard": (6, 8)}
CONV = (3, 3, 4, 8)


def _np(x) -> np.ndarray:
    # a Variable through its value: converting the Variable itself warns (NumPy 2 copy)
    return np.asarray(keras.ops.convert_to_numpy(getattr(x, "value", x)))


def _shape(name: str) -> tuple[int, ...]:
    return SHAPE_OF.get(name, CONV)


def _random_classes():
    return [name for name, cls in pk.classes().items() if cls.random]


def test_all_keras_names_and_one_class_per_remaining_scheme():
    classes = pk.classes()
    assert set(KERAS_NAMES) <= set(classes)
    schemes = {cls.scheme for cls in classes.values()}
    assert schemes == set(paraminit.REGISTRY)
    assert pk.__all__ == sorted(pk.__all__)
    for name in pk.__all__:
        assert getattr(pk, name) is not None
    for name, cls in classes.items():
        assert issubclass(cls, keras.initializers.Initializer)
        assert cls.__doc__ and "Paper:" in cls.__doc__, name
        assert ("seed=None" in cls.__doc__ or "Seed:" in cls.__doc__) == cls.random, name


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_keras_signatures(name):
    """Keras' arguments, defaults and order; paraminit adds only the keyword ``name``."""
    ours = inspect.signature(getattr(pk, name))
    theirs = inspect.signature(getattr(keras.initializers, name))
    assert [(p.name, p.default) for p in theirs.parameters.values()] == [
        (p.name, p.default) for p in ours.parameters.values() if p.name != "name"]
    if getattr(pk, name).random:
        assert ours.parameters["name"].kind is inspect.Parameter.KEYWORD_ONLY


def test_generated_classes_take_scheme_options():
    assert pk.Msra(variance_norm="average").resolve((64, 32)).std == pytest.approx(
        math.sqrt(4 / (64 + 32)))
    sparse = _np(pk.Sparse(nonzeros=3, seed=0)((32, 16)))
    assert ((sparse != 0).sum(axis=0) == 3).all()  # 3 non-zero inputs per unit (column)
    delta = _np(pk.DeltaOrthogonal(seed=0)((3, 3, 4, 8)))
    assert np.count_nonzero(delta[0]) == 0 and np.count_nonzero(delta[1, 1]) > 0
    dirac = _np(pk.Dirac()((3, 3, 4, 4)))
    np.testing.assert_array_equal(dirac[1, 1], np.eye(4))
    with pytest.raises(InitError, match="variance_norm must be one of"):
        pk.Msra(variance_norm="avg")
    with pytest.raises(InitError, match="Msra"):
        pk.Msra("fan_in")  # keyword-only, as the house style


BAD_ARGUMENTS = [
    (lambda: pk.VarianceScaling(mode="fan_inn"), r"mode must be one of .*'fan_inn'.*did you mean"),
    (lambda: pk.VarianceScaling(scale=-1.0), r"scale must be > 0; received -1.0"),
    (lambda: pk.VarianceScaling(distribution="gaussian"),
     r"distribution must be one of 'truncated_normal', 'normal', 'untruncated_normal'"),
    (lambda: pk.VarianceScaling(distribution=3), r"distribution must be one of .* received 3"),
    (lambda: pk.RandomUniform(0.1, -0.1), r"minval must be < maxval.*Swap them"),
    (lambda: pk.RandomUniform(0.1, 0.1), r"minval must be < maxval"),
    (lambda: pk.RandomNormal(stddev=0.0), r"stddev must be > 0; received 0.0"),
    (lambda: pk.TruncatedNormal(stddev=-1), r"stddev must be > 0"),
    (lambda: pk.TruncatedNormal(mean="a"), r"mean must be a finite number; received 'a'"),
    (lambda: pk.Orthogonal(gain=-1.0), r"gain must be > 0"),
    (lambda: pk.Identity(gain=math.nan), r"gain must be a finite number"),
    (lambda: pk.Constant(math.inf), r"value must be a finite number"),
    (lambda: pk.HeNormal(seed=-1), r"seed must be an int in \[0, 2\*\*64 - 1\]; received -1"),
    (lambda: pk.HeNormal(seed=2**64), r"seed must be an int in \[0, 2\*\*64 - 1\]"),
    (lambda: pk.HeNormal(seed=1.5), r"seed must be None, an int .* or a keras.random.Seed"),
    (lambda: pk.HeNormal(seed=True), r"seed must be None, an int"),
    (lambda: pk.HeNormal(name=3), r"name must be a str; received 3"),
    (lambda: pk.HeNormal(input_axes=[0]), r"input_axes and output_axes go together.*Give both"),
    (lambda: pk.GlorotNormal(output_axes=[1]), r"go together \(received input_axes=None"),
    (lambda: pk.VarianceScaling(input_axes=0, output_axes=[1]),
     r"input_axes must be None or a non-empty list of ints; received 0"),
    (lambda: pk.HeUniform(input_axes=[0], output_axes=[]), r"output_axes must be .*received \[\]"),
    (lambda: pk.LecunNormal(input_axes=[0.5], output_axes=[1]), r"input_axes must be .*\[0.5\]"),
    (lambda: pk.HeNormal(input_axes=[True], output_axes=[1]), r"input_axes must be .*\[True\]"),
    (lambda: pk.HeNormal(stddev=1.0), r"HeNormal: got an unexpected keyword.*its arguments"),
]


@pytest.mark.parametrize(("make", "message"), BAD_ARGUMENTS)
def test_bad_arguments_raise_at_construction(make, message):
    with pytest.raises(InitError, match=message):
        make()


@pytest.mark.parametrize(("init", "shape", "message"), [
    (pk.Orthogonal(seed=0), (5,), r"orthogonal needs an at least 2-D shape; received shape"),
    (pk.Identity(), (3, 3, 3), r"identity needs a 2-D shape"),
    (pk.HeNormal(seed=0), (3, -1), r"shape must be a sequence of non-negative ints"),
    (pk.DeltaOrthogonal(seed=0), (3, 3, 8, 4), r"needs out-channels >= in-channels"),
    (pk.HeNormal(seed=0), (4, 4), None),
    (pk.HeNormal(seed=0, input_axes=[0], output_axes=[2]), (4, 4),
     r"output_axes must be an int in \[-2, 1\]; received 2 for shape \(4, 4\)"),
    (pk.HeNormal(seed=0, input_axes=[0, -2], output_axes=[1]), (4, 4),
     r"input_axes names an axis twice: \[0, -2\] for shape \(4, 4\)"),
    (pk.HeNormal(seed=0, input_axes=[0, 1], output_axes=[1]), (4, 4),
     r"input_axes \(0, 1\) and output_axes \(1,\) share an axis"),
])
def test_bad_shapes(init, shape, message):
    if message is None:
        with pytest.raises(InitError, match=r"dtype must be a floating dtype.*'int32'"):
            init(shape, dtype="int32")
        return
    with pytest.raises(InitError, match=message):
        init(shape)


def test_an_empty_fan_on_axes_is_refused_by_resolve():
    """Calling gives an empty tensor (as Keras); resolving has no law to give."""
    init = pk.HeNormal(seed=0, input_axes=[0], output_axes=[1])
    assert tuple(keras.ops.shape(init((0, 4)))) == (0, 4)
    with pytest.raises(InitError, match=r"shape \(0, 4\) has fan_in 0 \(axes \(0,\)\) and "
                                        r"fan_out 4 \(axes \(1,\)\): variance scaling divides"):
        init.resolve((0, 4))


def test_values_a_dtype_cannot_hold_are_refused():
    with pytest.raises(InitError, match="cannot be held by float32"):
        pk.RandomNormal(stddev=1e300, seed=0)((4, 4))
    with pytest.raises(InitError, match="float16"):
        pk.RandomNormal(stddev=1e5, seed=0)((64, 64), dtype="float16")
    with pytest.raises(InitError, match="bfloat16"):
        pk.Constant(3.4e38)((2,), dtype="bfloat16")  # float32 holds it


# ---------------------------------------------------------------------------------------
# seeds


@pytest.mark.parametrize("name", _random_classes())
def test_int_seed_repeats_and_none_draws_fresh(name):
    cls = pk.classes()[name]
    shape = _shape(name)
    seeded = cls(seed=7, name="w")
    first = _np(seeded(shape))
    np.testing.assert_array_equal(first, _np(seeded(shape)))
    np.testing.assert_array_equal(first, _np(cls(seed=7, name="w")(shape)))
    other_name = _np(cls(seed=7, name="v")(shape))
    assert not np.array_equal(first, other_name)
    fresh = cls()
    assert not np.array_equal(_np(fresh(shape)), _np(fresh(shape)))


def test_int_seed_is_the_paraminit_stream():
    values = _np(pk.HeNormal(seed=3, name="conv1.kernel")(CONV))
    expected = pn.sample("he_normal", CONV, seed=3, name="conv1.kernel", layout="keras",
                         distribution="truncated_normal")
    np.testing.assert_array_equal(values, expected)


def _model(seed_policy):
    init = pk.GlorotUniform(**seed_policy)
    return keras.Sequential([
        keras.Input((6, 6, 2)),
        keras.layers.Conv2D(3, 3, kernel_initializer=pk.HeNormal(**seed_policy)),
        keras.layers.Flatten(),
        keras.layers.Dense(4, kernel_initializer=init),
    ])


def test_set_random_seed_reproduces_an_unseeded_model():
    keras.utils.set_random_seed(1)
    first = [_np(w) for w in _model({}).weights]
    keras.utils.set_random_seed(1)
    again = [_np(w) for w in _model({}).weights]
    keras.utils.set_random_seed(2)
    other = [_np(w) for w in _model({}).weights]
    for a, b, c in zip(first, again, other, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.size == 0 or not a.any() or not np.array_equal(a, c)


def test_seed_generator_as_seed():
    init = pk.RandomNormal(seed=keras.random.SeedGenerator(5))
    a, b = _np(init((8, 8))), _np(init((8, 8)))
    assert not np.array_equal(a, b)
    again = pk.RandomNormal(seed=keras.random.SeedGenerator(5))
    np.testing.assert_array_equal(a, _np(again((8, 8))))


# ---------------------------------------------------------------------------------------
# dtypes


@pytest.mark.parametrize("name", ["HeUniform", "HeNormal", "RandomNormal", "TruncatedNormal",
                                  "Orthogonal", "RandomUniform"])
def test_dtypes(name):
    cls = pk.classes()[name]
    init = cls(seed=0, name="w")
    single = _np(init(CONV, dtype="float32"))
    assert single.dtype == np.float32
    assert keras.backend.standardize_dtype(init(CONV).dtype) == keras.config.floatx()
    spec = init.resolve(CONV)
    for half in ("float16", "bfloat16"):
        tensor = init(CONV, dtype=half)
        assert keras.backend.standardize_dtype(tensor.dtype) == half
        values = _np(keras.ops.cast(tensor, "float32"))
        cast_once = _np(keras.ops.cast(keras.ops.cast(single, half), "float32"))
        if spec.bounds is None:  # bfloat16 / float16 = the float32 values cast once
            np.testing.assert_array_equal(values, cast_once)
        else:  # ... except a value rounding past a bound, moved one ulp inward
            low, high = clip_bounds(spec.bounds, half)
            assert low <= values.min() and values.max() <= high
            inside = (cast_once >= low) & (cast_once <= high)
            np.testing.assert_array_equal(values[inside], cast_once[inside])
        if half == "float16":  # and the same as paraminit's own float16
            expected = pn.sample(spec, seed=0, name="w", dtype="float16")
            np.testing.assert_array_equal(_np(tensor), expected)


def test_constant_laws_fill_integer_tensors_as_keras():
    assert _np(pk.Ones()((2, 3), dtype="int32")).tolist() == [[1, 1, 1]] * 2
    assert _np(pk.Constant(4.0)((2,), dtype="int32")).tolist() == [4, 4]


FLOAT64 = """
import os, numpy as np, keras
import paraminit.keras as pk, paraminit.numpy as pn
value = pk.HeNormal(seed=1, name="w")((3, 3, 4, 8), dtype="float64")
assert keras.backend.standardize_dtype(value.dtype) == "float64", value.dtype
expected = pn.sample("he_normal", (3, 3, 4, 8), seed=1, name="w", dtype="float64",
                     layout="keras", distribution="truncated_normal")
assert np.array_equal(keras.ops.convert_to_numpy(value), expected)
print("ok")
"""


def test_float64_on_jax_with_x64():
    """jax keeps float64 only with x64 enabled (Keras' own initializers too): a subprocess."""
    env = {**os.environ, "PYTHONPATH": SRC, "KERAS_BACKEND": "jax", "JAX_ENABLE_X64": "1"}
    result = subprocess.run([sys.executable, "-c", FLOAT64], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


# ---------------------------------------------------------------------------------------
# serialisation


def _instance(name: str):
    cls = pk.classes()[name]
    return cls(seed=3, name="layer.w") if cls.random else cls()


@pytest.mark.parametrize("name", sorted(pk.classes()))
def test_config_round_trip(name):
    init = _instance(name)
    config = init.get_config()
    again = type(init).from_config(config)
    assert again.get_config() == config
    revived = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert type(revived) is type(init) and revived.get_config() == config
    assert type(keras.initializers.get(f"paraminit>{name}")) is type(init)
    if init.random:
        assert config["seed"] == 3 and config["name"] == "layer.w"
    np.testing.assert_array_equal(_np(init(_shape(name))), _np(again(_shape(name))))


def test_config_round_trip_with_fan_axes():
    init = pk.VarianceScaling(2.0, "fan_avg", seed=6, name="attn.kernel", input_axes=(0,),
                              output_axes=[-2, -1])
    config = init.get_config()
    assert config["input_axes"] == [0] and config["output_axes"] == [-2, -1]  # as Keras'
    revived = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert revived.get_config() == config
    shape = (32, 4, 8)
    np.testing.assert_array_equal(_np(init(shape)), _np(revived(shape)))
    assert revived.resolve(shape).fans.fan_out == 32


def test_keras_config_details():
    assert pk.VarianceScaling(distribution="Normal").get_config()["distribution"] == \
        "truncated_normal"  # Keras lower-cases and reads "normal" as truncated
    assert pk.HeNormal().get_config()["seed"] is None
    generator = keras.random.SeedGenerator(9)
    config = pk.RandomNormal(seed=generator).get_config()
    # a SeedGenerator is written as Keras writes it (its config), and read back
    assert config["seed"] == keras.initializers.RandomNormal(seed=generator).get_config()["seed"]
    assert isinstance(pk.RandomNormal.from_config(config).seed, keras.random.SeedGenerator)


def test_saved_model_reloads_with_paraminit_initializers(tmp_path):
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, kernel_initializer=pk.HeNormal(seed=1, name="conv.weight"),
                            bias_initializer=pk.Zeros()),
        keras.layers.Flatten(),
        keras.layers.Dense(5, kernel_initializer=pk.Orthogonal(gain=2.0, seed=2),
                           bias_initializer=pk.Constant(0.1)),
    ])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    layers = [layer.get_config() for layer in loaded.layers]
    conv, dense = layers[0], layers[2]
    assert conv["kernel_initializer"]["registered_name"] == "paraminit>HeNormal"
    assert conv["kernel_initializer"]["config"]["name"] == "conv.weight"
    assert dense["kernel_initializer"]["config"] == pk.Orthogonal(2.0, seed=2).get_config()
    assert isinstance(loaded.layers[0].kernel_initializer, pk.HeNormal)
    for saved, read in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(_np(saved), _np(read))
    np.testing.assert_array_equal(
        _np(loaded.layers[0].kernel),
        pn.sample("he_normal", (3, 3, 3, 4), seed=1, name="conv.weight", layout="keras",
                  distribution="truncated_normal"))


def test_importing_paraminit_imports_no_keras():
    code = ("import sys, paraminit; paraminit.resolve('he_normal', (3, 3)); "
            "assert not {'keras', 'jax', 'torch'} & set(sys.modules), sorted(sys.modules); "
            "assert paraminit.keras.HeNormal and 'keras' in sys.modules; "  # lazy attribute
            "assert 'keras' in dir(paraminit); print('ok')")
    env = {**os.environ, "PYTHONPATH": SRC, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
