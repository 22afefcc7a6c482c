"""Both Keras backends, and cross-framework equality: a Keras kernel holds the torch
weight of the same (seed, name, scheme), transposed to Keras' layout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import paraminit.keras as pk
import paraminit.numpy as pn

SRC = str(Path(__file__).resolve().parents[2] / "src")

# (class, Keras arguments, scheme, options): the same law in both frameworks
SAME_LAW = [
    ("HeNormal", {}, "he_normal", {"distribution": "truncated_normal"}),
    ("GlorotUniform", {}, "xavier_uniform", {}),
    ("LecunNormal", {}, "lecun_normal", {"distribution": "truncated_normal"}),
    ("RandomNormal", {"stddev": 0.1}, "normal", {"std": 0.1}),
    ("VarianceScaling", {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"},
     "variance_scaling", {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"}),
    ("Msra", {"variance_norm": "average"}, "msra", {"variance_norm": "average"}),
]


def _np(x) -> np.ndarray:
    # a Variable through its value: converting the Variable itself warns (NumPy 2 copy)
    return np.asarray(keras.ops.convert_to_numpy(getattr(x, "value", x)))


@pytest.mark.parametrize(("cls", "arguments", "scheme", "options"), SAME_LAW)
def test_dense_kernel_is_the_transposed_torch_weight(cls, arguments, scheme, options):
    layer = keras.layers.Dense(
        24, kernel_initializer=getattr(pk, cls)(seed=5, name="fc.weight", **arguments))
    layer.build((None, 40))
    torch_weight = pn.sample(scheme, (24, 40), seed=5, name="fc.weight", layout="torch",
                             **options)
    np.testing.assert_array_equal(_np(layer.kernel), torch_weight.T)


@pytest.mark.parametrize(("cls", "arguments", "scheme", "options"), SAME_LAW)
def test_conv_kernel_is_the_transposed_torch_weight(cls, arguments, scheme, options):
    layer = keras.layers.Conv2D(
        16, 3, kernel_initializer=getattr(pk, cls)(seed=9, name="conv1.weight", **arguments))
    layer.build((None, 12, 12, 8))
    torch_weight = pn.sample(scheme, (16, 8, 3, 3), seed=9, name="conv1.weight",
                             layout="torch", **options)
    np.testing.assert_array_equal(_np(layer.kernel), np.transpose(torch_weight, (2, 3, 1, 0)))


def test_orthogonal_kernel_is_the_transposed_torch_weight_to_rounding():
    """Structured laws: the Gaussian is the same, the QR is the backend's (docs/streams.md)."""
    kernel = _np(pk.Orthogonal(seed=1, name="w")((40, 24)))
    torch_weight = pn.sample("orthogonal", (24, 40), seed=1, name="w", layout="torch")
    np.testing.assert_allclose(kernel, torch_weight.T, atol=1e-6)


MODEL = r"""
import json, numpy as np, keras
import paraminit.keras as pk, paraminit.numpy as pn
from paraminit.core.engines.cast import clip_bounds

def values(x):
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(x, "float64")))

report = {"backend": keras.backend.backend()}
for dtype in ("float32", "bfloat16", "float64"):
    model = keras.Sequential([
        keras.Input((10, 10, 3)),
        keras.layers.Conv2D(4, 3, kernel_initializer=pk.HeNormal(seed=1, name="conv.weight"),
                            bias_initializer=pk.Constant(0.5), dtype=dtype),
        keras.layers.Flatten(dtype=dtype),
        keras.layers.Dense(6, kernel_initializer=pk.GlorotUniform(seed=2, name="fc.weight"),
                           dtype=dtype),
    ])
    conv, dense = model.layers[0], model.layers[2]
    he = pn.sample("he_normal", (4, 3, 3, 3), seed=1, name="conv.weight", layout="torch",
                   distribution="truncated_normal", dtype="float64" if dtype == "float64"
                   else "float32")
    glorot = pn.sample("xavier_uniform", (6, 256), seed=2, name="fc.weight", layout="torch",
                       dtype="float64" if dtype == "float64" else "float32")
    he, glorot = np.transpose(he, (2, 3, 1, 0)), glorot.T
    if dtype == "bfloat16":  # the float32 values cast once, bounds rounded inward first
        low, high = clip_bounds(pk.GlorotUniform().resolve((256, 6)).bounds, "bfloat16")
        he = values(keras.ops.cast(he, "bfloat16"))
        glorot = values(keras.ops.cast(np.clip(glorot, low, high), "bfloat16"))
    report[dtype] = {
        "dtypes": [keras.backend.standardize_dtype(w.dtype) for w in model.weights],
        "conv": bool(np.array_equal(values(conv.kernel), he)),
        "bias": bool((values(conv.bias) == 0.5).all()),
        "dense": bool(np.array_equal(values(dense.kernel), glorot)),
        "runs": bool(np.isfinite(values(model(np.ones((2, 10, 10, 3), dtype=dtype)))).all()),
    }
print(json.dumps(report))
"""


def _run(backend: str, **env: str) -> dict:
    import json

    result = subprocess.run(
        [sys.executable, "-c", MODEL], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": SRC, "KERAS_BACKEND": backend, **env})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("backend", "env"), [("torch", {}), ("jax", {"JAX_ENABLE_X64": "1"})])
def test_model_on_backend(backend, env):
    report = _run(backend, **env)
    assert report["backend"] == backend
    for dtype in ("float32", "bfloat16", "float64"):
        entry = report[dtype]
        assert entry["dtypes"] == [dtype] * 4, entry
        assert entry["conv"] and entry["bias"] and entry["dense"] and entry["runs"], entry
