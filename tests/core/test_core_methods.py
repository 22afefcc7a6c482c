"""The method grammar ``name:key=value,...``: round trips, errors, no framework imported."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraminit import InitError
from paraminit.core.methods import format_method, parse_method, parse_methods
from paraminit.core.schemes import ALIASES, REGISTRY

SRC = str(Path(__file__).resolve().parents[2] / "src")
NAMES = sorted([*REGISTRY, *ALIASES])
_KEY_CHARS = st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="_")
keys = st.text(_KEY_CHARS, min_size=1, max_size=12)
words = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,11}", fullmatch=True).filter(
    lambda w: w.lower() not in ("true", "false", "none", "null", "nan", "inf", "infinity"))
values = st.one_of(
    st.booleans(), st.none(), st.integers(-10**30, 10**30),
    st.floats(allow_nan=False, allow_infinity=False), words)
methods = st.tuples(st.sampled_from(NAMES), st.dictionaries(keys, values, max_size=5))


def _same(a: object, b: object) -> bool:
    """Equal and of the same type (1 and 1.0 and True are different option values)."""
    return type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a)))


@given(methods)
def test_parse_of_format_gives_the_method_back(method):
    name, options = method
    text = format_method(name, options)
    parsed_name, parsed = parse_method(text)
    assert parsed_name == name and list(parsed) == list(options)
    assert all(_same(parsed[k], options[k]) for k in options), (text, parsed, options)


@given(methods)
def test_format_of_parse_gives_the_text_back(method):
    text = format_method(*method)
    assert format_method(*parse_method(text)) == text


@given(methods, st.data())
def test_spaces_and_case_read_the_same(method, data):
    """Spaces around keys and values, and TRUE/None in any case: the same method."""
    name, options = method
    items = []
    for key, value in options.items():
        written = format_method("x", {key: value}).split("=", 1)[1]
        if isinstance(value, bool) or value is None:
            written = data.draw(st.sampled_from([written.upper(), written.lower()]))
        items.append(f" {key} = {written} ")
    text = name + (":" + ",".join(items) if items else "")
    assert format_method(*parse_method(text)) == format_method(name, options)


def test_examples():
    assert parse_method("he_normal:mode=fan_out,slope=0.1,center=TRUE,x=none") == (
        "he_normal", {"mode": "fan_out", "slope": 0.1, "center": True, "x": None})
    assert parse_method("kaiming_normal") == ("kaiming_normal", {})  # kept as written
    assert parse_method("lsuv:tol=0.05", model_methods=("lsuv",)) == ("lsuv", {"tol": 0.05})
    assert format_method("orthogonal", {"gain": 2}) == "orthogonal:gain=2"
    assert format_method("orthogonal", {"gain": 2.0}) == "orthogonal:gain=2.0"
    assert format_method("lsuv", {"center": True, "tol": 1e-05}) == "lsuv:center=True,tol=1e-05"
    assert format_method("zeros") == format_method("zeros", {}) == "zeros"
    assert parse_methods(["zeros,he_normal:mode=fan_out,slope=0.1", "xavier_normal"]) == [
        ("zeros", {}), ("he_normal", {"mode": "fan_out", "slope": 0.1}), ("xavier_normal", {})]


@pytest.mark.parametrize(("text", "message"), [
    ("he_nomal", "scheme must be one of: "),
    ("lsuv", "scheme must be one of: "),  # only with model_methods=("lsuv",)
    ("he_normal:mode", "method 'he_normal:mode': option 'mode' is not key=value; write e.g. "
                       "'he_normal:mode=fan_out,slope=0.1'"),
    ("he_normal:=3", "option '=3' is not key=value"),
    ("he_normal:mode=", "option 'mode=' is not key=value"),
    ("he_normal:mode=fan_in,,slope=1", "option '' is not key=value"),
    ("he_normal:mode=fan_in,mode=fan_out", "option 'mode' is given twice; keep one"),
])
def test_parse_errors(text, message):
    with pytest.raises(InitError) as error:
        parse_method(text)
    assert message in str(error.value)


def test_parse_rejects_a_non_string():
    with pytest.raises(InitError, match="a method must be a str such as 'he_normal:mode=fan_out"
                                        "'; received 3"):
        parse_method(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("texts", "message"), [
    (["mode=fan_in"], "--methods: option 'mode=fan_in' comes before any method"),
    (["zeros,mode=fan_in"], "--methods: option 'mode=fan_in' follows 'zeros', which has no "
                            "':'; write 'zeros:mode=fan_in'"),
    ([" , "], "--methods needs at least one scheme"),
])
def test_parse_methods_errors(texts, message):
    with pytest.raises(InitError) as error:
        parse_methods(texts)
    assert message in str(error.value)


@pytest.mark.parametrize(("name", "options", "message"), [
    ("he:normal", {}, "the name must be a non-empty str without spaces at its ends and "
                      "without ':', ',' or '='; received 'he:normal'"),
    ("", {}, "the name must be a non-empty str"),
    ("normal", {" std": 1}, "an option name must be a non-empty str without "
                          "spaces at its ends"),
    ("normal", {"a,b": 1}, "received 'a,b'"),
    ("he_normal", {"mode": "fan=in"}, "the value of 'mode' must be a non-empty str"),
    ("he_normal", {"mode": "3"}, "the value of 'mode' must be a number, a bool, None or a word "
                                 "that does not read as one of those; received '3'"),
    ("he_normal", {"mode": "True"}, "received 'True'"),
    ("he_normal", {"stride": (2, 2)}, "received (2, 2)"),
])
def test_format_errors_name_what_would_not_read_back(name, options, message):
    with pytest.raises(InitError) as error:
        format_method(name, options)
    assert message in str(error.value)


def test_the_grammar_imports_no_framework():
    code = ("import sys; from paraminit.core.methods import parse_method; "
            "parse_method('he_normal:mode=fan_out'); "
            "heavy = {'torch', 'jax', 'tensorflow', 'matplotlib'} & set(sys.modules); "
            "sys.exit(f'imported {heavy}' if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": SRC},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_an_unknown_method_lists_the_model_level_methods_too():
    with pytest.raises(InitError, match=r"received 'he_nromal'; did you mean 'he_normal'.*; or "
                                        r"a model-level method: 'lsuv'$"):
        parse_method("he_nromal", model_methods=("lsuv",))
    with pytest.raises(InitError) as info:
        parse_method("he_nromal")
    assert "model-level" not in str(info.value)
