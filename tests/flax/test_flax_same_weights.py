"""The same model in PyTorch and in Flax starts from the same weights.

A parameter's values depend only on (seed, its stream name, element index), the stream
name of a Flax parameter is its torch-style name (``kernel`` -> ``weight``), and a kernel's
element index follows torch's arrangement of it (the canonical element order,
``paraminit.core.fans.canonical_axes``): a Flax Dense kernel (in, out) is the transpose of
the torch Linear weight (out, in), a Conv kernel (kh, kw, in, out) is
``np.transpose(torch (out, in, kh, kw), (2, 3, 1, 0))``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import paraminit.flax as pif

torch = pytest.importorskip("torch")
pit = pytest.importorskip("paraminit.torch")


def _mlp_pair():
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    rngs = nnx.Rngs(0)
    model = nnx.Sequential(nnx.Linear(8, 16, rngs=rngs), nnx.relu,
                           nnx.Linear(16, 4, rngs=rngs))
    return net, model


@pytest.mark.parametrize("preset", ["he", "xavier", "lecun", "orthogonal"])
def test_mlp_kernels_are_the_torch_weights_transposed(preset):
    net, model = _mlp_pair()
    # nnx.Sequential names its layers "layers.0", "layers.2": give torch the same prefix
    pit.init(net, preset=preset, seed=0, prefix="layers.")
    pif.init(model, preset=preset, seed=0)
    for i in (0, 2):
        weight = net[i].weight.detach().numpy()
        kernel = np.asarray(model.layers[i].kernel.get_value())
        if preset == "orthogonal":  # QR by torch vs NumPy: equal to rounding
            np.testing.assert_allclose(kernel, weight.T, atol=1e-6)
        else:
            np.testing.assert_array_equal(kernel, weight.T)
        np.testing.assert_array_equal(np.asarray(model.layers[i].bias.get_value()),
                                      net[i].bias.detach().numpy())
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(jnp.asarray(x))),
                               net(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_conv_kernel_is_the_torch_weight_moved():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3))
    model = nnx.Sequential(nnx.Conv(3, 8, (3, 3), padding="VALID", rngs=nnx.Rngs(0)))
    pit.init(net, seed=0, prefix="layers.")
    pif.init(model, seed=0)
    weight = net[0].weight.detach().numpy()  # (out, in, kh, kw)
    kernel = np.asarray(model.layers[0].kernel.get_value())  # (kh, kw, in, out)
    np.testing.assert_array_equal(kernel, np.transpose(weight, (2, 3, 1, 0)))


def test_embedding_rows_are_tokens_in_both():
    net = torch.nn.Sequential(torch.nn.Embedding(50, 12))
    model = nnx.Sequential(nnx.Embed(50, 12, rngs=nnx.Rngs(0)))
    pit.init(net, seed=0, prefix="layers.")
    pif.init(model, seed=0)
    np.testing.assert_array_equal(np.asarray(model.layers[0].embedding.get_value()),
                                  net[0].weight.detach().numpy())


def test_conv_transpose_kernel_is_the_torch_weight_moved():
    net = torch.nn.Sequential(torch.nn.ConvTranspose2d(6, 4, 3))
    model = nnx.Sequential(nnx.ConvTranspose(6, 4, (3, 3), rngs=nnx.Rngs(0)))
    pit.init(net, "xavier", seed=0, prefix="layers.")
    pif.init(model, "xavier", seed=0)
    weight = net[0].weight.detach().numpy()  # torch (in, out, kh, kw)
    kernel = np.asarray(model.layers[0].kernel.get_value())  # Flax (kh, kw, in, out)
    np.testing.assert_array_equal(kernel, np.transpose(weight, (2, 3, 0, 1)))
