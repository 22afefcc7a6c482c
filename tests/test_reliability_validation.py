"""Issue 16, items 5 and 8: every public entry point validates its arguments and raises
InitError naming the argument, the value and a fix; no raw OverflowError, TypeError,
AttributeError, UnicodeEncodeError or MemoryError escapes. Fuzzed with hypothesis."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import paraminit as pi
import paraminit.numpy as pn
import paraminit.torch as pit
from paraminit import InitError
from paraminit.core import validate
from paraminit.core.stream import Stream

HUGE = 10**400  # beyond float64: float(HUGE) raises OverflowError
SURROGATE = "w\ud800"  # a lone surrogate: UTF-8 cannot encode it


def raises(pattern: str):
    return pytest.raises(InitError, match=pattern)


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
    (lambda: pit.calculate_gain("leaky_relu", HUGE), r"calculate_gain: param .* must be finite"),
    (lambda: pit.uniform_(torch.empty(3), -HUGE, HUGE),
     r"uniform_: a must be a real number within float64's range"),
    (lambda: pit.constant_(torch.empty(3), HUGE), r"constant_: torch.float32 cannot hold val"),
    (lambda: pit.lsuv(torch.nn.Linear(2, 2), torch.randn(4, 2), tol=HUGE),
     r"lsuv: tol must be a finite number > 0"),
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
    with raises(r"spec must be an InitSpec"):
        pn.sample_elements("normal", seed=0)


@pytest.mark.parametrize("call", [
    lambda: pn.sample("normal", (3,), seed=0, name=SURROGATE),
    lambda: pn.sample_elements(pi.resolve("normal", (3,)), seed=0, name=SURROGATE),
    lambda: pit.init_(torch.empty(3), "normal", name=SURROGATE),
    lambda: pit.init(torch.nn.Linear(2, 2), prefix=SURROGATE),
])
def test_lone_surrogate_names_are_init_errors(call):
    with raises(r"must be valid Unicode text; received .*lone surrogate"):
        call()


@pytest.mark.parametrize("function", ["uniform_", "normal_", "xavier_uniform_", "orthogonal_",
                                      "kaiming_normal_", "init_", "lecun_normal_"])
def test_dropins_check_tensor_and_generator(function):
    args = ("he_normal",) if function == "init_" else ()
    with raises(rf"{function}: generator must be a torch.Generator or None; received 3\. Make "
                r"one with torch.Generator\(\).manual_seed\(0\)"):
        getattr(pit, function)(torch.empty(4, 4), *args, generator=3)
    with raises(rf"{function}: tensor must be a torch.Tensor; received \[1, 2\] \(list\)\. "
                "Pass the parameter itself"):
        getattr(pit, function)([1, 2], *args)


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


@pytest.mark.parametrize("z", [-1, 0, float("nan"), float("inf"), "5", True])
def test_audit_z_must_be_positive_and_finite(z):
    with raises(r"z must be (a finite number|> 0); received"):
        pit.audit(torch.nn.Linear(3, 3), z=z)


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


_ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.just(HUGE),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4), st.just(SURROGATE),
    st.sampled_from(["fan_in", "fan_out", "relu", "qr", "torch", "jax", "normal"]),
    st.lists(st.integers(-2, 4), max_size=3), st.just(np.int64(2)), st.just(np.float32(0.5)),
    st.just(np.bool_(True)), st.just({}), st.just(1.7),
)
_OPTION_NAMES = sorted({name for entry in pi.schemes() for name in entry.defaults}
                       | {"groups", "transposed", "stride", "fan_convention", "in_axis",
                          "out_axis", "layout"})
_SHAPES = st.one_of(st.lists(st.integers(0, 5), max_size=4), _ODD)


def _only_init_error(call) -> None:
    try:
        call()
    except InitError as error:
        assert "\n" not in str(error).strip() or "explain" in str(error)
    except TypeError as error:  # Python's own message for a wrong call signature only
        assert re.search(r"(positional argument|keyword argument)", str(error)), error


@settings(derandomize=True, max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(scheme=st.sampled_from(sorted(pi.REGISTRY)), shape=_SHAPES,
       options=st.dictionaries(st.sampled_from(_OPTION_NAMES), _ODD, max_size=3),
       name=st.sampled_from(["", "w", SURROGATE]), seed=st.one_of(st.integers(-1, 2**65), _ODD))
def test_fuzz_core_and_numpy_raise_only_init_error(scheme, shape, options, name, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _only_init_error(lambda: pi.resolve(scheme, shape, **options))
        _only_init_error(lambda: pn.factory(scheme, **options))
        _only_init_error(lambda: pn.sample(scheme, (3, 4), seed=seed, name=name, **options))
        fan_options = {k: v for k, v in options.items() if k in (
            "groups", "transposed", "stride", "fan_convention", "in_axis", "out_axis", "layout")}
        _only_init_error(lambda: pi.compute_fans(shape, **fan_options))
        _only_init_error(lambda: pi.gain(options.get("nonlinearity", "leaky_relu"),
                                         options.get("gain")))


_DROPINS = ["uniform_", "normal_", "trunc_normal_", "constant_", "xavier_uniform_",
            "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
            "dirac_", "eye_"]


@settings(derandomize=True, max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(function=st.sampled_from(_DROPINS), args=st.lists(_ODD, max_size=3),
       shape=st.sampled_from([(3, 4), (4, 2, 3), (0, 3), (5,)]),
       dtype=st.sampled_from([torch.float32, torch.float16, torch.int64]),
       scheme=st.sampled_from(sorted(pi.REGISTRY)),
       options=st.dictionaries(st.sampled_from(_OPTION_NAMES), _ODD, max_size=2))
def test_fuzz_torch_dropins_raise_only_init_error(function, args, shape, dtype, scheme,
                                                  options):
    tensor = torch.zeros(shape, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _only_init_error(lambda: getattr(pit, function)(tensor, *args))
        _only_init_error(lambda: pit.init_(tensor, scheme, seed=0, **options))
    if dtype.is_floating_point:
        assert not torch.isnan(tensor).any() or math.prod(shape) == 0
