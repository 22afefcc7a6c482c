"""``paraminit explain --model pkg.module:factory``: a model's init plan and audit."""

from __future__ import annotations

import json
import os
import sys
import warnings
from importlib import import_module
from typing import Any

import torch.nn as nn

from .._errors import InitError
from ..plan import load_rules
from ..report.terminal import render_table
from ._model import audit, init

__all__ = ["explain_model", "load_factory"]


def load_factory(target: str) -> nn.Module:
    """Import ``pkg.module:factory``, call ``factory()`` and check it returns a module."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise InitError(f"--model must be pkg.module:factory (a callable building the model "
                        f"with no arguments); received {target!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: modules here are found
    try:
        module = import_module(module_name)
    except ImportError as error:
        raise InitError(f"--model {target!r}: cannot import {module_name!r} ({error}); check "
                        "the module path and PYTHONPATH") from None
    factory = module
    for part in attribute.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise InitError(f"--model {target!r}: {module_name!r} has no attribute "
                            f"{attribute!r}")
    if not callable(factory):
        raise InitError(f"--model {target!r}: {attribute!r} is not callable")
    model = factory()
    if not isinstance(model, nn.Module):
        raise InitError(f"--model {target!r}: {attribute}() returned "
                        f"{type(model).__name__}, not a torch.nn.Module")
    return model


def explain_model(target: str, *, rules: str | None = None, preset: str = "he",
                  as_json: bool = False) -> int:
    """Print the dry-run plan of ``init(factory(), rules)`` and its structural audit."""
    model = load_factory(target)
    rule_list: Any = load_rules(rules) if rules is not None else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = init(model, rule_list, preset=preset, dry_run=True)
    records = audit(model, plan, std=False)  # a dry run: values are the constructor's
    messages = [str(w.message) for w in caught]
    if as_json:
        print(json.dumps({"model": target, "preset": plan.preset, "seed": plan.seed,
                          "plan": plan.to_records(),
                          "audit": [r.to_dict() for r in records],
                          "std_now": records.measured,
                          "warnings": messages}, indent=2))
        return 0
    # the plan beside the std the constructor's values have now (a dry run changes none)
    columns, rows = records.table()
    columns = (*columns[:-2], "std now", columns[-1])
    render_table(f"init plan of {target} (preset {plan.preset!r}, seed {plan.seed})",
                 columns, rows)  # rich, for terminals; print(plan) is the plain form
    if records:
        render_table("audit", ("kind", "name", "message"),
                     [(r.kind, r.name, r.message) for r in records])
    else:
        print("audit: every parameter is covered, none is initialised twice")
    for message in messages:
        print(f"warning: {message}")
    return 0
