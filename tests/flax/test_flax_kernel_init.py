"""paraminit.jax's factories as Flax's kernel_init/bias_init (nnx.Linear, nnx.Conv, Linen
Dense and Conv, also under jax.jit(model.init)): the shapes, dtypes and laws Flax asks for."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from flax_helpers import assert_std

pij = pytest.importorskip("paraminit.jax")


def test_nnx_linear_and_conv():
    rngs = nnx.Rngs(0)
    dense = nnx.Linear(256, 128, kernel_init=pij.he_normal(), bias_init=pij.constant(0.1),
                       rngs=rngs)
    assert dense.kernel.get_value().shape == (256, 128)
    assert_std(dense.kernel.get_value(), math.sqrt(2 / 256), "he_normal, fan_in 256")
    assert np.allclose(np.asarray(dense.bias.get_value()), 0.1)
    conv = nnx.Conv(64, 32, (3, 3), kernel_init=pij.glorot_uniform(), bias_init=pij.zeros,
                    rngs=rngs)
    kernel = np.asarray(conv.kernel.get_value())  # (3, 3, 64, 32): fans 576 and 288
    bound = math.sqrt(6 / (576 + 288))
    assert kernel.shape == (3, 3, 64, 32) and np.abs(kernel).max() <= bound * (1 + 1e-6)
    assert_std(kernel, bound / math.sqrt(3), "glorot_uniform")
    assert not np.asarray(conv.bias.get_value()).any()
    low = nnx.Linear(64, 64, kernel_init=pij.lecun_normal(), param_dtype=jnp.bfloat16,
                     rngs=rngs)
    assert low.kernel.get_value().dtype == jnp.bfloat16


class LinenNet(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Conv(32, (3, 3), kernel_init=pij.he_normal(), bias_init=pij.zeros)(x)
        x = x.reshape((x.shape[0], -1))
        return nn.Dense(16, kernel_init=pij.lecun_normal(), bias_init=pij.constant(0.5))(x)


def test_linen_dense_and_conv_eager_and_jitted():
    x = jnp.ones((1, 8, 8, 16))
    eager = LinenNet().init(jax.random.key(0), x)["params"]
    jitted = jax.jit(LinenNet().init)(jax.random.key(0), x)["params"]
    for layer in ("Conv_0", "Dense_0"):
        for leaf in ("kernel", "bias"):
            np.testing.assert_array_equal(np.asarray(eager[layer][leaf]),
                                          np.asarray(jitted[layer][leaf]))
    assert_std(eager["Conv_0"]["kernel"], math.sqrt(2 / (9 * 16)), "he, fan_in 3*3*16")
    assert_std(eager["Dense_0"]["kernel"], math.sqrt(1 / (8 * 8 * 32)), "lecun, fan_in 2048")
    assert np.allclose(np.asarray(eager["Dense_0"]["bias"]), 0.5)
    other = LinenNet().init(jax.random.key(1), x)["params"]
    assert not np.array_equal(np.asarray(other["Conv_0"]["kernel"]),
                              np.asarray(eager["Conv_0"]["kernel"]))


def test_a_paraminit_key_gives_the_model_level_values():
    """pij.key(seed, stream name) as the key gives what paraminit.flax.init writes (the
    "he" preset is paraminit's he_normal, a plain normal: pij.factory("he_normal"); JAX's
    he_normal is a truncated normal)."""
    import paraminit.flax as pif

    model = nnx.Sequential(nnx.Linear(16, 8, rngs=nnx.Rngs(0)))
    pif.init(model, seed=4)
    kernel = pij.factory("he_normal")(pij.key(4, "layers.0.weight"), (16, 8), jnp.float32)
    np.testing.assert_array_equal(np.asarray(kernel),
                                  np.asarray(model.layers[0].kernel.get_value()))
