"""Structured inits: orthogonal (QR, SVD), dirac, identity, sparse."""

from __future__ import annotations

import math

import numpy as np
import pytest

import paraminit as pi
import paraminit.numpy as pn
from paraminit.core.stream import Stream

# ---------------------------------------------------------------------------------------
# orthogonal

ORTHO_CASES = [
    ((64, 64), "torch"),
    ((48, 160), "torch"),  # wide: orthonormal rows
    ((160, 48), "torch"),  # tall: orthonormal columns
    ((32, 16, 3, 3), "torch"),  # 32 x 144: wide
    ((256, 8, 3, 3), "torch"),  # 256 x 72: tall
    ((3, 3, 16, 32), "jax"),  # out-axis last: 32 x 144
    ((160, 48), "jax"),  # jax: rows are the last axis (48 x 160, wide)
]
GRAM_TOL = {"float32": 1e-6, "float64": 1e-12}


def _as_matrix(w: np.ndarray, out_axis: int) -> np.ndarray:
    return np.moveaxis(w, out_axis, 0).reshape(w.shape[out_axis], -1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("method", ["qr", "svd"])
@pytest.mark.parametrize("gain", [1.0, 2.5])
@pytest.mark.parametrize(("shape", "layout"), ORTHO_CASES)
def test_orthogonal_gram_is_gain_squared_identity(shape, layout, gain, method, dtype):
    spec = pi.resolve("orthogonal", shape, layout=layout, gain=gain, method=method)
    out_axis = 0 if layout == "torch" else len(shape) - 1
    assert spec.params["out_axis"] == out_axis
    w = pn.sample(spec, seed=3, name="q", dtype=dtype)
    assert w.shape == shape and w.dtype == np.dtype(dtype)
    m = _as_matrix(w.astype(np.float64), out_axis)
    rows, cols = m.shape
    gram = m @ m.T if rows <= cols else m.T @ m
    error = np.abs(gram - gain**2 * np.eye(min(rows, cols))).max() / gain**2
    assert error < GRAM_TOL[dtype]


def test_orthogonal_float16_is_close_to_orthogonal():
    w = pn.sample("orthogonal", (64, 64), seed=0, name="q", dtype="float16").astype(np.float64)
    assert np.abs(w @ w.T - np.eye(64)).max() < 1e-2


def test_orthogonal_torch_and_jax_layouts_are_transposes():
    torch_w = pn.sample("orthogonal", (32, 16, 3, 3), seed=8, name="c", dtype="float64")
    jax_w = pn.sample("orthogonal", (3, 3, 16, 32), seed=8, name="c", dtype="float64",
                      layout="jax")
    # the canonical element order: the same tensor, (out, in, kh, kw) -> (kh, kw, in, out)
    np.testing.assert_array_equal(np.transpose(torch_w, (2, 3, 1, 0)), jax_w)


def test_orthogonal_qr_sign_fix_first_column():
    # With R's diagonal made positive, Q R = G gives Q[:, 0] = G[:, 0] / |G[:, 0]| exactly:
    # the first column is uniform on the sphere (Haar), whatever the LAPACK sign convention.
    n = 24
    w = pn.sample("orthogonal", (n, n), seed=4, name="h", dtype="float64")
    g = Stream(4, "h").normal(0, n * n).reshape(n, n)
    np.testing.assert_allclose(w[:, 0], g[:, 0] / np.linalg.norm(g[:, 0]), atol=1e-12)
    # and Q^T G is upper triangular with a positive diagonal
    r = w.T @ g
    assert np.abs(np.tril(r, -1)).max() < 1e-10
    assert np.all(np.diag(r) > 0)


def test_orthogonal_svd_is_polar_factor():
    # U V^T of G is its polar factor: Q^T G = (G^T G)^(1/2), symmetric positive definite
    n = 20
    w = pn.sample("orthogonal", (n, n), seed=4, name="h", dtype="float64", method="svd")
    g = Stream(4, "h").normal(0, n * n).reshape(n, n)
    p = w.T @ g
    np.testing.assert_allclose(p, p.T, atol=1e-10)
    assert np.linalg.eigvalsh((p + p.T) / 2).min() > 0


@pytest.mark.parametrize("method", ["qr", "svd"])
def test_orthogonal_is_haar_like(method):
    # For Haar Q (n x n): E[Q_ii] = 0, Var(Q_ii) = 1/n, E[trace Q] = 0. Without the sign
    # fix, LAPACK's Householder QR gives a strongly biased diagonal (checked below).
    n, seeds = 8, 250
    diag, traces = [], []
    for seed in range(seeds):
        q = pn.sample("orthogonal", (n, n), seed=seed, name="haar", dtype="float64",
                      method=method)
        diag.append(np.diag(q))
        traces.append(np.trace(q))
    diag = np.concatenate(diag)
    sd_of_mean = math.sqrt(1 / n / diag.size)
    assert abs(diag.mean()) < 5 * sd_of_mean
    assert np.var(diag) == pytest.approx(1 / n, rel=0.15)
    # trace of Haar O(n) has mean 0 and variance 1
    assert abs(np.mean(traces)) < 5 / math.sqrt(seeds)


def test_without_sign_fix_the_diagonal_is_biased():
    # the same Gaussians through plain numpy QR: the Haar test above would fail
    n, seeds = 8, 250
    diag = []
    for seed in range(seeds):
        g = Stream(seed, "haar").normal(0, n * n).reshape(n, n)
        diag.append(np.diag(np.linalg.qr(g)[0]))
    diag = np.concatenate(diag)
    assert abs(diag.mean()) > 10 * math.sqrt(1 / n / diag.size)


# ---------------------------------------------------------------------------------------
# dirac


@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_dirac_preserves_input_through_grouped_conv2d(kernel, groups):
    torch = pytest.importorskip("torch")
    channels = 8
    w = pn.sample("dirac", (channels, channels // groups, kernel, kernel), seed=0,
                  groups=groups, dtype="float64")
    x = torch.randn(2, channels, 7, 9, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(0))
    y = torch.nn.functional.conv2d(x, torch.from_numpy(w), padding=kernel // 2, groups=groups)
    # even kernels with padding k//2 give one extra row/column; the first H x W are x
    torch.testing.assert_close(y[..., :7, :9], x, rtol=0, atol=0)


@pytest.mark.parametrize("kernel", [3, 4])
def test_dirac_preserves_input_conv1d_and_conv3d(kernel):
    torch = pytest.importorskip("torch")
    fn = torch.nn.functional
    x1 = torch.randn(1, 6, 11, dtype=torch.float64)
    w1 = torch.from_numpy(pn.sample("dirac", (6, 3, kernel), seed=0, groups=2, dtype="float64"))
    torch.testing.assert_close(fn.conv1d(x1, w1, padding=kernel // 2, groups=2)[..., :11], x1)
    x3 = torch.randn(1, 4, 5, 6, 7, dtype=torch.float64)
    w3 = torch.from_numpy(pn.sample("dirac", (4, 4, kernel, kernel, kernel), seed=0,
                                    dtype="float64"))
    torch.testing.assert_close(fn.conv3d(x3, w3, padding=kernel // 2)[..., :5, :6, :7], x3)


def test_dirac_jax_layout_is_torch_layout_transposed():
    torch_w = pn.sample("dirac", (8, 4, 3, 3), seed=0, groups=2, dtype="float64")
    jax_w = pn.sample("dirac", (3, 3, 4, 8), seed=0, groups=2, layout="jax", dtype="float64")
    np.testing.assert_array_equal(np.transpose(torch_w, (2, 3, 1, 0)), jax_w)


def test_dirac_centre_and_count():
    # torch puts the 1 at k//2 (k = 4 -> 2); out 6 > in 4: min(6, 4) = 4 ones
    w = pn.sample("dirac", (6, 4, 4), seed=0, dtype="float64")
    assert sorted(map(tuple, np.argwhere(w))) == [(d, d, 2) for d in range(4)]
    assert w.sum() == 4


def test_dirac_scipy_correlate_preserves_input():
    from scipy import ndimage

    w = pn.sample("dirac", (3, 3, 5, 5), seed=0, dtype="float64")
    x = np.random.default_rng(0).standard_normal((3, 10, 12))
    for out in range(3):
        y = sum(ndimage.correlate(x[c], w[out, c], mode="constant") for c in range(3))
        np.testing.assert_allclose(y, x[out], atol=1e-15)


# ---------------------------------------------------------------------------------------
# identity


@pytest.mark.parametrize("shape", [(5, 5), (4, 7), (7, 4)])
def test_identity_values(shape):
    w = pn.sample("identity", shape, seed=0, gain=1.5, dtype="float64")
    np.testing.assert_array_equal(w, 1.5 * np.eye(*shape))
    np.testing.assert_array_equal(pn.sample("eye", shape, seed=99, dtype="float64"),
                                  np.eye(*shape))


def test_identity_spec_moments_are_those_of_the_result():
    # InitSpec.mean / .std describe the result (DESIGN §3 "std means the result's std");
    # gain * I on 64 x 48 has mean 48/3072 and std sqrt(p - p^2) with p = 48/3072.
    spec = pi.resolve("identity", (64, 48))
    w = pn.sample(spec, seed=0, dtype="float64")
    p = 48 / (64 * 48)
    assert w.mean() == pytest.approx(p)
    assert spec.mean == pytest.approx(w.mean(), rel=1e-12)
    assert spec.std == pytest.approx(w.std(), rel=1e-12)
    assert spec.std == pytest.approx(math.sqrt(p - p * p), rel=1e-12)


# ---------------------------------------------------------------------------------------
# sparse


@pytest.mark.parametrize("layout", ["torch", "jax"])
@pytest.mark.parametrize(
    ("options", "expected"), [({}, 15), ({"nonzeros": 7}, 7), ({"sparsity": 0.3}, None)]
)
def test_sparse_exact_count_per_unit(layout, options, expected):
    shape = (40, 30) if layout == "torch" else (30, 40)  # 40 units, 30 inputs each
    w = pn.sample("sparse", shape, seed=2, name="s", layout=layout, dtype="float64", **options)
    per_unit = (w != 0).sum(axis=1 if layout == "torch" else 0)
    if expected is None:
        expected = 30 - math.ceil(0.3 * 30)  # Martens' k from a sparsity fraction: 21
    assert np.all(per_unit == expected)
    assert per_unit.size == 40


def test_sparse_values_and_mask_independent_streams():
    spec = pi.resolve("sparse", (200, 100), std=2.0)
    w = pn.sample(spec, seed=0, name="s", dtype="float64")
    values = w[w != 0]
    assert values.size == 200 * 15
    # non-zero values are N(0, 2^2) (the mask does not select large or small ones)
    assert values.std() == pytest.approx(2.0, rel=6 / math.sqrt(2 * values.size))
    assert abs(values.mean()) < 6 * 2.0 / math.sqrt(values.size)
    # different units have different masks
    masks = {tuple(np.flatnonzero(row)) for row in w}
    assert len(masks) > 190


def test_sparse_nonzeros_may_equal_fan_in():
    w = pn.sample("sparse", (5, 6), seed=0, nonzeros=6, dtype="float64")
    assert np.count_nonzero(w) == 30
