"""Rules: ``Rule(select, scheme, **options)`` and the selectors that say what a rule takes.

A rule says which parameters it takes (``select``) and how to initialise them (a registry
scheme with its options, plus model-level options). Rules are plain data: they round-trip
through dicts, JSON and TOML (:mod:`paraminit.plan._io`), are validated when built (unknown
keys, schemes and options are :class:`~paraminit.InitError` naming the rule) and are never
``eval``-ed or unpickled. Selectors read only :class:`~paraminit.plan.ParamInfo`; a type
selector matches qualified type names, or an adapter's ``isinstance`` hook when one is given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from .._errors import InitError
from ..core import validate as _validate
from ..core.fans import _CONVENTIONS
from ..core.schemes import get_scheme, validate
from ._param import ROLES, Kind, ParamInfo
from ._types import _NAMESPACES, is_layer_type, qualified_name, resolve_type

__all__ = ["MODEL_OPTIONS", "IsInstance", "Rule", "as_rules", "bias_law"]

# Options a rule takes besides its scheme's own (see Rule).
MODEL_OPTIONS: tuple[str, ...] = ("bias", "blocks", "fan_convention", "forget_bias", "lr_scale",
                                  "reason", "std_scale", "stride_aware")
_DICT_KEYS = ("options", "scheme", "select")
_GLOB_CHARS = re.compile(r"[*?\[]")
_PREFIXES = ("glob:", "kind:", "label:", "name:", "role:", "type:")

# An adapter's type test: whether the layer of this parameter is an instance of the type.
IsInstance = Callable[[ParamInfo, type], bool]


def _looks_like_type(text: str) -> bool:
    return text.rpartition(".")[2][:1].isupper()


def _frameworks() -> str:
    """The registered frameworks' prefixes, sorted so a message does not depend on which
    framework adapter was imported first."""
    prefixes = sorted(ns.prefix for ns in _NAMESPACES)
    if not prefixes:
        return "registered framework"
    return " or ".join([", ".join(prefixes[:-1]), prefixes[-1]] if len(prefixes) > 1 else prefixes)


class _Selector:
    """One alternative of a rule's ``select``.

    ``kind`` is ``"type"`` (``value`` the qualified name, ``cls`` the class when known),
    ``"glob"`` (on the qualified name), ``"name"`` (one exact name), ``"role"``, ``"kind"``
    (a :class:`Kind` value) or ``"label"``.
    """

    __slots__ = ("cls", "kind", "value")

    def __init__(self, kind: str, value: str, cls: type | None = None) -> None:
        self.kind, self.value, self.cls = kind, value, cls

    @classmethod
    def of_type(cls, found: type) -> _Selector:
        return cls("type", qualified_name(found), found)

    @classmethod
    def parse(cls, item: Any, where: str) -> _Selector:
        if isinstance(item, type):
            if not is_layer_type(item):
                raise InitError(
                    f"{where}: select type must be a layer class ({_frameworks()} layer); "
                    f"received {item!r}. Pass e.g. torch.nn.Linear"
                )
            return cls.of_type(item)
        if not isinstance(item, str) or not item:
            raise InitError(
                f"{where}: select must be a module type, a glob on parameter names, a role "
                f"({', '.join(map(repr, ROLES))}) or a tuple of those; received "
                f"{_validate.show(item)}"
            )
        _validate.text("select", item)
        for prefix in _PREFIXES:
            if item.startswith(prefix):
                return cls._explicit(prefix[:-1], item[len(prefix):], where)
        if item in ROLES:
            return cls("role", item)
        if not _GLOB_CHARS.search(item):
            found = resolve_type(item)
            if found is not None:
                return cls.of_type(found)
            if _looks_like_type(item):
                raise InitError(
                    f"{where}: select {item!r} names no {_frameworks()} type nor a module type "
                    "in an imported module; use a layer name of one of those ('Linear'), the "
                    "full dotted path of an imported class ('mypkg.blocks.Attention'), 'type:' "
                    "+ the dotted name of a type to match by name, or 'glob:' + a pattern for a "
                    "parameter name"
                )
        return cls("glob", item)

    @classmethod
    def _explicit(cls, kind: str, text: str, where: str) -> _Selector:
        if kind == "role":
            _validate.choice(f"{where}: role", text, ROLES)
        elif kind == "kind":
            _validate.choice(f"{where}: kind", text, [k.value for k in Kind])
        elif kind == "type":
            found = resolve_type(text)
            if found is not None:
                return cls.of_type(found)
            if "." not in text:
                raise InitError(f"{where}: select 'type:{text}' names no module type (a "
                                f"{_frameworks()} name, or a dotted path such as "
                                "'mypkg.blocks.Attention', matched by name)")
        elif not text:
            raise InitError(f"{where}: select '{kind}:' needs a value after the colon")
        return cls(kind, text)

    def matches(self, info: ParamInfo, is_instance: IsInstance | None = None) -> bool:
        if self.kind == "type":
            if self.cls is not None and is_instance is not None:
                return is_instance(info, self.cls)
            return self.value in info.type_names
        if self.kind == "role":
            return info.role == self.value
        if self.kind == "kind":
            return info.kind.value == self.value
        if self.kind == "label":
            return self.value in info.labels
        if self.kind == "name":
            return info.name == self.value
        return fnmatchcase(info.name, self.value)

    def to_data(self) -> str:
        if self.kind == "type":
            return self.value if self.cls is not None else f"type:{self.value}"
        if self.kind in ("kind", "label", "name"):
            return f"{self.kind}:{self.value}"
        if self.kind == "glob" and (self.value in ROLES or self.value.startswith(_PREFIXES) or (
                not _GLOB_CHARS.search(self.value) and resolve_type(self.value) is not None)):
            return f"glob:{self.value}"  # would read back as something else otherwise
        return str(self.value)

    def __repr__(self) -> str:
        if self.kind == "type":
            return self.cls.__name__ if self.cls is not None else f"'type:{self.value}'"
        if self.kind in ("kind", "label", "name"):
            return repr(f"{self.kind}:{self.value}")
        return repr(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Selector) and (self.kind, self.value) == (other.kind,
                                                                             other.value)

    def __hash__(self) -> int:
        return hash((self.kind, self.value))


def _check_model_option(where: str, key: str, value: Any) -> None:
    fix = f"{where}: option {key}"
    if key == "bias":
        if value in ("zeros", "torch"):
            return
        try:
            _validate.real("bias", value)
        except InitError:
            raise InitError(
                f"{fix} must be 'zeros', 'torch' (torch's U(+-1/sqrt(fan_in))) or a finite "
                f"number (a constant); received {_validate.show(value)}") from None
    elif key == "forget_bias":
        try:
            _validate.real(key, value)
        except InitError:
            raise InitError(f"{fix} must be a finite number (e.g. 1.0); received "
                            f"{_validate.show(value)}") from None
    elif key == "std_scale" and isinstance(value, Mapping):
        if not value or not all(isinstance(k, str) and k for k in value):
            raise InitError(f"{fix} as a mapping must map block labels (e.g. 'q', 'k', 'v') "
                            f"to factors; received {_validate.show(value)}")
        for label, factor in value.items():
            _check_model_option(where, f"std_scale[{label!r}]", factor)
    elif key in ("std_scale", "lr_scale") or key.startswith("std_scale["):
        try:
            _validate.real(key, value, positive=True)
        except InitError:
            raise InitError(f"{fix} must be a finite number > 0 (a multiplier, e.g. "
                            f"1/sqrt(2*12)); received {_validate.show(value)}") from None
    elif key == "reason":
        if not isinstance(value, str) or not value:
            raise InitError(f"{fix} must be a non-empty str saying why the rule scales (e.g. "
                            f"'GPT-2 residual projection'); received {_validate.show(value)}")
        _validate.text(key, value)
    elif key in ("blocks", "stride_aware"):
        if not isinstance(value, bool):
            raise InitError(f"{fix} must be true or false; received {_validate.show(value)}")
    elif key == "fan_convention":
        _validate.choice(fix, value, _CONVENTIONS)


class Rule:
    """``Rule(select, scheme, **options)``: initialise the parameters ``select`` takes.

    ``select`` is a module type (``nn.Linear``), a glob on the qualified parameter name
    (``"encoder.*.weight"``, matched case-sensitively with :func:`fnmatch.fnmatchcase`),
    a role (``"weight"``, ``"bias"``, ``"embedding"``, ``"recurrent"`` — an RNN's
    ``weight_hh`` —, ``"norm"`` — a norm layer's scale and shift), or a tuple of those
    (any may match). Strings may carry an explicit prefix: ``"type:"``, ``"glob:"``,
    ``"role:"``, ``"kind:"`` (a :class:`~paraminit.plan.Kind` value such as
    ``"kind:rnn_hh"``), ``"name:"`` (one exact parameter name) or ``"label:"`` (a label a
    describer attached). Otherwise a role name is a role, a framework's class name
    (``"Linear"``) or the dotted path of a class in an already imported module is a type,
    anything else a glob.

    A *type* selector takes the module's parameters except its biases: biases are taken
    only when the rule gives ``bias=`` or ``forget_bias=``. Other selectors take exactly
    what they match. The first matching rule wins; parameters no rule takes fall back to
    the preset.

    Options are the scheme's own (``paraminit.schemes()``; validated here) and these:

    * ``bias``: how this rule initialises the biases it takes: ``"zeros"`` (default),
      ``"torch"`` (torch's ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with torch's fan_in of the
      layer's weight, ``1/sqrt(hidden)`` for RNNs) or a number (a constant).
    * ``forget_bias``: the LSTM forget-gate bias: ``bias_ih``'s ``f`` block is set to it and
      ``bias_hh``'s ``f`` block to 0, so the gate's total bias is ``forget_bias``
      (Gers, Schmidhuber & Cummins 2000, "Learning to Forget", §2; Jozefowicz, Zaremba &
      Sutskever 2015, "An Empirical Exploration of Recurrent Network Architectures", §2.2,
      recommend 1).
    * ``blocks``: initialise gate-stacked weights (LSTM/GRU gates, MHA q/k/v) block by block
      with each block's own fans (default True) or as one stacked matrix (False).
    * ``stride_aware``: convolution fans divided by the stride (``compute_fans(stride=)``).
    * ``fan_convention``: ``"paraminit"`` (default) or a framework's literal reading.
    * ``std_scale``: multiply the scheme's spread by this factor (GPT-2's
      ``1/sqrt(2 * n_layer)`` on residual projections), shown in the plan with ``reason``.
      A mapping from block labels to factors (``{"q": 1.0, "k": 1.0, "v": 0.38}``) scales
      each block of a gate-stacked weight by its own factor; every block of the parameters
      the rule takes must be named, and those parameters must have blocks.
    * ``lr_scale``: a learning-rate multiplier carried on the plan rows (μP), for the
      optimiser's parameter groups; it does not change the values.
    * ``reason``: why the rule scales (``"GPT-2 residual projection"``).

    Example:
        >>> Rule("kind:rnn_hh", "orthogonal")
        Rule('kind:rnn_hh', 'orthogonal')
    """

    __slots__ = ("options", "scheme", "select")

    def __init__(self, select: Any, scheme: str, /, **options: Any) -> None:
        where = f"Rule({select!r}, {scheme!r})"
        items = tuple(select) if isinstance(select, (tuple, list)) else (select,)
        if not items:
            raise InitError(f"{where}: select must not be empty")
        self.select: tuple[_Selector, ...] = tuple(_Selector.parse(i, where) for i in items)
        self.scheme: str = get_scheme(scheme).name if isinstance(scheme, str) else ""
        if not self.scheme:
            raise InitError(f"{where}: scheme must be a registry name; received {scheme!r}")
        for key, value in options.items():
            _check_model_option(where, key, value)
        if "reason" in options and not {"std_scale", "lr_scale"} & set(options):
            raise InitError(f"{where}: option reason explains a std_scale or lr_scale; give "
                            "one of them, or drop reason")
        try:
            validate(self.scheme, self.scheme_options_of(options))
        except InitError as error:
            raise InitError(f"{where}: {error}") from None
        self.options: dict[str, Any] = dict(options)

    @staticmethod
    def scheme_options_of(options: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in options.items() if k not in MODEL_OPTIONS}

    @property
    def scheme_options(self) -> dict[str, Any]:
        """The options handed to the scheme (all but the model-level ones)."""
        return self.scheme_options_of(self.options)

    @property
    def takes_biases(self) -> bool:
        """Whether a type selector of this rule also takes the module's biases."""
        return "bias" in self.options or "forget_bias" in self.options

    @property
    def exact_names(self) -> frozenset[str] | None:
        """The names this rule takes when it selects by exact names only, else None."""
        if all(s.kind == "name" for s in self.select):
            return frozenset(s.value for s in self.select)
        return None

    def matches(self, info: ParamInfo, is_instance: IsInstance | None = None) -> bool:
        """Whether the rule takes the parameter ``info`` describes."""
        for selector in self.select:
            if selector.kind == "type" and info.role == "bias" and not self.takes_biases:
                continue
            if selector.matches(info, is_instance):
                return True
        return False

    def takes_by_type_only(self, info: ParamInfo, is_instance: IsInstance | None) -> bool:
        """Whether only a type selector (none of the others) takes ``info``."""
        return not any(s.kind != "type" and s.matches(info, is_instance) for s in self.select)

    def describe(self) -> str:
        """One line, e.g. ``Linear -> he_normal(mode='fan_out')``."""
        select = ", ".join(map(repr, self.select))
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{select} -> {self.scheme}({options})"

    def to_dict(self) -> dict[str, Any]:
        """``{"select": str | [str, ...], "scheme": str, "options": {...}}`` (JSON-ready)."""
        select = [s.to_data() for s in self.select]
        return {"select": select[0] if len(select) == 1 else select, "scheme": self.scheme,
                "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "rule") -> Rule:
        """The inverse of :meth:`to_dict`; unknown keys are an error naming ``where``."""
        if isinstance(data, Rule):
            return data
        if not isinstance(data, Mapping):
            raise InitError(f"{where}: a rule must be a table/dict with keys 'select', "
                            f"'scheme' and optionally 'options'; received {data!r}")
        unknown = sorted(set(data) - set(_DICT_KEYS))
        if unknown:
            raise InitError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; a rule "
                            "has keys 'select', 'scheme' and 'options'")
        for key in ("select", "scheme"):
            if key not in data:
                raise InitError(f"{where}: missing key {key!r}")
        options = data.get("options", {})
        if not isinstance(options, Mapping):
            raise InitError(f"{where}: 'options' must be a table/dict; received {options!r}")
        select = data["select"]
        if isinstance(select, list):
            select = tuple(select)
        try:
            return cls(select, data["scheme"], **dict(options))
        except InitError as error:
            raise InitError(f"{where}: {error}") from None
        except TypeError as error:  # non-string option keys
            raise InitError(f"{where}: bad options {options!r} ({error})") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rule) and (self.select, self.scheme, self.options) == (
            other.select, other.scheme, other.options)

    def __hash__(self) -> int:
        return hash((self.select, self.scheme))

    def __repr__(self) -> str:
        select = repr(self.select[0]) if len(self.select) == 1 else repr(self.select)
        options = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"Rule({select}, {self.scheme!r}{options})"


def bias_law(value: Any, info: ParamInfo) -> tuple[str, dict[str, Any]]:
    """A rule's ``bias=`` for ``info``: zeros, a constant, or ``"torch"``:
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the layer's ``bias_fan`` (0 when it is 0, as torch)."""
    if value == "zeros":
        return "zeros", {}
    if value != "torch":
        return "constant", {"value": float(value)}
    fan = info.bias_fan or 0
    if fan <= 0:
        return "zeros", {}
    bound = 1.0 / math.sqrt(fan)
    return "uniform", {"low": -bound, "high": bound}


def as_rules(rules: Iterable[Any]) -> list[Rule]:
    """Rules and plain dicts to a list of Rules (errors name the rule's index)."""
    return [Rule.from_dict(item, where=f"rule #{i}") for i, item in enumerate(rules)]
