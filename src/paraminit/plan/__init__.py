"""The framework-neutral planner: parameter descriptions, rules, recipes, plans.

An adapter supplies two things: *describe* (a model's parameters as :class:`ParamInfo`)
and *apply* (write a :class:`Plan`'s values into the model). Everything between — which
rule takes which parameter, presets as recipes, fans per block, std and learning-rate
multipliers, rules as JSON/TOML — lives here and imports no framework.

Example:
    >>> from paraminit.plan import Kind, ParamInfo, Rule, resolve_plan
    >>> params = [ParamInfo("fc.weight", (32, 64), role="weight", kind=Kind.LINEAR),
    ...           ParamInfo("fc.bias", (32,), role="bias", kind=Kind.BIAS)]
    >>> plan = resolve_plan(params, [Rule("fc.weight", "xavier_normal")], "he", seed=0)
    >>> [(row.name, row.scheme) for row in plan]
    [('fc.weight', 'xavier_normal'), ('fc.bias', 'zeros')]
"""

from __future__ import annotations

from ._io import (
    load_rules,
    rules_from_json,
    rules_from_toml,
    rules_to_json,
    rules_to_toml,
)
from ._param import ROLES, BlockPlace, Kind, ParamInfo
from ._resolve import InitWarning, Plan, PlanRow, resolve_plan
from ._rules import MODEL_OPTIONS, IsInstance, Rule, as_rules
from ._types import TypeNamespace, qualified_name, register_namespace, resolve_type
from .recipes import PRESETS, Recipe, check_preset, recipe_names, register_recipe

__all__ = [
    "MODEL_OPTIONS",
    "PRESETS",
    "ROLES",
    "InitWarning",
    "IsInstance",
    "Kind",
    "BlockPlace",
    "ParamInfo",
    "Plan",
    "PlanRow",
    "Recipe",
    "Rule",
    "TypeNamespace",
    "as_rules",
    "check_preset",
    "load_rules",
    "qualified_name",
    "recipe_names",
    "register_namespace",
    "register_recipe",
    "resolve_plan",
    "resolve_type",
    "rules_from_json",
    "rules_from_toml",
    "rules_to_json",
    "rules_to_toml",
]
