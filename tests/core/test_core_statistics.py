"""Registry-driven statistics: every scheme x shapes x dtypes x layouts.

Tolerances come from the sample size: the sample mean of n iid values has sd sigma/sqrt(n);
the sample std has relative sd sqrt((kurtosis - 1) / (4 n)) <= 1/sqrt(2 n) for the laws
here (kurtosis <= 3). Z = 6 keeps a sweep of a few hundred fixed-seed cases far from a
false alarm while a wrong std (even by 5%) still fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import paraminit as pi
import paraminit.numpy as pn
from paraminit.core.engines import ELEMENTWISE

Z = 6.0
DTYPES = ("float16", "float32", "float64")
# float16 keeps 11 significant bits: each value moves by <= 2^-11 relative when cast
DTYPE_RTOL = {"float16": 2.0**-10, "float32": 2.0**-22, "float64": 1e-13}
SHAPES = {
    "torch": [(96, 80), (32, 16, 3, 3), (24, 12, 5)],
    "jax": [(80, 96), (3, 3, 16, 32), (5, 12, 24)],
}
_RANK = {"identity": (2, 2), "sparse": (2, 2), "dirac": (3, 5)}


def _cases():
    for scheme in pi.schemes():
        low, high = _RANK.get(scheme.name, (2, 8))
        for layout, shapes in SHAPES.items():
            for shape in shapes:
                if low <= len(shape) <= high:
                    yield pytest.param(scheme.name, shape, layout,
                                       id=f"{scheme.name}-{layout}-{'x'.join(map(str, shape))}")


def _moments(w: np.ndarray) -> tuple[float, float, float]:
    x = w.astype(np.float64)
    return float(x.mean()), float(x.std()), float(np.sqrt(np.mean(x * x)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("scheme", "shape", "layout"), list(_cases()))
def test_moments_match_spec(scheme, shape, layout, dtype):
    spec = pi.resolve(scheme, shape, layout=layout)
    w = pn.sample(spec, seed=2024, name=f"{scheme}.weight", dtype=dtype)
    assert w.shape == tuple(shape) and w.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(w))
    n = w.size
    mean, std, rms = _moments(w)
    rtol = DTYPE_RTOL[dtype]
    kind = spec.distribution
    if kind == "constant":
        assert np.all(w == np.asarray(spec.mean, dtype=dtype))
        assert spec.std == 0.0
    elif kind in ELEMENTWISE:  # random element-wise laws
        sigma = spec.std
        assert abs(mean - spec.mean) <= Z * sigma / math.sqrt(n) + rtol * abs(spec.mean)
        assert abs(std - sigma) <= sigma * (Z / math.sqrt(2 * n) + rtol)
    elif kind in ("orthogonal", "delta_orthogonal", "conv_orthogonal"):
        # sum of squares of a semi-orthogonal matrix (or isometric kernel) is exact
        assert rms == pytest.approx(spec.std, rel=10 * rtol)
        assert abs(mean - spec.mean) <= Z * spec.std / math.sqrt(n)
    elif kind == "sparse":
        nonzeros = spec.params["nonzeros"] * shape[spec.params["out_axis"]]
        assert np.count_nonzero(w) == nonzeros
        assert abs(mean) <= Z * spec.std / math.sqrt(n)
        assert abs(rms - spec.std) <= spec.std * (Z / math.sqrt(2 * nonzeros) + rtol)
    else:  # deterministic structured inits: the moments are exact
        assert kind in ("identity", "dirac", "identity_hadamard")
        assert mean == pytest.approx(spec.mean, rel=rtol, abs=1e-15)
        assert std == pytest.approx(spec.std, rel=rtol, abs=1e-15)


# ---------------------------------------------------------------------------------------
# KS tests of every element-wise law against scipy's distribution


def _law_cases():
    shape = (256, 200)  # n = 51200
    for scheme in pi.schemes():
        if scheme.family == "structured":
            continue
        spec = pi.resolve(scheme.name, shape)
        if spec.distribution in ("uniform", "normal", "truncated_normal"):
            yield pytest.param(scheme.name, {}, id=scheme.name)
        if "distribution" in scheme.defaults:
            for dist in ("normal", "truncated_normal", "uniform"):
                try:
                    pi.resolve(scheme.name, shape, distribution=dist)
                except pi.InitError:
                    continue
                if dist != scheme.defaults["distribution"]:
                    yield pytest.param(scheme.name, {"distribution": dist},
                                       id=f"{scheme.name}-{dist}")
    yield pytest.param("truncated_normal", {"mean": 0.3, "std": 2.0, "truncate": 1.0},
                       id="truncated_normal-1sigma")
    yield pytest.param("truncated_normal", {"truncate": 3.0}, id="truncated_normal-3sigma")
    yield pytest.param("uniform", {"low": -0.5, "high": 2.0}, id="uniform-asymmetric")


def _reference_law(spec: pi.InitSpec):
    if spec.distribution == "normal":
        return stats.norm(loc=spec.mean, scale=spec.std)
    if spec.distribution == "uniform":
        return stats.uniform(loc=spec.mean - spec.bound, scale=2 * spec.bound)
    # parent std derived independently of spec.parent_std: result std / std of N(0,1)
    # truncated to the same interval
    low, high = spec.truncation
    parent = spec.std / stats.truncnorm.std(low, high)
    assert spec.parent_std == pytest.approx(parent, rel=1e-12)
    return stats.truncnorm(low, high, loc=spec.mean, scale=parent)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("scheme", "options"), list(_law_cases()))
def test_ks_against_reference_distribution(scheme, options, dtype):
    spec = pi.resolve(scheme, (256, 200), **options)
    w = pn.sample(spec, seed=77, name="ks.weight", dtype=dtype).astype(np.float64).ravel()
    result = stats.kstest(w, _reference_law(spec).cdf)
    assert result.pvalue > 1e-3, (spec.describe(), result)


def test_ks_detects_a_wrong_std():
    # the test has power: a 3% error in std on 51200 samples is caught
    spec = pi.resolve("he_normal", (256, 200))
    w = pn.sample(spec, seed=77, name="ks.weight", dtype="float64").ravel()
    assert stats.kstest(w, stats.norm(scale=1.03 * spec.std).cdf).pvalue < 1e-3


# ---------------------------------------------------------------------------------------
# bounded laws never leave their bounds, in any dtype


def _bounded_cases():
    yield "uniform", {}, (512, 512)
    yield "uniform", {"low": 0.1, "high": 0.3}, (512, 512)
    yield "he_uniform", {}, (512, 512)
    yield "xavier_uniform", {}, (1024, 512)
    yield "lecun_uniform", {}, (512, 512)
    yield "fixed_variance_uniform", {}, (512, 512)
    yield "truncated_normal", {}, (512, 512)
    yield "truncated_normal", {"mean": 1.0, "std": 0.5, "truncate": 0.5}, (512, 512)
    yield "he_normal", {"distribution": "truncated_normal"}, (3, 3, 128, 256)
    yield "variance_scaling", {}, (512, 512)
    yield "variance_scaling", {"distribution": "uniform", "scale": 3.0}, (512, 512)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("scheme", "options", "shape"), list(_bounded_cases()))
def test_bounded_laws_stay_in_bounds(scheme, options, shape, dtype):
    layout = "jax" if len(shape) == 4 and shape[0] == 3 else "torch"
    spec = pi.resolve(scheme, shape, layout=layout, **options)
    low, high = spec.bounds
    w = pn.sample(spec, seed=1, name="bounded", dtype=dtype).astype(np.float64)
    assert w.min() >= low and w.max() <= high
    # and the values fill the interval (no collapse onto a few values in the middle)
    width = high - low
    assert w.min() < low + 0.01 * width and w.max() > high - 0.01 * width
    # no mass piled up on the bounds by clipping: far less than 1% on either bound
    assert np.mean(w == w.min()) < 0.01 and np.mean(w == w.max()) < 0.01


@pytest.mark.parametrize("low, high", [(38.5, 39.0), (-39.0, -38.5), (8.0, np.inf),
                                       (-3.0, 10.0), (35.0, 36.0), (-1000.0, -999.0)])
def test_truncated_normal_deep_in_a_tail_keeps_its_law(low, high):
    # Phi underflows beyond about -38: the sampler works in log space, so the values spread
    # over the interval with the truncated law instead of collapsing onto one bound.
    from paraminit.core.engines.law import truncated_law
    from paraminit.core.engines.reference import from_uniform
    u = (np.arange(4000) + 0.5) / 4000
    x = from_uniform(truncated_law(0.0, 1.0, low, high), u)
    assert np.all((x >= low) & (x <= high))
    # An interval right of 0 is sampled on its mirror image (law.py), so u maps to 1 - u.
    expected = stats.truncnorm.ppf(u if low < 0 else 1.0 - u, low, high)
    np.testing.assert_allclose(x, expected, rtol=1e-9)
