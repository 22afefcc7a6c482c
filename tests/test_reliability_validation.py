"""Issue 16, items 5 and 8: every public entry point validates its arguments and raises
InitError naming the argument, the value and a fix; no raw OverflowError, TypeError,
AttributeError, UnicodeEncodeError or MemoryError escapes. Fuzzed with hypothesis.

The core, NumPy and theory side; the torch drop-ins' is
``tests/torch_dropin/test_torch_validation.py``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import paraminit as pi
import paraminit.numpy as pn
from fuzz_inputs import HUGE, ODD, OPTION_NAMES, SURROGATE, only_init_error, raises
from paraminit.core import validate
from paraminit.core.stream import Stream

# ---------------------------------------------------------------------------------------
# the validation module itself


def test_validate_numbers_accept_numpy_scalars_and_reject_bool():
    assert validate.real("std", np.float32(0.5)) == 0.5
    assert validate.integer("groups", np.int64(3), minimum=1) == 3
    assert validate.boolean("transposed", np.bool_(True)) is True
    with raises(r"std must be a finite number; received True"):
        validate.real("std", True)
    with raises(r"groups must be a positive int; received np.True_"):
        validate.integer("groups", np.bool_(True), minimum=1)
    with raises(r"transposed must be True or False; received 'yes'"):
        validate.boolean("transposed", "yes")


def test_validate_show_shortens_huge_values_to_one_line():
    text = validate.show(HUGE)
    assert len(text) < 100 and "(401 chars)" in text
    with raises(r"std must be a finite number; received 1000.*\(401 chars\), which is beyond "
                r"float64's range"):
        validate.real("std", HUGE)


def test_validate_text_names_the_lone_surrogate():
    with raises(r"name must be valid Unicode text; received 'w\\ud800', whose character "
                r"'\\ud800' at index 1 is a lone surrogate"):
        validate.text("name", SURROGATE)


@pytest.mark.parametrize(("args", "argument"),
                         [((SURROGATE,), "name"), (("w", SURROGATE), "purpose")])
def test_stream_refuses_a_lone_surrogate_in_its_name_or_purpose(args, argument):
    with raises(rf"{argument} must be valid Unicode text; received 'w\\ud800'"):
        Stream(0, *args)


def test_validate_shape_caps_the_element_count():
    with raises(r"more than 2\*\*63 - 1 elements"):
        validate.shape((2**40, 2**40))
    with raises(r"shape must be a sequence of non-negative ints; received \(3, 1.5\), e.g."):
        validate.shape((3, 1.5))
    assert validate.shape((np.int64(2), 3)) == (2, 3)


# ---------------------------------------------------------------------------------------
# item 5: OverflowError, MemoryError, UnicodeEncodeError, TypeError, AttributeError


@pytest.mark.parametrize(("call", "pattern"), [
    (lambda: pi.resolve("he_normal", (HUGE, 3)), r"more than 2\*\*63 - 1 elements"),
    (lambda: pi.resolve("xavier_normal", (3, 3), gain=HUGE), r"gain must be a finite number"),
    (lambda: pi.resolve("normal", (3,), std=HUGE), r"std must be a finite number"),
    (lambda: pi.resolve("he_normal", (3, 3, 3), stride=HUGE),
     r"stride must be a positive int or positive ints, one per kernel dim"),
    (lambda: pi.gain("leaky_relu", HUGE), r"param for 'leaky_relu' must be a finite number"),
    (lambda: pi.theory.critical_point("tanh", sigma_b2=HUGE), r"sigma_b2 must be a finite"),
])
def test_huge_ints_are_init_errors(call, pattern):
    with raises(pattern):
        call()


def test_numeric_gain_points_bounded_and_fn_checked():
    with raises(r"points must be an int in \[2, 1024\]; received 100000 \(the default 96 is "
                r"already exact"):
        pi.numeric_gain("relu", points=10**5)
    with raises(r"fn must be an activation name .* or a callable on a NumPy array; received 3"):
        pi.numeric_gain(3)
    with raises(r"fn failed on a float64 array .*ValueError.*pass a function mapping"):
        pi.numeric_gain(lambda x: "a")
    with raises(r"fn failed .*returned shape \(\)"):
        pi.numeric_gain(lambda x: 1.0)


def test_sampling_too_much_memory_is_an_init_error():
    with raises(r"cannot allocate 4611686018427387904 float32 values for shape "
                r"\(2147483648, 2147483648\).*sample_elements"):
        pn.sample("zeros", (2**31, 2**31), seed=0)
    spec = pi.resolve("normal", (3,))
    with raises(r"start must be an int; received 'a'"):
        pn.sample_elements(spec, seed=0, start="a")
    with raises(r"shape is required when scheme is given by name"):
        pn.sample_elements("normal", seed=0)
    with raises(r"scheme_or_spec must be a registry name .* or an InitSpec .*; received 3"):
        pn.sample_elements(3, seed=0)


@pytest.mark.parametrize("call", [
    lambda: pn.sample("normal", (3,), seed=0, name=SURROGATE),
    lambda: pn.sample_elements(pi.resolve("normal", (3,)), seed=0, name=SURROGATE),
])
def test_lone_surrogate_names_are_init_errors(call):
    with raises(r"must be valid Unicode text; received .*lone surrogate"):
        call()


# ---------------------------------------------------------------------------------------
# item 8: lenient options


@pytest.mark.parametrize(("options", "pattern"), [
    ({"groups": -5}, r"groups must be a positive int; received -5"),
    ({"stride": "x"}, r"stride must be a positive int or positive ints, one per kernel dim; "
                      r"received 'x'"),
    ({"fan_convention": "bogus"}, r"fan_convention must be one of 'paraminit', 'torch', "
                                  r"'keras', 'jax'; received 'bogus'"),
    ({"transposed": "yes"}, r"transposed must be True or False; received 'yes'"),
    ({"in_axis": 1.5, "out_axis": 0}, r"in_axis must be an int; received 1.5; pass an axis"),
])
@pytest.mark.parametrize("scheme", ["zeros", "normal", "uniform", "constant", "orthogonal"])
def test_fan_options_checked_by_schemes_without_fans(scheme, options, pattern):
    with raises(pattern):
        pi.resolve(scheme, (4, 4), **options)
    with raises(pattern):
        pn.factory(scheme, **options)


def test_orthogonal_out_axis_must_be_an_axis():
    with raises(r"out_axis must be an int; received 1.7; pass an axis of the shape"):
        pi.resolve("orthogonal", (3, 4), out_axis=1.7)
    with raises(r"out_axis must be an int in \[-2, 1\]; received 2 for shape \(3, 4\)"):
        pi.resolve("orthogonal", (3, 4), out_axis=2)
    assert pi.resolve("orthogonal", (3, 4), out_axis=np.int64(1)).params["out_axis"] == 1


def test_sparse_refuses_nonzeros_with_sparsity():
    with raises(r"sparse takes nonzeros or sparsity, not both; received nonzeros=3 and "
                r"sparsity=0.5\. Drop one"):
        pi.resolve("sparse", (30, 30), nonzeros=3, sparsity=0.5)
    assert pi.resolve("sparse", (30, 30)).params["nonzeros"] == 15  # Martens' default
    assert pi.resolve("sparse", (30, 30), sparsity=0.5).params["nonzeros"] == 15


def test_numpy_scalar_options_accepted_like_python_ones():
    a = pn.sample("normal", (50,), seed=1, std=np.float32(0.5), mean=np.int64(1))
    b = pn.sample("normal", (50,), seed=1, std=0.5, mean=1)
    assert np.array_equal(a, b)
    spec = pi.resolve("he_normal", (8, 4, 3), groups=np.int64(2), transposed=np.bool_(False),
                      stride=(np.int64(2),))
    assert spec.fans.groups == 2 and spec.fans.stride == (2,)
    assert pi.resolve("xavier_normal", (4, 4), gain=np.float16(2.0)).gain == 2.0


# ---------------------------------------------------------------------------------------
# the fuzz: only InitError escapes


_SHAPES = st.one_of(st.lists(st.integers(0, 5), max_size=4), ODD)


@settings(derandomize=True, max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(scheme=st.sampled_from(sorted(pi.REGISTRY)), shape=_SHAPES,
       options=st.dictionaries(st.sampled_from(OPTION_NAMES), ODD, max_size=3),
       name=st.sampled_from(["", "w", SURROGATE]), seed=st.one_of(st.integers(-1, 2**65), ODD))
def test_fuzz_core_and_numpy_raise_only_init_error(scheme, shape, options, name, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        only_init_error(lambda: pi.resolve(scheme, shape, **options))
        only_init_error(lambda: pn.factory(scheme, **options))
        only_init_error(lambda: pn.sample(scheme, (3, 4), seed=seed, name=name, **options))
        fan_options = {k: v for k, v in options.items() if k in (
            "groups", "transposed", "stride", "fan_convention", "in_axis", "out_axis", "layout")}
        only_init_error(lambda: pi.compute_fans(shape, **fan_options))
        only_init_error(lambda: pi.gain(options.get("nonlinearity", "leaky_relu"),
                                        options.get("gain")))
