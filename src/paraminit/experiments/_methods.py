"""What a compare method is, and the rules it hands to the planner.

A method is a registry scheme with options (``he_normal:mode=fan_out``) or a model method
(``lsuv``). Either becomes rules for :func:`paraminit.torch.init`, the model-level path
every user of the library takes, so the planner decides which parameter is a weight, a
bias or a norm, and reads each weight's fans (and each gate's, for stacked weights):

* a scheme ``s`` with options ``o``: ``Rule(("weight", "recurrent"), s, **o)``, every
  weight matrix of a layer;
* biases: the preset ``"he"`` zeroes them, or, with ``bias_std`` > 0,
  ``Rule("bias", "normal", std=bias_std)``; every other parameter (norm scales, embeddings)
  gets the preset's values;
* a model method: its pre-init as such a rule (lsuv: ``orthogonal``), then the method
  itself on the data (:func:`paraminit.torch.lsuv`).

Every value comes from ``Stream(seed, <qualified parameter name>)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .._errors import InitError
from ..core.methods import format_method, parse_method
from ..core.schemes import get_scheme, resolve, validate
from ..core.spec import InitSpec
from ..torch import Plan, Rule, check_lsuv_options, init, lsuv

__all__ = [
    "MODEL_METHODS",
    "PRESET",
    "QUICK_METHODS",
    "TEXTBOOK_METHODS",
    "WEIGHTS_TEXT",
    "WEIGHT_ROLES",
    "Method",
    "bias_text",
    "describe_method",
    "initialise",
]

# The textbook methods (Qiu 2020, §7.3.1-7.3.3), in the order the book gives them.
TEXTBOOK_METHODS = (
    "zeros", "uniform", "normal", "fixed_variance_normal", "fixed_variance_uniform",
    "xavier_normal", "xavier_uniform", "he_normal", "he_uniform", "orthogonal", "msra",
)
# One of each failure mode and the fix, for --quick (and the tests).
QUICK_METHODS = ("zeros", "normal", "xavier_normal", "he_normal")

WEIGHT_ROLES = ("weight", "recurrent")  # the planner's roles a method initialises
PRESET = "he"  # for what no method rule takes: biases zeros, norm scales 1, shifts 0


def _apply_lsuv(model: nn.Module, inputs: torch.Tensor, seed: int,
                options: Mapping[str, Any]) -> None:
    lsuv(model, inputs, seed=seed, **options)


def _keyword_defaults(function: Callable[..., Any]) -> dict[str, Any]:
    """The keyword-only parameters of ``function`` but ``seed`` (a run's own), with their
    defaults: the options a model method takes from ``name:key=value``, or resolve()'s fan
    options."""
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.kind is p.KEYWORD_ONLY and name != "seed"}


def _keyword_options(function: Callable[..., Any]) -> tuple[str, ...]:
    return tuple(_keyword_defaults(function))


# resolve()'s fan options but fan_convention: the planner reads them from each layer.
_LAYER_FAN_OPTIONS = frozenset(_keyword_options(resolve)) - {"fan_convention"}

# Methods that are not per-tensor registry schemes: they need the model and data. The
# planner first writes ``pre_init`` (a registry scheme) to every weight, then
# ``apply(model, inputs, seed, options)`` initialises them from the data.
MODEL_METHODS: dict[str, dict[str, Any]] = {
    "lsuv": {
        "apply": _apply_lsuv,
        "pre_init": "orthogonal",  # lsuv's own step 1, on the same streams
        "summary": "LSUV: orthonormal pre-init, then each layer in forward order rescaled "
                   "until its output std on the probe batch is 1 (within tol)",
        "formula": "W <- orthogonal; repeat W <- W / std(layer output) while |std - 1| >= tol",
        "paper": "Mishkin & Matas 2016, 'All you need is a good init', ICLR, Algorithm 1",
        "options": _keyword_options(lsuv),
        "defaults": _keyword_defaults(lsuv),
        "check": check_lsuv_options,
    },
}


@dataclass(frozen=True)
class Method:
    """A registry scheme with its options, applied to every weight of the network, or a
    model method (``lsuv``) with its options."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        """The canonical registry name (aliases resolved), or the model method's name."""
        if self.name in MODEL_METHODS:
            return self.name
        return get_scheme(self.name).name

    @property
    def label(self) -> str:
        """``name`` or ``name:key=value,...`` as typed on the command line."""
        return format_method(self.name, self.options)

    @classmethod
    def coerce(cls, value: Method | str | tuple[str, Mapping[str, Any]]) -> Method:
        """From a Method, ``"he_normal:mode=fan_out"`` or ``("he_normal", {...})``."""
        if isinstance(value, Method):
            return value
        if isinstance(value, str):
            name, options = parse_method(value, model_methods=tuple(MODEL_METHODS))
            return cls(name, options)
        name, options = value
        if name not in MODEL_METHODS:
            get_scheme(name)
        return cls(name, dict(options))

    def rules(self, bias_std: float = 0.0) -> list[Rule]:
        """The rules handed to ``paraminit.torch.init`` (with ``preset=PRESET``):
        ``Rule(WEIGHT_ROLES, scheme, **options)`` (a model method: its ``pre_init`` scheme,
        no options), then ``Rule("bias", "normal", std=bias_std)`` if ``bias_std`` > 0.

        Raises:
            InitError: an unknown option or a bad value, naming the method.
        """
        about = MODEL_METHODS.get(self.name)
        try:
            if about is None:
                fixed = sorted(_LAYER_FAN_OPTIONS & set(self.options))
                if fixed:
                    raise InitError(f"option(s) {', '.join(fixed)} describe the layer, and the "
                                    "planner reads them from each module; drop them")
                validate(self.name, self.options)
                weights = Rule(WEIGHT_ROLES, self.name, **self.options)
            else:
                unknown = sorted(set(self.options) - set(about["options"]))
                if unknown:
                    raise InitError(f"unknown option(s) {', '.join(unknown)}; {self.name} "
                                    f"takes {', '.join(about['options'])}")
                about["check"](**self.options)
                weights = Rule(WEIGHT_ROLES, about["pre_init"])
        except InitError as error:
            raise InitError(f"method {self.label!r}: {error}") from None
        biases = [Rule("bias", "normal", std=bias_std)] if bias_std != 0 else []
        return [weights, *biases]


WEIGHTS_TEXT = (f"paraminit.torch.init(model, rules, seed=seed, preset={PRESET!r}), rules = "
                f"[Rule({WEIGHT_ROLES!r}, method, **options)] and the biases' rule; values "
                "from Stream(seed, <parameter name>). lsuv: its orthogonal pre-init so, then "
                "paraminit.torch.lsuv(model, <probe batch>, seed=seed, **options)")


def bias_text(bias_std: float) -> str:
    """How the biases are initialised, in words (the settings' ``biases``)."""
    if bias_std == 0:
        return f"zeros (preset {PRESET!r}: every bias)"
    return (f"N(0, {bias_std:g}^2): Rule('bias', 'normal', std={bias_std:g}), every bias on "
            "its own stream")


def _init(model: nn.Module, method: Method, seed: int, bias_std: float, *,
          dry_run: bool = False) -> Plan:
    return init(model, method.rules(bias_std), seed=seed, preset=PRESET, dry_run=dry_run)


def _weight_rows(plan: Plan) -> list[Any]:
    return [row for row in plan if row.status == "init" and row.role in WEIGHT_ROLES]


def initialise(model: nn.Module, method: Method, seed: int, *, bias_std: float = 0.0,
               inputs: torch.Tensor | None = None) -> dict[str, InitSpec]:
    """Initialise ``model`` in place as a compare run does; returns the weight specs.

    ``paraminit.torch.init(model, method.rules(bias_std), seed=seed, preset="he")``: every
    weight (roles ``weight`` and ``recurrent``) by the method's scheme, keyed
    ``Stream(seed, <qualified name>)``; biases zero, or N(0, bias_std²) on their own
    streams. A model method (``lsuv``) then runs on ``inputs``
    (``paraminit.torch.lsuv(model, inputs, seed=seed, **options)``) and returns no specs.

    Returns:
        ``{weight name (or block name): InitSpec}`` of the plan (empty for a model method,
        whose scale comes from the data).
    """
    model_method = MODEL_METHODS.get(method.name)
    if model_method is not None and inputs is None:
        raise InitError(f"method {method.name!r} needs inputs: the batch it measures "
                        "outputs on")
    plan = _init(model, method, seed, bias_std)
    if model_method is not None:
        model_method["apply"](model, inputs, seed, method.options)
        return {}
    return {row.name: row.spec for row in _weight_rows(plan)}


def describe_method(method: Method, model: nn.Module, *, bias_std: float = 0.0) -> dict[str, Any]:
    """Summary, formula, paper, notes, the option values it runs with (``settings``: the
    given ``options`` over the scheme's defaults) and, per distinct weight shape of
    ``model``, the spec the planner resolves (fans read, std/bound used; ``explain()``).
    Changes nothing.

    Raises:
        InitError: bad options, or a scheme that does not fit a weight, naming the method.
    """
    about = MODEL_METHODS.get(method.name)
    if about is not None:
        method.rules(bias_std)  # checks the options
        return {"method": method.label, "scheme": method.name, "options": dict(method.options),
                "settings": {**about["defaults"], **method.options},
                "summary": about["summary"], "formula": about["formula"],
                "paper": about["paper"], "notes": [], "specs": []}
    try:
        plan = _init(model, method, 0, bias_std, dry_run=True)
    except InitError as error:
        if str(error).startswith("method "):
            raise
        raise InitError(f"method {method.label!r}: {error}") from None
    by_spec: dict[tuple[tuple[int, ...], str], list[Any]] = {}
    for row in _weight_rows(plan):  # one entry per distinct shape (and fans, if they differ)
        by_spec.setdefault((row.shape, row.spec.explain()), []).append(row)
    specs = []
    for (shape, explain), rows in by_spec.items():
        spec = rows[0].spec
        fans = spec.fans
        specs.append({
            "parameters": [row.name for row in rows], "shape": list(shape), "std": spec.std,
            "bound": spec.bound, "fan_in": fans.fan_in if fans else None,
            "fan_out": fans.fan_out if fans else None, "explain": explain,
        })
    scheme = get_scheme(method.name)
    return {"method": method.label, "scheme": scheme.name, "options": dict(method.options),
            "settings": {**scheme.defaults, **method.options},
            "summary": scheme.summary, "formula": scheme.formula, "paper": scheme.paper,
            "notes": list(scheme.notes), "specs": specs}
