"""Every bad input raises InitError (a ValueError) naming the argument, value and choices."""

from __future__ import annotations

import re

import numpy as np
import pytest

import paraminit as pi
import paraminit.numpy as pn
from paraminit import InitError


def raises(pattern: str):
    """InitError whose message matches ``pattern`` (a regex, searched)."""
    return pytest.raises(InitError, match=pattern)


def test_init_error_is_a_value_error():
    assert issubclass(InitError, ValueError)
    with pytest.raises(ValueError):
        pi.resolve("he_normal", (5,))


def test_unknown_scheme_lists_choices():
    with raises(r"scheme must be one of: .*he_normal.*kaiming_normal.*received 'he_norml'"):
        pi.resolve("he_norml", (3, 3))
    with pytest.raises(InitError) as info:
        pi.get_scheme(3)
    message = str(info.value)
    for name in [*pi.REGISTRY, *pi.ALIASES]:
        assert name in message


def test_unknown_option_lists_options():
    with raises(r"he_normal got unknown option\(s\) 'foo'; its options are: "
                r"distribution, mode, nonlinearity, slope"):
        pi.resolve("he_normal", (3, 3), foo=1)
    with raises(r"zeros got unknown option\(s\) 'foo'; its options are: none"):
        pi.resolve("zeros", (3, 3), foo=1)
    with raises("unknown option"):
        pn.he_normal(bogus=True)  # eagerly, at the factory call


def test_bad_mode_messages():
    with raises(re.escape("mode must be one of 'fan_in', 'fan_out'; received 'fan_avg'")):
        pi.resolve("he_normal", (3, 3), mode="fan_avg")
    with raises(re.escape("mode must be one of 'fan_in', 'fan_out', 'fan_avg', "
                          "'fan_geo_avg'; received 'fan_inn'")):
        pi.resolve("variance_scaling", (3, 3), mode="fan_inn")
    with raises(re.escape("mode must be one of 'fan_in', 'fan_out'; received 'fan_avg'")):
        pn.kaiming_uniform(mode="fan_avg")
    with raises(re.escape("variance_norm must be one of 'fan_in', 'fan_out', 'average'; "
                          "received 'avg'")):
        pi.resolve("msra", (3, 3), variance_norm="avg")
    with raises(re.escape("distribution must be one of 'normal', 'truncated_normal', "
                          "'uniform'; received 'laplace'")):
        pi.resolve("variance_scaling", (3, 3), distribution="laplace")
    with raises(re.escape("method must be one of 'qr', 'svd'; received 'lu'")):
        pi.resolve("orthogonal", (3, 3), method="lu")


def test_unknown_nonlinearity():
    pattern = r"nonlinearity must be one of .*'leaky_relu'.*'tanh'; received 'relu6'"
    with raises(pattern):
        pi.gain("relu6")
    with raises(pattern):
        pi.resolve("he_normal", (3, 3), nonlinearity="relu6")
    with raises(r"gain must be a number > 0 or a nonlinearity name .*'tanh'\); received "
                r"'relu6'; did you mean 'relu'"):
        pi.resolve("xavier_normal", (3, 3), gain="relu6")
    with raises(r"nonlinearity must be one of .*received 'relu6'"):
        pi.numeric_gain("relu6")


@pytest.mark.parametrize("bad", [True, False, "0.1", float("nan"), float("inf"), [0.1]])
def test_bad_slope_or_param(bad):
    with raises(r"param for 'leaky_relu' must be a finite number \(slope\); received"):
        pi.gain("leaky_relu", bad)
    with raises(r"slope must be a finite number; received"):
        pi.resolve("he_normal", (3, 3), nonlinearity="leaky_relu", slope=bad)


def test_none_slope_is_rejected_by_resolve():
    # gain(name, None) means "torch's default"; the scheme option has its own default (0)
    assert pi.gain("leaky_relu", None) == pi.gain("leaky_relu")
    with raises(r"slope must be a finite number; received None"):
        pi.resolve("he_normal", (3, 3), nonlinearity="leaky_relu", slope=None)


def test_param_where_none_is_taken():
    with raises(r"nonlinearity 'relu' takes no param; received param=0.1"):
        pi.gain("relu", 0.1)
    with raises(r"slope applies only to nonlinearity='leaky_relu'; received slope=0.1 with "
                r"nonlinearity='tanh'"):
        pi.resolve("he_normal", (3, 3), nonlinearity="tanh", slope=0.1)
    with raises(r"points must be an int in \[2, 1024\]; received True"):
        pi.numeric_gain("tanh", points=True)


@pytest.mark.parametrize("shape", [(), (5,), 5])
@pytest.mark.parametrize("scheme", ["he_normal", "xavier_uniform", "lecun_normal", "msra",
                                    "variance_scaling", "kaiming_uniform"])
def test_fan_schemes_reject_0d_1d(scheme, shape):
    rank = 0 if shape == () else 1
    with raises(rf"fans are undefined for the {rank}-D shape .*layout 'torch'.*'zeros'"):
        pi.resolve(scheme, shape)


def test_fanless_schemes_accept_1d():
    assert pn.sample("zeros", (5,), seed=0).shape == (5,)
    assert pn.sample("normal", (5,), seed=0).shape == (5,)
    assert pn.sample("uniform", (), seed=0).shape == ()


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (4, 4, 0, 3), (0, 0)])
def test_zero_fans(shape):
    with raises(r"has fan_in=\d+ and fan_out=\d+: a zero fan makes every fan-scaled std "
                r"infinite"):
        pi.resolve("xavier_uniform", shape)
    assert pn.sample("zeros", shape, seed=0).size == 0


def test_groups_errors():
    with raises(r"groups=3 must divide the out-channels \(8\) of shape \(8, 3, 3, 3\) in "
                r"layout 'torch'"):
        pi.resolve("he_normal", (8, 3, 3, 3), groups=3)
    with raises(r"groups=3 must divide the in-channels \(8\)"):
        pi.compute_fans((8, 3, 3, 3), transposed=True, groups=3)
    for bad in (0, -1, True, 2.0):
        with raises(rf"groups must be a positive int; received {bad!r}"):
            pi.compute_fans((8, 4, 3, 3), groups=bad)
    with raises(r"groups=3 must divide the out-channels \(8\)"):
        pi.resolve("dirac", (8, 8, 3, 3), groups=3)


@pytest.mark.parametrize("layout", ["tf", "TORCH", "", None, "custom"])
def test_bad_layout(layout):
    pattern = re.escape(f"layout must be one of 'torch', 'jax', 'keras'; received {layout!r}")
    with raises(pattern):
        pi.compute_fans((8, 3), layout)
    with raises(pattern):
        pi.resolve("zeros", (8, 3), layout=layout)
    with raises(pattern):
        pn.sample("he_normal", (8, 3), seed=0, layout=layout)


def test_bad_fan_options():
    with raises(re.escape("fan_convention must be one of 'paraminit', 'torch', 'keras', "
                          "'jax'; received 'tf'")):
        pi.compute_fans((8, 3), fan_convention="tf")
    with raises(r"in_axis and out_axis must be given together"):
        pi.compute_fans((8, 3), in_axis=0)
    with raises(r"in_axis and out_axis must differ"):
        pi.compute_fans((8, 3), in_axis=0, out_axis=-2)
    with raises(r"out_axis must be an int in \[-2, 1\]"):
        pi.compute_fans((8, 3), in_axis=0, out_axis=2)
    with raises(r"transposed=True needs a convolution weight"):
        pi.compute_fans((8, 3), transposed=True)
    with raises(r"stride must be a positive int or 2 positive ints"):
        pi.compute_fans((8, 3, 3, 3), stride=(1, 0))
    with raises(r"stride must be a positive int or 2 positive ints"):
        pi.compute_fans((8, 3, 3, 3), stride=(1, 1, 1))
    with raises(r"stride applies to convolution weights"):
        pi.compute_fans((8, 3), stride=2)


@pytest.mark.parametrize("shape", [(8, 3.0), (8, -3), "83", (8, True), None, (8, None)])
def test_bad_shape(shape):
    with raises(r"shape must be a sequence of non-negative ints; received"):
        pi.resolve("he_normal", shape)


def test_numpy_ints_in_shape_are_fine():
    assert pi.resolve("he_normal", (np.int64(8), np.int32(3))).shape == (8, 3)


@pytest.mark.parametrize("dtype", ["bfloat16", "int32", "float128", "complex64", "nope", int])
def test_bad_dtype(dtype):
    with raises(r"dtype must be one of 'float16', 'float32', 'float64'; received"):
        pn.sample("he_normal", (8, 3), seed=0, dtype=dtype)


def test_bfloat16_message_points_to_torch():
    with raises("For bfloat16 use paraminit.torch"):
        pn.sample("he_normal", (8, 3), seed=0, dtype="bfloat16")


@pytest.mark.parametrize("seed", [-1, 2**64, 0.5, True, "1"])
def test_bad_seed(seed):
    with raises(r"seed must be an int in \[0, 2\*\*64 - 1\]; received"):
        pn.sample("he_normal", (8, 3), seed=seed)


def test_spec_and_options_conflict():
    spec = pi.resolve("he_normal", (8, 3))
    with raises(re.escape("options ['mode'] cannot be combined with a resolved InitSpec")):
        pn.sample(spec, seed=0, mode="fan_out")
    with raises(r"shape \(3, 8\) differs from the spec's shape \(8, 3\)"):
        pn.sample(spec, (3, 8), seed=0)
    with raises(r"shape is required when scheme is given by name"):
        pn.sample("he_normal", seed=0)
    assert pn.sample(spec, (8, 3), seed=0).shape == (8, 3)  # a matching shape is fine


def test_option_values():
    with raises(r"gain must be > 0; received -1"):
        pi.resolve("xavier_normal", (8, 3), gain=-1)
    with raises(r"gain must be a finite number; received True"):
        pi.resolve("orthogonal", (8, 3), gain=True)
    with raises(r"std must be > 0; received 0"):
        pi.resolve("normal", (8, 3), std=0)
    with raises(r"scale must be > 0"):
        pi.resolve("variance_scaling", (8, 3), scale=0.0)
    with raises(r"truncate must be > 0"):
        pi.resolve("truncated_normal", (8, 3), truncate=-2)
    with raises(r"low must be < high; received low=1.0, high=0.0"):
        pi.resolve("uniform", (8, 3), low=1, high=0)
    with raises(r"value must be a finite number; received 'a'"):
        pi.resolve("constant", (8, 3), value="a")


def test_structured_errors():
    with raises(r"nonzeros=15 exceeds the 3 inputs per unit of shape \(8, 3\)"):
        pi.resolve("sparse", (8, 3))
    with raises(r"sparsity must be in \[0, 1\); received 1.0"):
        pi.resolve("sparse", (30, 30), sparsity=1.0)
    with raises(r"nonzeros must be a positive int; received 0"):
        pi.resolve("sparse", (30, 30), nonzeros=0)
    with raises(r"identity needs a 2-D shape; received shape \(3, 3, 3\) \(3-D\)"):
        pi.resolve("identity", (3, 3, 3))
    with raises(r"dirac needs a 3-D to 5-D shape; received shape \(3, 3\) \(2-D\)"):
        pi.resolve("dirac", (3, 3))
    with raises(r"orthogonal needs .*2-D shape; received shape \(3,\) \(1-D\)"):
        pi.resolve("orthogonal", (3,))


def test_sample_elements_errors():
    spec = pi.resolve("he_normal", (8, 3))
    with raises(r"need 0 <= start <= stop <= 24 for shape \(8, 3\); received start=5, "
                r"stop=100"):
        pn.sample_elements(spec, seed=0, start=5, stop=100)
    with raises(r"need 0 <= start <= stop <= 24"):
        pn.sample_elements(spec, seed=0, start=6, stop=5)
    with raises(r"element-wise sampling needs one of the laws .*orthogonal is "
                r"'orthogonal', which must be sampled whole"):
        pn.sample_elements(pi.resolve("orthogonal", (8, 3)), seed=0)


def test_unknown_numpy_attribute():
    with pytest.raises(AttributeError, match="has no attribute 'he_nromal'"):
        pn.he_nromal  # noqa: B018
