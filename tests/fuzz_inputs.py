"""Inputs shared by the fuzz tests of the core (``tests/``) and of the torch drop-ins
(``tests/torch_dropin/``): framework-free, so the core's fuzz runs where torch is absent."""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import paraminit as pi
from paraminit import InitError

# ---------------------------------------------------------------------------------------
# every scheme x shape x dtype x option value (tests/test_fuzz_schemes.py)

EXAMPLES = int(os.environ.get("PARAMINIT_FUZZ_EXAMPLES", "250"))
FUZZ = settings(derandomize=True, max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

SCHEMES = sorted(s.name for s in pi.schemes())
DEFAULTS = {s.name: s.defaults for s in pi.schemes()}
# Valid and invalid words for the string options.
WORDS = ["fan_in", "fan_out", "fan_avg", "average", "relu", "leaky_relu", "tanh", "linear",
         "selu", "sigmoid", "normal", "uniform", "truncated_normal", "qr", "svd", "jax",
         "torch", "bogus", ""]
NUMBERS = st.one_of(
    st.floats(-3.0, 3.0),
    st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e-8, 1e8, 1e38, 1e39, 65504.0,
                     70000.0, 1e300, -1e300, math.inf, -math.inf, math.nan]),
    st.integers(-10, 10),
    st.integers(2**62, 2**70),
)
SHAPES = st.lists(st.integers(0, 6), min_size=0, max_size=4).map(tuple)


@st.composite
def scheme_calls(draw):
    """(scheme, shape, options): each option kept at its default or drawn, valid or not."""
    scheme = draw(st.sampled_from(SCHEMES))
    options = {}
    for name, default in DEFAULTS[scheme].items():
        if not draw(st.booleans()):
            continue  # keep the default
        if isinstance(default, str):
            options[name] = draw(st.sampled_from(WORDS))
        else:
            options[name] = draw(NUMBERS)
    return scheme, draw(SHAPES), options


def assert_within(values: np.ndarray, spec) -> None:
    """Finite, and inside the law's bounds where it has them."""
    assert np.isfinite(values).all()
    if spec.bounds is not None and values.size:
        low, high = spec.bounds
        assert values.min() >= low and values.max() <= high


# ---------------------------------------------------------------------------------------
# odd argument values: only InitError escapes (tests/test_reliability_validation.py)

HUGE = 10**400  # beyond float64: float(HUGE) raises OverflowError
SURROGATE = "w\ud800"  # a lone surrogate: UTF-8 cannot encode it

ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.just(HUGE),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4), st.just(SURROGATE),
    st.sampled_from(["fan_in", "fan_out", "relu", "qr", "torch", "jax", "normal"]),
    st.lists(st.integers(-2, 4), max_size=3), st.just(np.int64(2)), st.just(np.float32(0.5)),
    st.just(np.bool_(True)), st.just({}), st.just(1.7),
)
OPTION_NAMES = sorted({name for entry in pi.schemes() for name in entry.defaults}
                      | {"groups", "transposed", "stride", "fan_convention", "in_axis",
                         "out_axis", "layout"})


def raises(pattern: str):
    """InitError whose message matches ``pattern`` (a regex, searched)."""
    return pytest.raises(InitError, match=pattern)


def only_init_error(call) -> None:
    """``call()`` returns, or raises an InitError of one line (an ``explain`` hint may add
    more), or a TypeError of Python's own for a wrong call signature; nothing else."""
    try:
        call()
    except InitError as error:
        assert "\n" not in str(error).strip() or "explain" in str(error)
    except TypeError as error:  # Python's own message for a wrong call signature only
        assert re.search(r"(positional argument|keyword argument)", str(error)), error
