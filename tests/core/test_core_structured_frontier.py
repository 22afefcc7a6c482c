"""Dynamical-isometry inits: delta-orthogonal, conv-orthogonal, random-walk gains, SELU.

Exact structure (centre taps, orthogonality, norm preservation of circular convolution),
registry integration, and the depth behaviour each scheme is designed for, simulated.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, special, stats

import paraminit as pi
import paraminit.numpy as pn
from paraminit import InitError
from paraminit.core.gains import SELU_ALPHA, SELU_LAMBDA
from paraminit.core.schemes import random_walk_gain
from paraminit.core.stream import Stream
from paraminit.core.structured import _symmetric_projection

GRAM_TOL = {"float32": 1e-6, "float64": 1e-12}
NEW = ("delta_orthogonal", "conv_orthogonal", "random_walk", "selu")


def _torch_view(w: np.ndarray, spec: pi.InitSpec) -> np.ndarray:
    """Any layout -> (out, in, *taps)."""
    p = spec.params
    return np.moveaxis(w, [p["out_axis"], p["in_axis"], *p["spatial_axes"]],
                       list(range(w.ndim)))


# ---------------------------------------------------------------------------------------
# delta-orthogonal


@pytest.mark.parametrize("center", ["jax", "torch"])
@pytest.mark.parametrize("kernel", [(1,), (3,), (4,), (2, 2), (3, 4), (5, 5), (2, 3, 4)])
def test_delta_orthogonal_centre_tap_positions(kernel, center):
    shape = (6, 4, *kernel)
    w = pn.sample("delta_orthogonal", shape, seed=0, name="d", dtype="float64", center=center)
    expected = tuple((k - 1) // 2 if center == "jax" else k // 2 for k in kernel)
    nonzero_taps = {tuple(int(i) for i in tap) for tap in np.argwhere(np.any(w != 0, axis=(0, 1)))}
    assert nonzero_taps == {expected}
    spec = pi.resolve("delta_orthogonal", shape, center=center)
    assert tuple(spec.params["centre"]) == expected


def test_delta_orthogonal_even_kernel_conventions_differ_as_documented():
    # k = 4: JAX/TF (k-1)//2 = 1, torch's dirac_ k//2 = 2
    jax = pi.resolve("delta_orthogonal", (8, 8, 4, 4))
    torch = pi.resolve("delta_orthogonal", (8, 8, 4, 4), center="torch")
    assert jax.params["centre"] == [1, 1] and torch.params["centre"] == [2, 2]
    dirac = pn.sample("dirac", (8, 8, 4, 4), seed=0, dtype="float64")
    assert np.argwhere(dirac[0, 0] == 1).tolist() == [[2, 2]]
    # the same H, moved to the other tap
    a = pn.sample(jax, seed=5, name="w", dtype="float64")
    b = pn.sample(torch, seed=5, name="w", dtype="float64")
    np.testing.assert_array_equal(a[:, :, 1, 1], b[:, :, 2, 2])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("gain", [1.0, 2.5])
@pytest.mark.parametrize(("shape", "layout"), [
    ((64, 32, 3, 3), "torch"), ((32, 32, 5), "torch"), ((16, 8, 3, 3, 3), "torch"),
    ((3, 3, 32, 64), "jax"), ((5, 16, 16), "jax"), ((48, 20), "torch"),
])
def test_delta_orthogonal_centre_is_orthogonal_and_rest_is_zero(shape, layout, gain, dtype):
    spec = pi.resolve("delta_orthogonal", shape, layout=layout, gain=gain)
    w = pn.sample(spec, seed=11, name="conv.weight", dtype=dtype)
    assert w.shape == shape and w.dtype == np.dtype(dtype)
    view = _torch_view(w.astype(np.float64), spec)
    centre = (slice(None), slice(None), *spec.params["centre"])
    h = view[centre]
    assert h.shape == (spec.params["out_channels"], spec.params["in_channels"])
    error = np.abs(h.T @ h - gain**2 * np.eye(h.shape[1])).max() / gain**2
    assert error < GRAM_TOL[dtype]
    rest = view.copy()
    rest[centre] = 0.0
    assert not rest.any()
    assert np.sqrt(np.mean(view**2)) == pytest.approx(spec.std, rel=1e-6)


def test_delta_orthogonal_layouts_give_the_same_operator():
    torch_w = pn.sample("delta_orthogonal", (32, 16, 3, 3), seed=2, name="c", dtype="float64")
    jax_w = pn.sample("delta_orthogonal", (3, 3, 16, 32), seed=2, name="c", dtype="float64",
                      layout="jax")
    np.testing.assert_array_equal(np.transpose(jax_w, (3, 2, 0, 1)), torch_w)


def test_delta_orthogonal_errors():
    with pytest.raises(InitError, match=r"out-channels >= in-channels .*out=16.*in=32"):
        pi.resolve("delta_orthogonal", (16, 32, 3, 3))
    with pytest.raises(InitError, match=r"center must be one of 'jax', 'torch'; received 'tf'"):
        pi.resolve("delta_orthogonal", (16, 16, 3), center="tf")
    with pytest.raises(InitError, match="groups=2"):
        pi.resolve("delta_orthogonal", (16, 8, 3, 3), groups=2)
    with pytest.raises(InitError, match="2-D to 5-D"):
        pi.resolve("delta_orthogonal", (4, 4, 2, 2, 2, 2))
    with pytest.raises(InitError, match="2-D to 5-D"):
        pi.resolve("conv_orthogonal", (4,))
    with pytest.raises(InitError, match="must be sampled whole"):
        pn.sample_elements(pi.resolve("delta_orthogonal", (8, 8, 3)), seed=0)


# ---------------------------------------------------------------------------------------
# conv-orthogonal: circular convolution is gain x an isometry


def _circular_conv(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """torch's conv (cross-correlation) with circular padding: y[o, t] = sum W[o,i,k] x[i,t+k]."""
    taps = w.shape[2:]
    axes = tuple(range(1, x.ndim))
    y = np.zeros((w.shape[0], *x.shape[1:]))
    for tap in itertools.product(*(range(k) for k in taps)):
        shifted = np.roll(x, tuple(-t for t in tap), axis=axes)
        y += np.tensordot(w[(slice(None), slice(None), *tap)], shifted, axes=(1, 0))
    return y


def _operator(w: np.ndarray, grid: tuple[int, ...]) -> np.ndarray:
    """The matrix of x -> circular_conv(w, x) on inputs of shape (in, *grid)."""
    in_channels = w.shape[1]
    size = in_channels * math.prod(grid)
    columns = [_circular_conv(w, e.reshape(in_channels, *grid)).ravel() for e in np.eye(size)]
    return np.stack(columns, axis=1)


CONV_CASES = [
    ((6, 4, 3), (7,)),  # 1-D
    ((5, 5, 4), (6,)),  # even kernel, square
    ((5, 3, 3, 3), (5, 6)),  # 2-D
    ((4, 4, 2, 3), (4, 5)),  # 2-D, unequal kernel sizes
    ((4, 3, 2, 3, 2), (4, 4, 3)),  # 3-D
    ((6, 4, 3), (2,)),  # grid smaller than the kernel: taps alias, still an isometry
]


@pytest.mark.parametrize("gain", [1.0, 0.7])
@pytest.mark.parametrize(("shape", "grid"), CONV_CASES)
def test_conv_orthogonal_circular_convolution_is_an_isometry(shape, grid, gain):
    w = pn.sample("conv_orthogonal", shape, seed=3, name="conv.weight", dtype="float64",
                  gain=gain)
    operator = _operator(w, grid)
    singular = np.linalg.svd(operator, compute_uv=False)
    np.testing.assert_allclose(singular, gain, rtol=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((shape[1], *grid))
        ratio = np.linalg.norm(_circular_conv(w, x)) / np.linalg.norm(x)
        assert ratio == pytest.approx(gain, rel=1e-6)


def test_conv_orthogonal_is_not_a_delta_kernel():
    w = pn.sample("conv_orthogonal", (16, 16, 3, 3), seed=0, name="c", dtype="float64")
    energy = (w**2).sum(axis=(0, 1))
    assert np.count_nonzero(energy > 1e-3) > 1  # spread over taps, unlike delta
    assert energy.sum() == pytest.approx(16.0, rel=1e-12)  # gain^2 * in, exactly


def test_conv_orthogonal_jax_layout_is_the_same_operator():
    torch_w = pn.sample("conv_orthogonal", (8, 4, 3, 3), seed=1, name="c", dtype="float64")
    jax_w = pn.sample("conv_orthogonal", (3, 3, 4, 8), seed=1, name="c", dtype="float64",
                      layout="jax")
    np.testing.assert_array_equal(np.transpose(jax_w, (3, 2, 0, 1)), torch_w)


def test_conv_orthogonal_with_one_tap_is_delta_orthogonal():
    for shape in [(8, 4, 1, 1), (8, 4)]:
        a = pn.sample("conv_orthogonal", shape, seed=4, name="w", dtype="float64")
        b = pn.sample("delta_orthogonal", shape, seed=4, name="w", dtype="float64")
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)


def test_symmetric_projections_are_projections():
    ranks = []
    for j in range(40):
        p = _symmetric_projection(Stream(0, "w", f"conv_orthogonal/projection/{j}"), 8)
        np.testing.assert_allclose(p, p.T, atol=1e-14)
        np.testing.assert_allclose(p @ p, p, atol=1e-13)
        ranks.append(round(float(np.trace(p))))
    # rank ~ Binomial(8, 1/2): mean 4, sd sqrt(2); 40 draws -> sd of the mean 0.22
    assert abs(np.mean(ranks) - 4.0) < 5 * math.sqrt(2 / 40)


@pytest.mark.parametrize("scheme", ["delta_orthogonal", "conv_orthogonal"])
def test_values_are_a_pure_function_of_seed_and_name(scheme):
    a = pn.sample(scheme, (8, 8, 3, 3), seed=7, name="a", dtype="float64")
    again = pn.sample(scheme, (8, 8, 3, 3), seed=7, name="a", dtype="float64")
    other_name = pn.sample(scheme, (8, 8, 3, 3), seed=7, name="b", dtype="float64")
    other_seed = pn.sample(scheme, (8, 8, 3, 3), seed=8, name="a", dtype="float64")
    np.testing.assert_array_equal(a, again)
    assert not np.array_equal(a, other_name) and not np.array_equal(a, other_seed)


def test_conv_orthogonal_errors():
    with pytest.raises(InitError, match="out-channels >= in-channels"):
        pi.resolve("conv_orthogonal", (4, 8, 3, 3))
    with pytest.raises(InitError, match="out-channels >= in-channels"):
        pi.resolve("conv_orthogonal", (3, 3, 8, 4), layout="jax")


# ---------------------------------------------------------------------------------------
# random-walk gains (Sussillo & Abbott 2014)


def test_random_walk_gain_values():
    assert random_walk_gain("linear", 100) == math.exp(1 / 200)
    assert random_walk_gain("relu", 100) == math.sqrt(2) * math.exp(1.2 / 97.6)
    assert random_walk_gain("relu", 3) == math.sqrt(2) * math.exp(1.2 / 3.6)  # max(N, 6)
    assert random_walk_gain("relu", 100) == pytest.approx(1.4317087661298527, rel=1e-15)
    spec = pi.resolve("random_walk", (256, 64, 3, 3), nonlinearity="relu")
    n = 64 * 9
    assert spec.distribution == "normal" and spec.mode == "fan_in"
    assert spec.std == pytest.approx(random_walk_gain("relu", n) / math.sqrt(n), rel=1e-15)
    assert spec.gain == random_walk_gain("relu", n)
    assert pi.resolve("random_walk", (50, 50)).std == pytest.approx(
        math.exp(1 / 100) / math.sqrt(50), rel=1e-15)
    with pytest.raises(InitError, match="nonlinearity must be one of 'linear', 'relu'"):
        pi.resolve("random_walk", (8, 8), nonlinearity="tanh")


def _mean_log_step(gain: float, width: int, nonlinearity: str) -> float:
    """E ln(|z_{l+1}|^2 / |z_l|^2) = 2 ln g + ln(2/N) + E[psi(M/2)] (M = units passed on)."""
    if nonlinearity == "linear":
        return 2 * math.log(gain) + math.log(2 / width) + special.digamma(width / 2)
    m = np.arange(1, width + 1)  # M = 0 (a dead layer, probability 2^-N) left out
    p = stats.binom.pmf(m, width, 0.5)
    return 2 * math.log(gain) + math.log(2 / width) + float(
        (p * special.digamma(m / 2)).sum() / p.sum())


@pytest.mark.parametrize("width", [10, 20, 50, 100, 500])
def test_random_walk_gains_cancel_the_drift_analytically(width):
    for nonlinearity, naive in (("linear", 1.0), ("relu", math.sqrt(2))):
        g = random_walk_gain(nonlinearity, width)
        residual = _mean_log_step(g, width, nonlinearity)
        assert abs(residual) < 0.05 * abs(_mean_log_step(naive, width, nonlinearity))


@pytest.mark.slow
@pytest.mark.parametrize(("nonlinearity", "width", "chains", "depth"), [
    ("linear", 10, 32, 120), ("relu", 50, 32, 100)])
def test_random_walk_simulated_drift_is_zero(nonlinearity, width, chains, depth):
    """Log-norm steps through deep random nets whose weights are the scheme's own samples."""
    rng = np.random.default_rng(0)
    steps = np.empty((chains, depth))
    for chain in range(chains):
        z = rng.standard_normal(width)
        for layer in range(depth):
            w = pn.sample("random_walk", (width, width), seed=0, name=f"{chain}.{layer}",
                          dtype="float64", nonlinearity=nonlinearity)
            a = np.maximum(z, 0.0) if nonlinearity == "relu" else z
            nz = w @ a
            steps[chain, layer] = math.log(nz @ nz / (z @ z))
            z = nz / math.sqrt(nz @ nz / width)
    drift, se = steps.mean(), steps.std() / math.sqrt(steps.size)
    assert abs(drift) < 4 * se
    # a naive gain (1 linear, sqrt(2) ReLU) shifts every step by 2 ln(naive / g): many SEs
    naive = 1.0 if nonlinearity == "linear" else math.sqrt(2)
    shift = 2 * math.log(naive / random_walk_gain(nonlinearity, width))
    assert drift + shift < -8 * se


# ---------------------------------------------------------------------------------------
# SELU / LeCun normal (Klambauer et al. 2017)


def _selu(x: np.ndarray) -> np.ndarray:
    return SELU_LAMBDA * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))


def test_selu_constants_are_the_unit_fixed_point():
    # lambda_01, alpha_01 solve E[selu(z)] = 0, E[selu(z)^2] = 1 for z ~ N(0, 1)
    # (Klambauer et al. 2017, Eq. 14): the fixed point (mean, var) = (0, 1).
    def moment(power: int) -> float:
        def integrand(z: float) -> float:
            return float(_selu(np.array(z))) ** power * math.exp(-z * z / 2) / math.sqrt(
                2 * math.pi)
        return integrate.quad(integrand, -np.inf, 0)[0] + integrate.quad(integrand, 0, np.inf)[0]

    assert abs(moment(1)) < 1e-12
    assert moment(2) == pytest.approx(1.0, abs=1e-12)
    assert SELU_LAMBDA == 1.0507009873554805 and SELU_ALPHA == 1.6732632423543772


@pytest.mark.slow
def test_selu_keeps_mean_zero_and_variance_one_through_32_layers():
    # The law N(0, spec.std^2) is checked (KS) by the registry sweep; here the weights are
    # drawn with NumPy's generator at that std, 30x faster than 32 Philox megasamples.
    width, batch = 1000, 128
    spec = pi.resolve("selu", (width, width))
    rng = np.random.default_rng(1)
    h = rng.standard_normal((width, batch))
    for _ in range(32):
        h = _selu(spec.std * rng.standard_normal((width, width)) @ h)
    assert abs(h.mean()) < 0.05
    assert h.var() == pytest.approx(1.0, abs=0.05)


def test_selu_is_lecun_normal_values():
    np.testing.assert_array_equal(pn.sample("selu", (64, 32), seed=3, name="w"),
                                  pn.sample("lecun_normal", (64, 32), seed=3, name="w"))
    spec = pi.resolve("selu", (64, 32))
    assert spec.std == pi.resolve("lecun_normal", (64, 32)).std
    assert spec.std == pytest.approx(1 / math.sqrt(32), rel=1e-15)
    assert any("1.0507009873554805" in note and "1.6732632423543772" in note
               for note in spec.notes)


# ---------------------------------------------------------------------------------------
# registry integration


CITATIONS = {
    "delta_orthogonal": ("Xiao", "2018", "Algorithm 2"),
    "conv_orthogonal": ("Xiao", "2018", "Algorithm 1"),
    "random_walk": ("Sussillo", "2014"),
    "selu": ("Klambauer", "2017"),
}


@pytest.mark.parametrize("name", NEW)
def test_registry_integration(name):
    assert name in [s.name for s in pi.schemes()]
    scheme = pi.get_scheme(name)
    spec = pi.resolve(name, scheme.probe_shape)
    text = spec.explain()
    for word in CITATIONS[name]:
        assert word in text
    json.dumps(spec.to_dict(), allow_nan=False)
    w = getattr(pn, name)()(0, scheme.probe_shape, "float64", name="x")
    np.testing.assert_array_equal(
        w, pn.sample(name, scheme.probe_shape, seed=0, name="x", dtype="float64"))
    pi.core.schemes.validate(name, {})


@given(rows=st.integers(1, 6), cols=st.integers(1, 12), data=st.data())
def test_smallest_k_equals_a_stable_argsort_with_ties(rows, cols, data):
    from paraminit.core.engines import compiled, reference

    k = data.draw(st.integers(1, cols))
    # few distinct keys, so ties at the k-th place are common
    keys = np.array(data.draw(st.lists(st.integers(0, 3), min_size=rows * cols,
                                       max_size=rows * cols)), dtype=float).reshape(rows, cols)
    expected = np.zeros(keys.shape, dtype=bool)
    np.put_along_axis(expected, np.argsort(keys, axis=1, kind="stable")[:, :k], True, axis=1)
    np.testing.assert_array_equal(reference.smallest_k(keys, k), expected)
    np.testing.assert_array_equal(compiled.smallest_k(keys, k), expected)
