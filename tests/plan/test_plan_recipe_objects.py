"""A recipe object (any callable from descriptions to rules) works as rules= and preset=."""

from __future__ import annotations

import pytest

from paraminit import InitError
from paraminit.plan import ParamInfo, Rule, resolve_plan
from paraminit.plan.recipes import normalise

PARAMS = [ParamInfo("fc.weight", (4, 8), role="weight", kind="linear"),
          ParamInfo("fc.bias", (4,), role="bias", kind="bias")]


def small(params):
    return [Rule("role:weight", "normal", std=0.02), Rule("role:bias", "zeros")]


def test_a_recipe_function_is_a_preset_named_after_it():
    rules, preset = normalise(small, "he")
    plan = resolve_plan(PARAMS, rules, preset, seed=0)
    assert plan.preset == "small" and plan["fc.weight"].rule == "preset 'small'"
    assert plan["fc.weight"].spec.std == pytest.approx(0.02)


def test_user_rules_come_before_the_recipe():
    rules, preset = normalise([Rule("fc.bias", "constant", value=0.1)], small)
    plan = resolve_plan(PARAMS, rules, preset, seed=0)
    assert plan["fc.bias"].spec.mean == pytest.approx(0.1)
    assert plan["fc.weight"].rule == "preset 'small'"


def test_a_recipe_object_names_itself():
    class Named:
        name = "tiny(std=0.01)"

        def __call__(self, params):
            return [Rule("*", "normal", std=0.01)]

    plan = resolve_plan(PARAMS, [], normalise(Named(), "he")[1], seed=0)
    assert plan.preset == "tiny(std=0.01)"


def test_a_recipe_that_returns_no_rules_is_an_error():
    with pytest.raises(InitError, match=r"recipe 'broken' must return a list of Rule; returned"):
        def broken(params):
            return "he"
        resolve_plan(PARAMS, [], broken, seed=0)


def test_a_class_is_no_recipe():
    with pytest.raises(InitError, match=r"rules must be None, a preset name .*a recipe"):
        normalise(int, "he")
