"""The NumPy reference backend: sample(), sample_elements() and the JAX-style factories."""

from __future__ import annotations

import numpy as np
import pytest

import paraminit as pi
import paraminit.numpy as pn
from paraminit import InitError


def _probe(name: str) -> tuple[int, ...]:
    return pi.get_scheme(name).probe_shape if name != "sparse" else (64, 32)


ALL_NAMES = sorted([*pi.REGISTRY, *pi.ALIASES])


@pytest.mark.parametrize("name", ALL_NAMES)
def test_factory_for_every_scheme_and_alias(name):
    make = getattr(pn, name)
    init = make()
    assert callable(init)
    assert init.__name__ == name
    assert pi.get_scheme(name).summary in init.__doc__
    shape = (8, 8, 3, 3) if pi.get_scheme(name).name == "dirac" else (24, 20)
    w = init(0, shape, "float32", name="layer.weight")
    assert w.shape == shape and w.dtype == np.float32
    np.testing.assert_array_equal(
        w, pn.sample(name, shape, seed=0, name="layer.weight", dtype="float32"))
    assert name in dir(pn)


def test_factory_passes_options_and_positional_signature():
    init = pn.he_normal(mode="fan_out", nonlinearity="leaky_relu", slope=0.1)
    w = init(7, (64, 32), "float64", name="fc")
    expected = pn.sample("he_normal", (64, 32), seed=7, name="fc", dtype="float64",
                         mode="fan_out", nonlinearity="leaky_relu", slope=0.1)
    np.testing.assert_array_equal(w, expected)
    assert init(7, (64, 32)).dtype == np.float32  # default dtype


def test_factory_layout_is_bound_at_factory_time():
    init = pn.lecun_normal(layout="jax")
    a = init(0, (100, 50), name="k")
    b = pn.sample("lecun_normal", (100, 50), seed=0, name="k", layout="jax")
    np.testing.assert_array_equal(a, b)


def test_factory_accepts_fan_options():
    init = pn.dirac(groups=2)
    w = init(0, (8, 4, 3, 3), "float64")
    assert w.sum() == 8
    init = pn.he_normal(groups=4)
    np.testing.assert_array_equal(
        init(0, (16, 4, 3, 3)), pn.sample("he_normal", (16, 4, 3, 3), seed=0, groups=4))


def test_factory_with_layout_option_is_honoured_or_rejected_eagerly():
    # layout is one of resolve()'s options, so factory(..., layout="jax") either applies it
    # or refuses it at the factory call (DESIGN §4: validate eagerly) -- never a TypeError
    # at the first call.
    try:
        init = pn.factory("he_normal", layout="jax")
    except InitError:
        return
    w = init(0, (8, 3))
    np.testing.assert_array_equal(w, pn.sample("he_normal", (8, 3), seed=0, layout="jax"))


@pytest.mark.parametrize("scheme", ["he_normal", "xavier_normal", "normal", "orthogonal",
                                    "sparse", "lecun_normal"])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_unbounded_laws_are_cast_once_from_float64(scheme, dtype):
    wide = pn.sample(scheme, (64, 32), seed=3, name="w", dtype="float64")
    narrow = pn.sample(scheme, (64, 32), seed=3, name="w", dtype=dtype)
    np.testing.assert_array_equal(narrow, wide.astype(dtype))


@pytest.mark.parametrize("scheme", ["he_uniform", "truncated_normal", "xavier_uniform"])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_bounded_laws_are_cast_once_then_clipped_inward(scheme, dtype):
    spec = pi.resolve(scheme, (64, 32))
    wide = pn.sample(spec, seed=3, name="w", dtype="float64")
    narrow = pn.sample(spec, seed=3, name="w", dtype=dtype)
    cast = wide.astype(dtype)
    low, high = spec.bounds
    changed = narrow != cast
    # only values whose rounding crossed a bound move, and only onto the inward bound
    assert np.all((cast[changed].astype(np.float64) < low) | (cast[changed] > high))
    assert narrow.astype(np.float64).min() >= low and narrow.astype(np.float64).max() <= high


def test_dtype_spellings():
    for dtype in ("float32", np.float32, np.dtype("float32"), "f4"):
        assert pn.sample("he_normal", (4, 4), seed=0, dtype=dtype).dtype == np.float32
    assert pn.sample("he_normal", (4, 4), seed=0).dtype == np.float32  # default


def test_fan_options_reach_resolve():
    w = pn.sample("he_normal", (64, 32, 4, 4), seed=0, transposed=True, dtype="float64")
    spec = pi.resolve("he_normal", (64, 32, 4, 4), transposed=True)
    assert spec.std == pytest.approx((2 / 1024) ** 0.5)
    np.testing.assert_array_equal(w, pn.sample(spec, seed=0, dtype="float64"))


def test_layout_changes_values_only_through_the_spec_and_the_element_order():
    # same seed and name: the (in, out) jax kernel of a (1024 -> 512) layer is the torch
    # (out, in) weight transposed (the canonical element order); a conv kernel likewise
    torch_w = pn.sample("he_normal", (512, 1024), seed=0, name="w", dtype="float64")
    jax_w = pn.sample("he_normal", (1024, 512), seed=0, name="w", dtype="float64",
                      layout="jax")
    np.testing.assert_array_equal(jax_w, torch_w.T)
    torch_c = pn.sample("he_normal", (8, 4, 3, 5), seed=0, name="c", dtype="float64")
    jax_c = pn.sample("he_normal", (3, 5, 4, 8), seed=0, name="c", dtype="float64",
                      layout="jax")
    np.testing.assert_array_equal(jax_c, np.transpose(torch_c, (2, 3, 1, 0)))


def test_sample_elements_matches_sample_for_every_elementwise_scheme():
    for scheme in pi.schemes():
        if scheme.family == "structured":
            continue
        spec = pi.resolve(scheme.name, (17, 11))
        whole = pn.sample(spec, seed=1, name="e").ravel()
        np.testing.assert_array_equal(
            pn.sample_elements(spec, seed=1, name="e", start=3, stop=150), whole[3:150])


def test_empty_tensors():
    assert pn.sample("zeros", (0, 4), seed=0).shape == (0, 4)
    assert pn.sample("normal", (0,), seed=0).shape == (0,)
    spec = pi.resolve("he_normal", (4, 4))
    assert pn.sample_elements(spec, seed=0, start=4, stop=4).shape == (0,)


def test_scalar_and_large_index_shapes():
    assert pn.sample("normal", (), seed=0).shape == ()
    spec = pi.resolve("normal", (3, 5, 7))
    w = pn.sample(spec, seed=0, name="cube", dtype="float64")
    np.testing.assert_array_equal(
        w[2, 4, 6], pn.sample_elements(spec, seed=0, name="cube", start=104, stop=105,
                                       dtype="float64")[0])
