"""Exact reference values (REFERENCE.md), to the digits stated there.

Each expected number is written from the literature or derived in a comment, never read
back from the code under test.
"""

from __future__ import annotations

import math

import pytest

import paraminit as pi


def approx7(expected: float) -> object:
    """Equal to ``expected`` to the digits it is written with (REFERENCE.md gives 7
    significant digits): within half a unit of its last decimal place."""
    places = len(repr(expected).split(".")[1])
    return pytest.approx(expected, rel=0, abs=0.5 * 10.0**-places * (1 + 1e-9))


# ---------------------------------------------------------------------------------------
# variance-scaling schemes


def test_he_normal_torch_conv_fan_in():
    # fan_in = 128 * 3 * 3 = 1152; std = sqrt(2 / 1152) = 1/24
    spec = pi.resolve("he_normal", (256, 128, 3, 3), layout="torch")
    assert spec.distribution == "normal"
    assert spec.std == pytest.approx(1 / 24, rel=1e-15)
    assert spec.fans.fan_in == 1152 and spec.fans.fan_out == 2304


def test_he_normal_torch_conv_fan_out():
    # fan_out = 256 * 9 = 2304; std = sqrt(2 / 2304) = 0.02946278
    spec = pi.resolve("he_normal", (256, 128, 3, 3), layout="torch", mode="fan_out")
    assert spec.std == approx7(0.02946278)
    assert spec.std == pytest.approx(math.sqrt(2 / 2304), rel=1e-15)


def test_xavier_uniform_bound():
    # bound = sqrt(6 / (1024 + 512)) = sqrt(1/256) = 0.0625, in either layout
    for layout in ("torch", "jax", "keras"):
        spec = pi.resolve("xavier_uniform", (1024, 512), layout=layout)
        assert spec.distribution == "uniform"
        assert spec.bound == pytest.approx(0.0625, rel=1e-15)
        assert spec.bounds == pytest.approx((-0.0625, 0.0625), rel=1e-15)
        assert spec.std == pytest.approx(0.0625 / math.sqrt(3), rel=1e-15)


def test_lecun_normal_jax_kernel():
    # jax Dense kernel (in, out) = (1000, 500): fan_in = 1000
    spec = pi.resolve("lecun_normal", (1000, 500), layout="jax")
    assert spec.fans.fan_in == 1000
    assert spec.std == pytest.approx(1 / math.sqrt(1000), rel=1e-15)


def test_truncated_std_factor_constants():
    # std of N(0,1) truncated to [-2, 2] and [-3, 3] (REFERENCE.md, 17 digits)
    assert pi.truncated_std_factor(-2, 2) == pytest.approx(0.87962566103423978, rel=1e-15)
    assert pi.truncated_std_factor(-3, 3) == pytest.approx(0.98657839255810864, rel=1e-15)
    # variance 0.7737413 for +-2
    assert pi.truncated_std_factor(-2.0, 2.0) ** 2 == approx7(0.7737413)


@pytest.mark.parametrize(
    ("variance_norm", "expected"),
    [
        # Caffe MSRAFiller on (256,128,3,3): fan_in 1152, fan_out 2304
        ("average", 0.03402069),  # sqrt(4 / (1152 + 2304))
        ("fan_out", 0.02946278),  # sqrt(2 / 2304)
        ("fan_in", 0.04166667),  # sqrt(2 / 1152)
    ],
)
def test_msra_variance_norms(variance_norm, expected):
    spec = pi.resolve("msra", (256, 128, 3, 3), variance_norm=variance_norm)
    assert spec.distribution == "normal"
    assert spec.std == approx7(expected)


def test_msra_default_is_fan_in():
    assert pi.resolve("msra", (256, 128, 3, 3)).std == pytest.approx(1 / 24, rel=1e-15)


def test_msra_average_is_caffe_not_the_seed_mistake():
    # the seed's 2/(n_in + n_out) would give sqrt(2/3456) = 0.02405626; Caffe's is 4/(...)
    spec = pi.resolve("msra", (256, 128, 3, 3), variance_norm="average")
    assert spec.std == pytest.approx(math.sqrt(4 / 3456), rel=1e-15)
    assert spec.std != pytest.approx(math.sqrt(2 / 3456), rel=1e-3)


def test_kaiming_parity_torch_vs_jax_layout():
    # (1024, 512): torch reads fan_in 512 -> sqrt(2/512) = 0.0625;
    # Keras/JAX read fan_in 1024 -> sqrt(2/1024) = 0.0441942
    torch_spec = pi.resolve("kaiming_normal", (1024, 512), layout="torch")
    jax_spec = pi.resolve("he_normal", (1024, 512), layout="jax")
    assert torch_spec.std == pytest.approx(0.0625, rel=1e-15)
    assert jax_spec.std == approx7(0.0441942)


def test_he_normal_truncated_jax_conv():
    # HeNormal on (3,3,128,256): fan_in 1152, result std 1/24, parent std
    # (1/24) / 0.87962566 = 0.04736863, cut at +-2 parent std = +-0.09473727
    spec = pi.resolve(
        "he_normal", (3, 3, 128, 256), layout="jax", distribution="truncated_normal"
    )
    assert spec.distribution == "truncated_normal"
    assert spec.std == approx7(0.04166667)
    assert spec.parent_std == approx7(0.04736863)
    low, high = spec.bounds
    assert high == approx7(0.09473727)
    assert low == approx7(-0.09473727)
    assert spec.truncation == (-2.0, 2.0)


def test_variance_scaling_default_is_keras_truncated():
    # Keras VarianceScaling(scale=1, fan_in, truncated_normal) on (1000, 500) jax
    spec = pi.resolve("variance_scaling", (1000, 500), layout="jax")
    assert spec.distribution == "truncated_normal"
    assert spec.std == pytest.approx(1 / math.sqrt(1000), rel=1e-15)
    assert spec.parent_std == pytest.approx(
        1 / math.sqrt(1000) / 0.87962566103423978, rel=1e-14
    )


def test_truncated_normal_scheme_result_std():
    # result std 0.02; Keras TruncatedNormal(stddev=0.02) would have result 0.01759251
    spec = pi.resolve("truncated_normal", (64, 64), std=0.02)
    assert spec.std == 0.02
    assert spec.parent_std == pytest.approx(0.02 / 0.87962566103423978, rel=1e-14)
    keras_result_std = 0.02 * 0.87962566103423978
    assert keras_result_std == approx7(0.01759251)


def test_he_leaky_relu_scale():
    # He et al. 2015 Eq. 15: Var = 2 / ((1 + a^2) fan_in); a = 0.2, fan_in = 512
    spec = pi.resolve("he_normal", (1024, 512), nonlinearity="leaky_relu", slope=0.2)
    assert spec.std == pytest.approx(math.sqrt(2 / (1.04 * 512)), rel=1e-14)
    # kaiming default a = 0 -> sqrt(2)
    spec0 = pi.resolve("he_normal", (1024, 512), nonlinearity="leaky_relu")
    assert spec0.std == pytest.approx(0.0625, rel=1e-15)


def test_uniform_r_is_sqrt3_sigma():
    # U(-r, r) has std r / sqrt(3): He uniform on fan_in 1152 has r = sqrt(6/1152)
    spec = pi.resolve("he_uniform", (256, 128, 3, 3))
    assert spec.bound == pytest.approx(math.sqrt(6 / 1152), rel=1e-15)
    lecun = pi.resolve("lecun_uniform", (256, 128, 3, 3))
    assert lecun.bound == pytest.approx(math.sqrt(3 / 1152), rel=1e-15)


def test_glorot_logistic_times_four():
    # Glorot & Bengio 2010: for the logistic function the uniform bound x 4
    spec = pi.resolve("xavier_uniform", (1024, 512), gain=4.0)
    assert spec.bound == pytest.approx(0.25, rel=1e-15)


def test_xavier_gain_by_name():
    spec = pi.resolve("xavier_normal", (1024, 512), gain="tanh")
    assert spec.std == pytest.approx(5 / 3 * math.sqrt(2 / 1536), rel=1e-15)


def test_fixed_variance_uniform_bound():
    spec = pi.resolve("fixed_variance_uniform", (10, 10), std=0.05)
    assert spec.bound == pytest.approx(math.sqrt(3) * 0.05, rel=1e-15)


def test_uniform_low_high():
    spec = pi.resolve("uniform", (10, 10), low=-0.5, high=1.5)
    assert spec.mean == 0.5 and spec.bound == 1.0
    assert spec.bounds == (-0.5, 1.5)
    assert spec.std == pytest.approx(2 / math.sqrt(12), rel=1e-15)


def test_aliases_resolve_to_the_same_spec():
    for alias, name in pi.ALIASES.items():
        scheme = pi.REGISTRY[name]
        a = pi.resolve(alias, scheme.probe_shape)
        b = pi.resolve(name, scheme.probe_shape)
        assert (a.distribution, a.std, a.mean, a.bound) == (b.distribution, b.std, b.mean, b.bound)


# ---------------------------------------------------------------------------------------
# fans (REFERENCE.md "Layouts and fans")


def test_depthwise_torch_fans():
    fans = pi.compute_fans((32, 1, 3, 3), "torch", groups=32)
    assert (fans.fan_in, fans.fan_out, fans.receptive, fans.groups) == (9, 9, 9, 32)
    literal = pi.compute_fans((32, 1, 3, 3), "torch", groups=32, fan_convention="torch")
    assert (literal.fan_in, literal.fan_out) == (9, 288)
    assert "288" in fans.explain()  # the note says what torch counts


def test_depthwise_he_normal_std_torch_vs_keras():
    # torch kaiming_normal_ on (32,1,3,3): fan_in 9 -> 0.4714045; Keras (3,3,32,1): 288
    torch_std = pi.resolve("he_normal", (32, 1, 3, 3), groups=32).std
    keras_std = pi.resolve("he_normal", (3, 3, 32, 1), layout="keras", fan_convention="keras").std
    assert torch_std == approx7(0.4714045)
    assert keras_std == approx7(0.0833333)


def test_keras_depthwise_kernel_literal():
    fans = pi.compute_fans((3, 3, 32, 1), "keras", fan_convention="keras")
    assert (fans.fan_in, fans.fan_out) == (288, 9)
    fans = pi.compute_fans((3, 3, 32, 1), "keras")  # groups=1: same literal reading
    assert (fans.fan_in, fans.fan_out) == (288, 9)


def test_keras_grouped_conv_kernel():
    # Keras Conv2D(32, 3, groups=32) kernel (3, 3, in/groups = 1, 32)
    fans = pi.compute_fans((3, 3, 1, 32), "keras", groups=32)
    assert (fans.fan_in, fans.fan_out) == (9, 9)


def test_conv_transpose_torch():
    # ConvTranspose2d(64 -> 32, k=4): torch weight (64, 32, 4, 4)
    fans = pi.compute_fans((64, 32, 4, 4), "torch", transposed=True)
    assert (fans.fan_in, fans.fan_out) == (1024, 512)  # each output sums 64 * 16 terms
    literal = pi.compute_fans((64, 32, 4, 4), "torch", transposed=True, fan_convention="torch")
    assert literal.fan_in == 512
    # torch's default bound 1/sqrt(fan_in) = 1/sqrt(512) = 0.04419417
    assert 1 / math.sqrt(literal.fan_in) == approx7(0.04419417)


def test_conv_transpose_keras_and_flax_layouts():
    # Keras ConvTranspose kernel (*k, out, in) = (4, 4, 32, 64)
    keras = pi.compute_fans((4, 4, 32, 64), "keras", transposed=True)
    assert (keras.fan_in, keras.fan_out) == (1024, 512)
    # Keras glorot limit sqrt(6 / (512 + 1024)) = 0.0625 either way
    assert math.sqrt(6 / (keras.fan_in + keras.fan_out)) == pytest.approx(0.0625)
    # Flax ConvTranspose kernel (*k, in, out) = (4, 4, 64, 32); lecun std 1/sqrt(1024)
    flax = pi.compute_fans((4, 4, 64, 32), "jax", transposed=True)
    assert (flax.fan_in, flax.fan_out) == (1024, 512)
    std = pi.resolve("lecun_normal", (4, 4, 64, 32), layout="jax", transposed=True).std
    assert std == pytest.approx(0.03125, rel=1e-15)


@pytest.mark.parametrize(("stride", "divisor"), [(2, 4), ((2, 3), 6), (1, 1)])
def test_conv_transpose_stride_divides_fan_in(stride, divisor):
    # each output of a stride-s transposed conv sums in * k^2 / s^2 terms on average
    fans = pi.compute_fans((64, 32, 4, 4), "torch", transposed=True, stride=stride)
    assert fans.fan_in == pytest.approx(1024 / divisor, rel=1e-15)
    assert fans.fan_out == 512


def test_dense_layouts():
    torch_fans = pi.compute_fans((1024, 512), "torch")
    jax_fans = pi.compute_fans((1024, 512), "jax")
    assert (torch_fans.fan_in, torch_fans.fan_out) == (512, 1024)
    assert (jax_fans.fan_in, jax_fans.fan_out) == (1024, 512)
    assert torch_fans.receptive == jax_fans.receptive == 1


def test_conv_fans_and_explain():
    fans = pi.compute_fans((256, 128, 3, 3))
    assert (fans.fan_in, fans.fan_out, fans.receptive) == (1152, 2304, 9)
    text = fans.explain()
    assert "1152" in text and "2304" in text and "'torch'" in text


def test_tensor_parallel_full_shape():
    # fans of the full [4096, 4096] tensor: xavier limit sqrt(6/8192) = 0.02706
    spec = pi.resolve("xavier_uniform", (4096, 4096))
    assert spec.bound == pytest.approx(0.02706, rel=1e-3)


def test_custom_axes_match_layout_presets():
    preset = pi.compute_fans((3, 3, 16, 32), "jax")
    custom = pi.compute_fans((3, 3, 16, 32), in_axis=2, out_axis=-1)
    assert (custom.fan_in, custom.fan_out, custom.receptive) == (
        preset.fan_in, preset.fan_out, preset.receptive)
    assert custom.layout == "custom"


def test_fan_geo_avg_and_avg():
    spec = pi.resolve("variance_scaling", (1024, 256), mode="fan_geo_avg", scale=1.0,
                      distribution="normal")
    assert spec.std == pytest.approx(1 / math.sqrt(math.sqrt(256 * 1024)), rel=1e-15)
    spec = pi.resolve("variance_scaling", (1024, 256), mode="fan_avg", scale=2.0,
                      distribution="normal")
    assert spec.std == pytest.approx(math.sqrt(2 / 640), rel=1e-15)


def test_structured_specs_rms():
    # orthogonal (64, 256): rows orthonormal, rms = 1/sqrt(256); gain 2 doubles it
    assert pi.resolve("orthogonal", (64, 256), gain=2.0).std == pytest.approx(2 / 16)
    # sparse: 15 of 80 inputs N(0, 1): rms = sqrt(15/80)
    assert pi.resolve("sparse", (96, 80)).std == pytest.approx(math.sqrt(15 / 80))
    # sparsity=0.3 on fan_in 30: ceil(9) = 9 zeros, 21 non-zeros
    assert pi.resolve("sparse", (40, 30), sparsity=0.3).params["nonzeros"] == 21


def test_regular_conv_stride_divides_fan_out():
    # a stride-s conv: each input feeds out * k^2 / s^2 outputs on average
    fans = pi.compute_fans((64, 32, 3, 3), stride=2)
    assert (fans.fan_in, fans.fan_out) == (288, 64 * 9 / 4)
    assert "stride 2x2" in fans.explain()


def test_explain_divides_the_axis_the_fans_divided_for_custom_transposed_axes():
    # custom axes with transposed=True: the out axis holds out/groups, so the text must
    # divide the in-channels by the groups, as the numbers do (fan_in = 4 / 2 x 9 = 18)
    fans = pi.compute_fans((3, 3, 8, 4), in_axis=3, out_axis=2, transposed=True, groups=2)
    assert fans.fan_in == 18 and fans.fan_out == 72
    text = fans.explain()
    assert "fan_in = 4 in-channels / 2 groups x 9 = 18" in text
    assert "fan_out = 8 out-channels x 9 = 72" in text
