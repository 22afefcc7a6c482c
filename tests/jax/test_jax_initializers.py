"""paraminit.jax: the same laws as jax.nn.initializers, paraminit's stream, jax.numpy engine."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import stats

import paraminit as pi
import paraminit.numpy as pn
from paraminit import InitError

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import paraminit.jax as pij  # noqa: E402
from paraminit.core.engines import prepare  # noqa: E402
from paraminit.core.engines.jax_engine import element_values  # noqa: E402
from paraminit.core.stream import Stream  # noqa: E402

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")
KEY = jax.random.key(0)
# (name, factory options) shared with jax.nn.initializers, and the shapes both read.
SHARED = ["glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal",
          "lecun_uniform", "xavier_normal", "xavier_uniform", "kaiming_normal",
          "kaiming_uniform"]
SHAPES = [(512, 256), (3, 3, 32, 64), (5, 40, 30)]


def _words(seed: int, name: str) -> jnp.ndarray:
    stream = Stream(seed, name)
    return jnp.array([*stream.key, *stream.tag], dtype=jnp.uint32)


def _jax_values(spec, dtype):
    law, name, clip = prepare(spec, dtype)
    return np.asarray(jax.jit(lambda w: element_values(
        law, name, clip, tuple(w), spec.shape, spec.element_order))(_words(7, "w")))


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("scheme, options", [
    ("he_normal", {}), ("xavier_uniform", {}), ("normal", {"std": 0.3}),
    ("uniform", {"low": -2.0, "high": 2.0}), ("constant", {"value": 0.25})])
@pytest.mark.parametrize("layout, shape", [("torch", (33, 17)), ("jax", (3, 5, 7, 9))])
def test_engine_equals_the_reference_bit_for_bit(dtype, scheme, options, layout, shape):
    spec = pi.resolve(scheme, shape, layout=layout, **options)
    expected = pn.sample(spec, seed=7, name="w", dtype=dtype)
    got = _jax_values(spec, dtype)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))


def test_engine_off_centre_uniform_float64_to_the_last_bit():
    # mean + bound (2u - 1) with mean != 0: XLA may reassociate the constants (docs/jax.md)
    spec = pi.resolve("uniform", (33, 17), low=-2.0, high=5.0)
    exact = pn.sample(spec, seed=7, name="w", dtype="float64")
    assert np.abs(_jax_values(spec, "float64") - exact).max() <= 4 * 2.0**-52 * 5.0
    np.testing.assert_array_equal(_jax_values(spec, "float32"),
                                  pn.sample(spec, seed=7, name="w", dtype="float32"))


def test_engine_bfloat16_is_float32_cast_once():
    spec = pi.resolve("he_normal", (64, 48))
    single = _jax_values(spec, "float32")
    half = _jax_values(spec, "bfloat16")
    np.testing.assert_array_equal(half, single.astype(jnp.bfloat16))


@pytest.mark.parametrize("options", [{}, {"truncate": 0.3}, {"truncate": 3.0}])
def test_engine_truncated_normal_is_the_reference_to_the_last_bit(options):
    # XLA reassociates float constants in the inverse CDF (docs/jax.md): float64 values
    # may differ from the reference by one ulp, and float32 rarely by one float32 ulp
    spec = pi.resolve("truncated_normal", (200, 100), **options)
    exact = pn.sample(spec, seed=7, name="w", dtype="float64")
    got = _jax_values(spec, "float64")
    # within a few float64 ulps of the law's scale (near 0 the inverse CDF cancels)
    assert np.abs(got - exact).max() <= 16 * 2.0**-52 * spec.parent_std
    single = _jax_values(spec, "float32")
    expected = pn.sample(spec, seed=7, name="w", dtype="float32")
    assert (single != expected).mean() < 1e-3
    np.testing.assert_array_less(np.abs(single - expected),
                                 1.01 * np.spacing(np.abs(expected)))
    assert np.abs(single).max() <= spec.bounds[1]


@pytest.mark.parametrize("name", SHARED)
@pytest.mark.parametrize("shape", SHAPES)
def test_laws_match_jax_nn_initializers(name, shape):
    ours = np.asarray(getattr(pij, name)()(KEY, shape), dtype=np.float64).ravel()
    theirs = np.asarray(getattr(jax.nn.initializers, name)()(KEY, shape),
                        dtype=np.float64).ravel()
    n = ours.size
    # same std within 5 standard errors of a sample std (sd(s)/s ~ sqrt(1 / (2n)) for a
    # normal, about the same for these laws), same support, and the same law (two-sample KS)
    assert abs(ours.std() / theirs.std() - 1) < 5 * math.sqrt(2.0 / n)
    assert np.abs(ours).max() <= np.abs(theirs).max() * (1 + 5 / math.sqrt(n)) + 1e-7
    assert stats.ks_2samp(ours, theirs).pvalue > 1e-4


@pytest.mark.parametrize("make, reference", [
    (lambda: pij.normal(0.3), lambda: jax.nn.initializers.normal(0.3)),
    (lambda: pij.uniform(0.5), lambda: jax.nn.initializers.uniform(0.5)),
    (lambda: pij.truncated_normal(0.2), lambda: jax.nn.initializers.truncated_normal(0.2)),
    (lambda: pij.truncated_normal(1.0, lower=-1.0, upper=3.0),
     lambda: jax.nn.initializers.truncated_normal(1.0, lower=-1.0, upper=3.0)),
    (lambda: pij.variance_scaling(3.0, "fan_geo_avg", "normal"),
     lambda: jax.nn.initializers.variance_scaling(3.0, "fan_geo_avg", "normal")),
    (lambda: pij.variance_scaling(1.0, "fan_out", "uniform", in_axis=0, out_axis=2,
                                  batch_axis=1),
     lambda: jax.nn.initializers.variance_scaling(1.0, "fan_out", "uniform", in_axis=0,
                                                  out_axis=2, batch_axis=1)),
])
def test_fixed_laws_match_jax(make, reference):
    shape = (60, 20, 50)
    ours = np.asarray(make()(KEY, shape), dtype=np.float64).ravel()
    theirs = np.asarray(reference()(KEY, shape), dtype=np.float64).ravel()
    assert stats.ks_2samp(ours, theirs).pvalue > 1e-4


def test_uniform_is_one_sided_as_jax():
    values = np.asarray(pij.uniform(0.5)(KEY, (10000,)))
    assert values.min() >= 0.0 and values.max() < 0.5


@pytest.mark.parametrize("shape", [(16, 8), (8, 16), (3, 3, 16, 32)])
def test_orthogonal_is_orthogonal_like_jax(shape):
    w = np.asarray(pij.orthogonal(scale=2.0)(KEY, shape), dtype=np.float64)
    theirs = np.asarray(jax.nn.initializers.orthogonal(scale=2.0)(KEY, shape))
    m = w.reshape(-1, shape[-1])
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(m.shape)), atol=1e-5)
    assert w.shape == theirs.shape


def test_delta_orthogonal_has_jax_centre_and_orthogonal_tap():
    w = np.asarray(pij.delta_orthogonal()(KEY, (4, 4, 8, 8)), dtype=np.float64)
    theirs = np.asarray(jax.nn.initializers.delta_orthogonal()(KEY, (4, 4, 8, 8)))
    assert np.flatnonzero(np.abs(w).sum(axis=(2, 3))).tolist() == \
        np.flatnonzero(np.abs(theirs).sum(axis=(2, 3))).tolist() == [5]  # (k-1)//2 = 1
    tap = w[1, 1]
    np.testing.assert_allclose(tap.T @ tap, np.eye(8), atol=1e-6)


def test_zeros_ones_constant():
    np.testing.assert_array_equal(pij.zeros(KEY, (2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(pij.ones(KEY, (2, 3)), np.ones((2, 3)))
    np.testing.assert_array_equal(pij.constant(-1.5)(KEY, (4,)), np.full(4, -1.5))


@pytest.mark.parametrize("call, match", [
    (lambda: pij.he_normal()(KEY, (10,)), "at least 2 dims"),
    (lambda: pij.he_normal()(KEY, (0, 10)), "fan_in"),
    (lambda: pij.variance_scaling(1.0, "fan_inn", "normal"), "mode must be one of"),
    (lambda: pij.variance_scaling(1.0, "fan_in", "cauchy"), "distribution must be one of"),
    (lambda: pij.variance_scaling(-1.0, "fan_in", "normal"), "scale must be > 0"),
    (lambda: pij.he_normal(in_axis=5)(KEY, (3, 4)), "in_axis"),
    (lambda: pij.he_normal(in_axis=(0, -3))(KEY, (3, 4, 5)),
     r"in_axis names an axis twice: \(0, -3\) for shape \(3, 4, 5\); list each axis once"),
    (lambda: pij.he_normal(in_axis=1.0)(KEY, (3, 4)),
     r"in_axis must be an int or a sequence of ints; received 1.0"),
    (lambda: pij.normal(0.0), "stddev must be > 0"),
    (lambda: pij.truncated_normal(1.0, lower=2.0, upper=-2.0), "lower < upper"),
    (lambda: pij.he_normal()(KEY, (4, 4), jnp.int32), "dtype must be one of"),
    (lambda: pij.uniform()(KEY, (4, 4), jnp.complex64), "complex.*variance_scaling"),
    (lambda: pij.orthogonal()(KEY, (4, 4), jnp.complex128), "complex.*variance_scaling"),
    (lambda: pij.normal(1e38)(KEY, (4, 4), jnp.complex64),
     r"values up to 6\.08\d*e\+38 cannot be held by float32"),
    (lambda: pij.normal(1e308)(KEY, (4, 4), jnp.complex128), "values up to inf cannot be held"),
    (lambda: jax.jit(pij.orthogonal(1e6), static_argnums=(1, 2))(KEY, (4, 4), jnp.float16),
     r"values up to 1e\+06 cannot be held by float16"),
    (lambda: pij.factory("identity_hadamard", gain=1e39)(KEY, (4, 4), jnp.bfloat16),
     "cannot be held by bfloat16"),
    (lambda: pij.normal()(KEY, (4, 4), out_sharding=[0, 1]),
     r"out_sharding must be a jax.sharding.Sharding .*received \[0, 1\]"),
    (lambda: pij.he_normal()(0, (4, 4)), "key must be a JAX PRNG key"),
    (lambda: pij.delta_orthogonal()(KEY, (3, 3, 8, 4)), "in <= out"),
])
def test_errors_name_the_argument_and_the_fix(call, match):
    with pytest.raises(InitError, match=match):
        call()


def test_jax_rejects_the_same_1d_shape():
    with pytest.raises((ValueError, IndexError)):
        jax.nn.initializers.he_normal()(KEY, (10,))
    with pytest.raises(InitError, match="at least 2 dims"):
        pij.he_normal()(KEY, (10,))


def test_jit_and_vmap_give_the_eager_values():
    init = pij.he_normal()
    eager = np.asarray(init(KEY, (32, 16)))
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda k: init(k, (32, 16)))(KEY)),
                                  eager)
    keys = jax.random.split(KEY, 3)
    batched = np.asarray(jax.vmap(lambda k: init(k, (32, 16)))(keys))
    for i in range(3):
        np.testing.assert_array_equal(batched[i], np.asarray(init(keys[i], (32, 16))))
    assert not np.array_equal(batched[0], batched[1])


def test_structured_laws_trace_under_jit():
    sparse = pij.factory("sparse", sparsity=0.5)
    eager = np.asarray(sparse(KEY, (16, 8)))
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda k: sparse(k, (16, 8)))(KEY)),
                                  eager)
    assert ((eager != 0).sum(axis=0) == 8).all()  # half of each unit's 16 inputs kept


@pytest.mark.parametrize("scheme", sorted(pi.REGISTRY))
def test_every_scheme_equals_numpy_for_paraminit_keys(scheme):
    entry = pi.get_scheme(scheme)
    shape = {"dirac": (8, 4, 3, 3), "delta_orthogonal": (3, 3, 4, 8),
             "conv_orthogonal": (3, 3, 4, 8), "sparse": (40, 30),
             "identity": (6, 6)}.get(scheme, (24, 12))
    layout = "torch" if scheme == "dirac" else "jax"
    options = {"sparsity": 0.5} if scheme == "sparse" else {}
    rng = pij.key(3, "layer.weight")
    got = np.asarray(pij.factory(scheme, layout=layout, **options)(rng, shape))
    expected = pn.sample(scheme, shape, seed=3, name="layer.weight", layout=layout, **options)
    if scheme in ("sparse", "conv_orthogonal"):
        # their sub-streams (sparse's mask, conv_orthogonal's projections) hash a JAX key's
        # words, not (seed, name, purpose): the same law, other draws
        assert got.shape == expected.shape
        np.testing.assert_array_equal((got != 0).sum(axis=0), (expected != 0).sum(axis=0))
        np.testing.assert_allclose(np.linalg.norm(got), np.linalg.norm(expected), rtol=0.2)
    elif entry.family == "structured":
        np.testing.assert_allclose(got, expected, atol=1e-5)  # QR: agree to rounding
    else:
        np.testing.assert_array_equal(got, expected)


def test_a_dense_kernel_is_the_torch_weight_transposed():
    torch_layout = pn.sample("xavier_uniform", (64, 128), seed=0, name="fc.weight")
    kernel = np.asarray(pij.factory("xavier_uniform")(pij.key(0, "fc.weight"), (128, 64)))
    np.testing.assert_array_equal(kernel, torch_layout.T)
    conv = pn.sample("he_normal", (32, 16, 3, 3), seed=0, name="conv.weight")
    jax_conv = np.asarray(pij.factory("he_normal")(pij.key(0, "conv.weight"), (3, 3, 16, 32)))
    np.testing.assert_array_equal(jax_conv, np.transpose(conv, (2, 3, 1, 0)))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16, jnp.bfloat16])
def test_dtypes_low_precision_sampled_in_float32(dtype):
    # an unbounded law (a bounded one is clipped to its bounds rounded inward in dtype)
    single = np.asarray(pij.normal(0.3)(KEY, (64, 64), jnp.float32))
    low = pij.normal(0.3)(KEY, (64, 64), dtype)
    assert low.dtype == dtype
    np.testing.assert_array_equal(np.asarray(low), single.astype(dtype))


def test_out_sharding_equals_the_unsharded_values_bit_for_bit():
    script = textwrap.dedent("""
        import os
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
        import jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        import paraminit.jax as pij
        mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("a", "b"))
        key = pij.key(0, "w")
        for spec in [P("a", "b"), P(None, "b"), P("a", None)]:
            sharding = NamedSharding(mesh, spec)
            for init, dtype in [(pij.he_normal(), "float32"), (pij.glorot_uniform(), "float32"),
                                (pij.truncated_normal(0.02), "float32"),
                                (pij.factory("xavier_normal"), "float32"),
                                (pij.lecun_normal(), "complex64")]:
                whole = np.asarray(init(key, (64, 48), dtype))
                part = init(key, (64, 48), dtype, out_sharding=sharding)
                assert part.sharding == sharding, part.sharding
                assert len(part.addressable_shards) == 4
                assert np.array_equal(np.asarray(part), whole)
                for shard in part.addressable_shards:
                    assert np.array_equal(np.asarray(shard.data), whole[shard.index])
        # a PartitionSpec of the current mesh, as jax.nn.initializers take it; under jit too
        explicit = jax.make_mesh((4,), ("x",), axis_types=(jax.sharding.AxisType.Explicit,))
        whole = np.asarray(pij.he_normal()(key, (64, 48)))
        with jax.set_mesh(explicit):
            for call in (pij.he_normal(), jax.jit(pij.he_normal(), static_argnums=(1, 2, 3))):
                part = call(key, (64, 48), "float32", P("x"))
                assert part.sharding.spec[0] == "x" and len(part.addressable_shards) == 4
                assert np.array_equal(np.asarray(part), whole)
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": SRC}, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


# The complex laws of variance_scaling (jax.nn.initializers, complex dtypes): E|z|^2 is the
# target variance, the phase is uniform, the parts are uncorrelated.
COMPLEX_SHAPE = (256, 512)


@pytest.mark.parametrize("dtype", [jnp.complex64, jnp.complex128])
@pytest.mark.parametrize("distribution", ["normal", "uniform", "truncated_normal"])
def test_complex_variance_scaling_has_the_target_variance_and_a_uniform_phase(distribution,
                                                                               dtype):
    with jax.enable_x64(dtype == jnp.complex128):
        z = np.asarray(pij.variance_scaling(2.0, "fan_in", distribution)(
            KEY, COMPLEX_SHAPE, dtype))
    assert z.dtype == dtype and z.shape == COMPLEX_SHAPE
    target = 2.0 / COMPLEX_SHAPE[0]
    power = np.abs(z.astype(np.complex128).ravel()) ** 2 / target
    n = power.size
    # E|z|^2 within 5 standard errors of the mean of |z|^2 (its own sample sd / sqrt(n))
    assert abs(power.mean() - 1.0) < 5 * power.std() / math.sqrt(n)
    # each part carries half of it, the parts are uncorrelated, the phase is uniform
    for part in (z.real, z.imag):
        assert abs((part.astype(np.float64) ** 2).mean() / target - 0.5) < 5 * power.std() / \
            math.sqrt(n)
    assert abs(np.corrcoef(z.real.ravel(), z.imag.ravel())[0, 1]) < 5 / math.sqrt(n)
    phase = (np.angle(z.ravel()) / (2 * math.pi)) % 1.0
    assert stats.kstest(phase, "uniform").pvalue > 1e-4
    radius = math.sqrt(target)
    if distribution == "uniform":  # the disk of radius sqrt(2) std: |z|^2 / (2 std^2) ~ U(0, 1)
        assert stats.kstest(power / 2.0, "uniform").pvalue > 1e-4
        assert np.abs(z).max() <= math.sqrt(2.0) * radius * (1 + 1e-6)
    if distribution == "truncated_normal":  # |z| < 2 / 0.96196 std, |z|^2 an Exp(1) cut at 4
        bound = 2.0 * radius / pij.COMPLEX_TRUNCATED_STD
        assert np.abs(z).max() <= bound * (1 + 1e-6)
        cut = stats.truncexpon(b=4.0)
        assert stats.kstest(power * pij.COMPLEX_TRUNCATED_STD ** 2, cut.cdf).pvalue > 1e-4


def test_complex_truncated_constant_is_the_std_of_the_cut_complex_normal():
    # |z|^2 of a complex standard normal is Exp(1); cut at |z| < 2 its mean is
    # (1 - 5 e^-4) / (1 - e^-4) (REFERENCE.md: 0.96196183^2)
    cut = stats.truncexpon(b=4.0)
    assert math.isclose(pij.COMPLEX_TRUNCATED_STD, math.sqrt(cut.mean()), rel_tol=1e-12)
    assert round(pij.COMPLEX_TRUNCATED_STD, 8) == 0.96196183


def test_complex_laws_match_jax_except_jaxs_truncated_constant():
    shape, target = COMPLEX_SHAPE, 1.0 / COMPLEX_SHAPE[0]
    for distribution in ("normal", "uniform", "truncated_normal"):
        ours = np.asarray(pij.variance_scaling(1.0, "fan_in", distribution)(
            KEY, shape, jnp.complex64))
        theirs = np.asarray(jax.nn.initializers.variance_scaling(1.0, "fan_in", distribution)(
            KEY, shape, jnp.complex64))
        power = np.abs(theirs.ravel().astype(np.complex128)) ** 2 / target
        tolerance = 5 * power.std() / math.sqrt(power.size)
        if distribution == "truncated_normal":
            # JAX divides the cut normal by 0.95311164, so E|z|^2 = (0.96196 / 0.95311)^2
            jax_excess = (pij.COMPLEX_TRUNCATED_STD / 0.95311164) ** 2
            assert abs(power.mean() - jax_excess) < tolerance
            assert jax_excess > 1.018
            ours = ours * (pij.COMPLEX_TRUNCATED_STD / 0.95311164)
        else:
            assert abs(power.mean() - 1.0) < tolerance
        for part in ("real", "imag"):
            assert stats.ks_2samp(getattr(ours, part).ravel(),
                                  getattr(theirs, part).ravel()).pvalue > 1e-4


def test_complex_init_under_jit_equals_eager_and_normal_takes_complex():
    for init in (pij.he_uniform(), pij.glorot_normal(), pij.lecun_normal(),
                 pij.normal(0.5)):
        eager = np.asarray(init(KEY, (32, 16), jnp.complex64))
        traced = np.asarray(jax.jit(lambda k, init=init: init(k, (32, 16), jnp.complex64))(KEY))
        np.testing.assert_array_equal(traced, eager)
    z = np.asarray(pij.normal(0.5)(KEY, (512, 512), jnp.complex64)).ravel()
    power = np.abs(z.astype(np.complex128)) ** 2 / 0.25
    assert abs(power.mean() - 1.0) < 5 * power.std() / math.sqrt(power.size)
    # a complex value is not a real one cast: both parts are drawn
    assert (z.imag != 0).mean() > 0.99 and abs(np.corrcoef(z.real, z.imag)[0, 1]) < 0.02
