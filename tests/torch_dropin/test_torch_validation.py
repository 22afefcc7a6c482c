"""Issue 16, items 5 and 8, torch side: the drop-ins, ``init``, ``lsuv`` and ``audit``
validate their arguments and raise InitError naming the argument, the value and a fix; no
raw OverflowError, TypeError, AttributeError or UnicodeEncodeError escapes. The core's side,
with the shared fuzz inputs, is ``tests/test_reliability_validation.py``."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import paraminit as pi
from fuzz_inputs import HUGE, ODD, OPTION_NAMES, SURROGATE, only_init_error, raises

torch = pytest.importorskip("torch")
import paraminit.torch as pit  # noqa: E402


@pytest.mark.parametrize(("call", "pattern"), [
    (lambda: pit.calculate_gain("leaky_relu", HUGE), r"calculate_gain: param .* must be finite"),
    (lambda: pit.uniform_(torch.empty(3), -HUGE, HUGE),
     r"uniform_: a must be a real number within float64's range"),
    (lambda: pit.constant_(torch.empty(3), HUGE), r"constant_: torch.float32 cannot hold val"),
    (lambda: pit.lsuv(torch.nn.Linear(2, 2), torch.randn(4, 2), tol=HUGE),
     r"lsuv: tol must be a finite number > 0"),
])
def test_huge_ints_are_init_errors(call, pattern):
    with raises(pattern):
        call()


@pytest.mark.parametrize("call", [
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


@pytest.mark.parametrize("z", [-1, 0, float("nan"), float("inf"), "5", True])
def test_audit_z_must_be_positive_and_finite(z):
    with raises(r"z must be (a finite number|> 0); received"):
        pit.audit(torch.nn.Linear(3, 3), z=z)


# ---------------------------------------------------------------------------------------
# the fuzz: only InitError escapes

_DROPINS = ["uniform_", "normal_", "trunc_normal_", "constant_", "xavier_uniform_",
            "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
            "dirac_", "eye_"]


@settings(derandomize=True, max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(function=st.sampled_from(_DROPINS), args=st.lists(ODD, max_size=3),
       shape=st.sampled_from([(3, 4), (4, 2, 3), (0, 3), (5,)]),
       dtype=st.sampled_from([torch.float32, torch.float16, torch.int64]),
       scheme=st.sampled_from(sorted(pi.REGISTRY)),
       options=st.dictionaries(st.sampled_from(OPTION_NAMES), ODD, max_size=2))
def test_fuzz_torch_dropins_raise_only_init_error(function, args, shape, dtype, scheme,
                                                  options):
    tensor = torch.zeros(shape, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        only_init_error(lambda: getattr(pit, function)(tensor, *args))
        only_init_error(lambda: pit.init_(tensor, scheme, seed=0, **options))
    if dtype.is_floating_point:
        assert not torch.isnan(tensor).any() or math.prod(shape) == 0
