"""Messages that help: nearest names for a mistyped choice (issue 15, item 7)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import paraminit as pi
from paraminit import InitError
from paraminit.core import validate


def test_an_unknown_scheme_suggests_the_nearest_names():
    with pytest.raises(InitError, match=r"received 'he_nromal'; did you mean 'he_normal'"):
        pi.resolve("he_nromal", (3, 3))
    with pytest.raises(InitError, match=r"received 'xavier'; did you mean 'xavier_normal' or "
                                        r"'xavier_uniform'\?$"):
        pi.resolve("xavier", (3, 3))


def test_a_mistyped_option_word_suggests_the_right_one():
    with pytest.raises(InitError, match=r"received 'fan_inn'; did you mean 'fan_in'\?"):
        pi.resolve("he_normal", (3, 3), mode="fan_inn")
    with pytest.raises(InitError, match=r"nonlinearity must be one of .*received 'rleu'; did "
                                        r"you mean 'relu'"):
        pi.resolve("he_normal", (3, 3), nonlinearity="rleu")


@pytest.mark.parametrize("value", ["qqqq", 3, None, ""])
def test_no_suggestion_for_nothing_close(value):
    with pytest.raises(InitError) as info:
        validate.choice("mode", value, ("fan_in", "fan_out"))
    assert "did you mean" not in str(info.value)


def test_compare_takes_every_activation_with_a_gain():
    pytest.importorskip("torch")
    from paraminit.core.gains import ACTIVATION_NAMES, GAINS
    from paraminit.experiments._models import ACTIVATIONS

    assert set(GAINS) - set(ACTIVATIONS) == {f"conv{t}{d}d" for t in ("", "_transpose")
                                             for d in (1, 2, 3)}
    assert tuple(sorted(ACTIVATIONS)) == ACTIVATION_NAMES  # what --activation offers


def test_a_gain_word_that_is_no_nonlinearity_names_gain():
    with pytest.raises(InitError, match=r"^gain must be a number > 0 or a nonlinearity name "
                                        r"\('conv1d'.*received 'rleu'; did you mean 'relu'"):
        pi.resolve("xavier_normal", (4, 4), gain="rleu")


def test_explain_help_documents_layout_and_groups():
    import contextlib
    import io

    pytest.importorskip("rich")  # the CLI's tables
    from paraminit.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["explain", "--help"]) == 0
    text = " ".join(out.getvalue().split())
    assert "how the shape's axes are read: torch (out, in, *kernel)" in text
    assert "convolution groups: fans per group (default 1)" in text


def test_sample_elements_takes_a_scheme_name_like_sample():
    import numpy as np

    import paraminit.numpy as pn

    part = pn.sample_elements("he_uniform", (30, 20), seed=4, name="w", start=17, stop=333,
                              mode="fan_out")
    whole = pn.sample("he_uniform", (30, 20), seed=4, name="w", mode="fan_out")
    np.testing.assert_array_equal(part, whole.ravel()[17:333])
    with pytest.raises(InitError, match=r"scheme_or_spec must be a registry name"):
        pn.sample(None, (3,), seed=0)


def test_formulas_read_one_way():
    # "scale / (fan_in + fan_out)/2" reads as (scale / (fan_in + fan_out)) / 2
    xavier = pi.resolve("xavier_normal", (64, 32)).formula
    assert "Var = scale / ((fan_in + fan_out) / 2)" in xavier and "Var = 1 / 48" in xavier
    # "-5^2" reads as -(5^2)
    leaky = pi.resolve("he_normal", (64, 32), nonlinearity="leaky_relu", slope=-5).formula
    assert "scale = 2 / (1 + (-5)^2)" in leaky and "std = 0.04902903" in leaky


_NUMBER = re.compile(r"(?<![\w.])\d+\.\d+(?:e[-+]?\d+)?")


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(pi.REGISTRY)),
       shape=st.lists(st.integers(1, 300), min_size=2, max_size=4).map(tuple),
       gain=st.floats(1e-3, 1e3))
def test_formulas_print_no_float_noise(name, shape, gain):
    """Every number a formula prints has at most 7 significant digits (no 2.0000000000000004)."""
    options = {"gain": gain} if "gain" in pi.get_scheme(name).defaults else {}
    try:
        spec = pi.resolve(name, shape, **options)
    except InitError:  # a shape the scheme does not take (delta_orthogonal needs out >= in, ...)
        return
    for number in _NUMBER.findall(spec.formula):
        digits = number.split("e")[0].replace(".", "").lstrip("0")
        assert len(digits) <= 7, (number, spec.formula)
