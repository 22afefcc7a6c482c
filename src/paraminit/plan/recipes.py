"""Presets as recipes: functions from parameter descriptions to rules.

A recipe reads the model's :class:`~paraminit.plan.ParamInfo` (and its own
hyper-parameters) and returns the rules that initialise it; a preset is a recipe the
planner falls back to for every parameter no user rule takes. A new recipe is one function,
registered with :func:`register_recipe`, not a branch in the planner.

The built-in presets (He et al. 2015, "Delving Deep into Rectifiers", §2.2; Glorot & Bengio
2010, §4.2; LeCun et al. 1998, "Efficient BackProp", §4.6; Saxe, McClelland & Ganguli 2014,
§3): weights of Linear/Conv/ConvTranspose/Bilinear/attention/RNN input projections get the
preset's scheme on each block's own fans; RNN recurrent weights are orthogonal per gate;
biases 0; norm scale 1, shift 0; embeddings N(0, 1). ``torch_default`` gives the laws
torch's ``reset_parameters`` uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .._errors import InitError
from ..core import validate
from ..core.stream import _check_seed
from ._param import Kind, ParamInfo
from ._rules import Rule, as_rules, bias_law

__all__ = ["PRESETS", "Recipe", "check_preset", "normalise", "preset_label", "preset_rules",
           "recipe_names", "tied_outputs",
           "register_recipe", "torch_default", "weight_recipe"]

Recipe = Callable[[Sequence[ParamInfo]], list[Rule]]

# torch's kaiming_uniform_(a=sqrt(5)): gain^2 = 2/(1 + 5) = 1/3, so the He-uniform bound
# gain*sqrt(3/fan_in) is 1/sqrt(fan_in) (torch's default Linear/Conv weight init).
_TORCH_SLOPE = math.sqrt(5.0)
_RNN_KINDS = (Kind.RNN_INPUT, Kind.RNN_RECURRENT, Kind.RNN_PROJECTION, Kind.RNN_BIAS_INPUT,
              Kind.RNN_BIAS_RECURRENT)


def _kinds(*kinds: Kind) -> tuple[str, ...]:
    return tuple(f"kind:{kind.value}" for kind in kinds)


def _common() -> list[Rule]:
    """What every built-in preset does to norms and embeddings (torch's own choices)."""
    return [Rule(_kinds(Kind.NORM_SCALE), "ones"), Rule(_kinds(Kind.NORM_SHIFT), "zeros"),
            Rule(_kinds(Kind.EMBEDDING), "normal", std=1.0),
            # timm's ViT (trunc_normal_(std=.02), effectively N(0, 0.02^2)), BERT, GPT-2
            Rule(_kinds(Kind.LEARNED_INPUT), "normal", std=0.02)]


def tied_outputs(params: Sequence[ParamInfo], scheme: str, **options: Any) -> list[Rule]:
    """An embedding tied to an output projection (a language model's ``lm_head``) gets the
    projection's law, ``scheme`` on the shared (vocab, d) weight's fans, not an
    embedding's N(0, 1): as the projection's weight N(0, 1) would give logits of std ~sqrt(d).
    """
    return [Rule(f"name:{info.name}", scheme, **options)
            for info in params if info.kind == Kind.EMBEDDING
            for alias in info.aliases[:1] if alias.kind == Kind.LINEAR]


def weight_recipe(scheme: str) -> Recipe:
    """Weights by ``scheme`` (per block), recurrent weights orthogonal, biases 0."""

    def recipe(params: Sequence[ParamInfo]) -> list[Rule]:
        return [*tied_outputs(params, scheme), *_common(), Rule("role:bias", "zeros"),
                Rule("role:recurrent", "orthogonal"), Rule("role:weight", scheme)]

    recipe.__doc__ = (f"Weights {scheme}, recurrent weights orthogonal, biases 0; an "
                      f"embedding tied to an output projection {scheme} too.")
    return recipe


def _every_description(params: Iterable[ParamInfo]) -> Iterable[ParamInfo]:
    for info in params:
        yield info
        yield from info.aliases


def _by_bias_fan(params: Iterable[ParamInfo], kinds: Sequence[Kind],
                 **options: bool) -> list[Rule]:
    """torch's bias law (:func:`~paraminit.plan._rules.bias_law`: U(-1/sqrt(fan),
    1/sqrt(fan)), 0 when the fan is 0) for the parameters of ``kinds``, one rule per distinct
    law, selecting them by exact name."""
    names: dict[tuple[str, tuple[tuple[str, Any], ...]], list[str]] = {}
    for info in _every_description(params):
        if info.kind in kinds:
            scheme, law = bias_law("torch", info)
            names.setdefault((scheme, tuple(law.items())), []).append(f"name:{info.name}")
    return [Rule(tuple(selected), scheme, **dict(law), **options)
            for (scheme, law), selected in names.items()]


def torch_default(params: Sequence[ParamInfo]) -> list[Rule]:
    """The laws torch's ``reset_parameters`` draws (torch 2.x ``nn.modules``):

    RNNs every parameter U(+-1/sqrt(hidden)); MultiheadAttention ``xavier_uniform_`` on the
    whole in-projection, ``xavier_normal_`` on ``bias_k``/``bias_v``, zero in- and
    out-projection biases; Linear/Conv/ConvTranspose weights ``kaiming_uniform_(a=sqrt(5))``
    and biases, Bilinear weight and bias, U(+-1/sqrt(fan_in)), all with torch's fans.
    """
    return [
        *_common(),
        *_by_bias_fan(params, _RNN_KINDS, blocks=False),
        Rule(_kinds(Kind.ATTENTION_IN, Kind.ATTENTION_SEPARATE), "xavier_uniform", blocks=False,
             fan_convention="torch"),
        Rule(_kinds(Kind.ATTENTION_IN_BIAS, Kind.ATTENTION_OUT_BIAS), "zeros", blocks=False),
        Rule(_kinds(Kind.ATTENTION_BIAS_KV), "xavier_normal", fan_convention="torch"),
        *_by_bias_fan(params, (Kind.BILINEAR, Kind.BIAS)),
        Rule(_kinds(Kind.LINEAR, Kind.CONV, Kind.CONV_TRANSPOSE), "he_uniform",
             nonlinearity="leaky_relu", slope=_TORCH_SLOPE, fan_convention="torch"),
    ]


_RECIPES: dict[str, Recipe] = {
    "he": weight_recipe("he_normal"),
    "lecun": weight_recipe("lecun_normal"),
    "msra": weight_recipe("msra"),
    "orthogonal": weight_recipe("orthogonal"),
    "torch_default": torch_default,
    "xavier": weight_recipe("xavier_uniform"),
}
# The built-in presets; register_recipe adds more (recipe_names() lists them all).
PRESETS: tuple[str, ...] = tuple(sorted(_RECIPES))


def recipe_names() -> tuple[str, ...]:
    """Every preset name: the built-in ones and those registered."""
    return tuple(sorted(_RECIPES))


def register_recipe(name: str, recipe: Recipe) -> None:
    """Make ``recipe`` usable as a preset by ``name`` (``init(model, "name")``)."""
    validate.text("name", name)
    if not name or not callable(recipe):
        raise InitError(f"register_recipe needs a non-empty name and a callable from parameter "
                        f"descriptions to rules; received {name!r}, {validate.show(recipe)}")
    _RECIPES[name] = recipe


def _is_recipe(value: object) -> bool:
    """A recipe object: callable, and neither a name nor a class (``rules=nn.Linear``)."""
    return callable(value) and not isinstance(value, (str, type))


def check_preset(preset: object) -> str | Recipe:
    """A preset name (validated) or a recipe: any callable from descriptions to rules, such
    as ``paraminit.torch.recipes.gpt2()``."""
    if _is_recipe(preset):
        return preset
    return validate.choice("preset", preset, recipe_names())


def preset_label(preset: str | Recipe) -> str:
    """How a preset is named in plans: its name, or a recipe's ``name`` (or function name)."""
    if isinstance(preset, str):
        return preset
    return str(getattr(preset, "name", None) or getattr(preset, "__name__", type(preset).__name__))


def preset_rules(preset: str | Recipe, params: Sequence[ParamInfo]) -> list[Rule]:
    """The rules preset ``preset``'s recipe gives for ``params``."""
    recipe = check_preset(preset)
    rules = (_RECIPES[recipe] if isinstance(recipe, str) else recipe)(params)
    if not isinstance(rules, list) or not all(isinstance(r, Rule) for r in rules):
        raise InitError(f"recipe {preset_label(preset)!r} must return a list of Rule; "
                        f"returned {validate.show(rules)}")
    return rules


def normalise(rules: Any, preset: str | Recipe) -> tuple[list[Rule], str | Recipe]:
    """An ``init``'s ``rules`` (None, a preset name, a recipe, a Rule/dict or a sequence of
    them) and ``preset`` → (rules, preset), validated."""
    if rules is None:
        return [], check_preset(preset)
    if isinstance(rules, str) or _is_recipe(rules):
        return [], check_preset(rules)
    if isinstance(rules, (Rule, Mapping)):
        rules = [rules]
    if not isinstance(rules, Sequence):
        raise InitError(f"rules must be None, a preset name "
                        f"({', '.join(map(repr, recipe_names()))}), a recipe (a function from "
                        f"parameter descriptions to rules) or a list of Rule/dict; "
                        f"received {validate.show(rules)}")
    return as_rules(rules), check_preset(preset)


def init_arguments(seed: Any, rules: Any, preset: str | Recipe, protect: Any,
                   ) -> tuple[int, list[Rule], str | Recipe, tuple[str, ...]]:
    """The arguments every framework's model-level ``init`` shares, validated: (seed,
    rules, preset, protect patterns)."""
    seed = _check_seed(seed)
    rule_list, preset = normalise(rules, preset)
    patterns = (protect,) if isinstance(protect, str) else (
        tuple(protect) if isinstance(protect, Iterable) else None)
    if patterns is None or not all(isinstance(p, str) for p in patterns):
        raise InitError(f"protect must be parameter names or globs (str); received {protect!r}")
    return seed, rule_list, preset, patterns
