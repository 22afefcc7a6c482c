"""Model-level rules: ``Rule(select, scheme, **options)``, presets, and rules as data.

A rule says which parameters it takes (``select``) and how to initialise them (a registry
scheme with its options, plus a few model-level options). Rules are plain data: they
round-trip through dicts, JSON and TOML, are validated when built (unknown keys, schemes
and options are :class:`~paraminit.InitError` naming the rule and, in files, its line) and
are never ``eval``-ed or unpickled.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from os import PathLike
from pathlib import Path
from typing import Any

import torch.nn as nn

from .._errors import InitError
from ..core import validate as _validate
from ..core.fans import _CONVENTIONS
from ..core.schemes import get_scheme, validate

__all__ = [
    "MODEL_OPTIONS",
    "PRESETS",
    "ROLES",
    "Rule",
    "load_rules",
    "rules_from_json",
    "rules_from_toml",
    "rules_to_json",
    "rules_to_toml",
]

ROLES: tuple[str, ...] = ("bias", "embedding", "norm", "recurrent", "weight")
PRESETS: tuple[str, ...] = ("he", "lecun", "msra", "orthogonal", "torch_default", "xavier")
# Options a rule takes besides its scheme's own (see Rule).
MODEL_OPTIONS: tuple[str, ...] = ("bias", "blocks", "fan_convention", "forget_bias",
                                  "stride_aware")
_DICT_KEYS = ("options", "scheme", "select")
_GLOB_CHARS = re.compile(r"[*?\[]")
_PREFIXES = ("glob:", "role:", "type:")


def type_name(cls: type) -> str:
    """The dotted name a type is written as in rule files: ``"torch.nn.Linear"`` or its path."""
    if getattr(nn, cls.__name__, None) is cls:
        return f"torch.nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _resolve_type(text: str) -> type | None:
    """A module type from ``"Linear"`` (torch.nn) or a dotted path in an imported module.

    Only modules already in ``sys.modules`` are searched: reading a rules file never
    imports (runs) code.
    """
    if "." not in text:
        found = getattr(nn, text, None)
    else:
        module_name, _, attribute = text.rpartition(".")
        module = sys.modules.get(module_name)
        found = getattr(module, attribute, None) if module is not None else None
        if found is None and module is None:  # a nested qualname, e.g. pkg.mod.Outer.Inner
            head, _, inner = module_name.rpartition(".")
            outer = getattr(sys.modules.get(head), inner, None) if head else None
            found = getattr(outer, attribute, None) if outer is not None else None
    if isinstance(found, type) and issubclass(found, nn.Module):
        return found
    return None


def _looks_like_type(text: str) -> bool:
    return text.rpartition(".")[2][:1].isupper()


class _Selector:
    """One alternative of a rule's ``select``: a module type, a name glob or a role."""

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: Any) -> None:
        self.kind, self.value = kind, value

    @classmethod
    def parse(cls, item: Any, where: str) -> _Selector:
        if isinstance(item, type):
            if not issubclass(item, nn.Module):
                raise InitError(
                    f"{where}: select type must be a torch.nn.Module subclass; received "
                    f"{item!r}. Pass e.g. torch.nn.Linear"
                )
            return cls("type", item)
        if not isinstance(item, str) or not item:
            raise InitError(
                f"{where}: select must be a module type, a glob on parameter names, a role "
                f"({', '.join(map(repr, ROLES))}) or a tuple of those; received {item!r}"
            )
        for prefix in _PREFIXES:
            if item.startswith(prefix):
                return cls._explicit(prefix[:-1], item[len(prefix):], where)
        if item in ROLES:
            return cls("role", item)
        if not _GLOB_CHARS.search(item):
            found = _resolve_type(item)
            if found is not None:
                return cls("type", found)
            if _looks_like_type(item):
                raise InitError(
                    f"{where}: select {item!r} names no torch.nn type nor a module type in an "
                    "imported module; use a torch.nn name ('Linear'), the full dotted path of "
                    "an imported class ('mypkg.blocks.Attention'), or 'glob:' + a pattern "
                    "for a parameter name"
                )
        return cls("glob", item)

    @classmethod
    def _explicit(cls, kind: str, text: str, where: str) -> _Selector:
        if kind == "role":
            if text not in ROLES:
                raise InitError(f"{where}: role must be one of {', '.join(map(repr, ROLES))}; "
                                f"received {text!r}")
            return cls("role", text)
        if kind == "type":
            found = _resolve_type(text)
            if found is None:
                raise InitError(f"{where}: select 'type:{text}' names no module type (torch.nn "
                                "name or dotted path in an imported module)")
            return cls("type", found)
        return cls("glob", text)

    def matches(self, name: str, module: nn.Module, role: str) -> bool:
        if self.kind == "type":
            return isinstance(module, self.value)
        if self.kind == "role":
            return role == self.value
        return fnmatchcase(name, self.value)

    def to_data(self) -> str:
        if self.kind == "type":
            return type_name(self.value)
        if self.kind == "glob" and (self.value in ROLES or (
                not _GLOB_CHARS.search(self.value) and _resolve_type(self.value) is not None)):
            return f"glob:{self.value}"  # would read back as a role or a type otherwise
        return str(self.value)

    def __repr__(self) -> str:
        if self.kind == "type":
            return self.value.__name__
        return repr(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Selector) and (self.kind, self.value) == (other.kind,
                                                                             other.value)

    def __hash__(self) -> int:
        return hash((self.kind, self.value))


def _check_model_option(where: str, key: str, value: Any) -> None:
    if key == "bias":
        ok = value in ("zeros", "torch") or (
            isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))
        if not ok:
            raise InitError(
                f"{where}: option bias must be 'zeros', 'torch' (torch's U(+-1/sqrt(fan_in))) "
                f"or a finite number (a constant); received {value!r}"
            )
    elif key == "forget_bias":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value):
            raise InitError(f"{where}: option forget_bias must be a finite number (e.g. 1.0); "
                            f"received {value!r}")
    elif key in ("blocks", "stride_aware"):
        if not isinstance(value, bool):
            raise InitError(f"{where}: option {key} must be true or false; received {value!r}")
    elif key == "fan_convention" and value not in _CONVENTIONS:
        raise InitError(f"{where}: option fan_convention must be one of "
                        f"{', '.join(map(repr, _CONVENTIONS))}; received {value!r}")


class Rule:
    """``Rule(select, scheme, **options)``: initialise the parameters ``select`` takes.

    ``select`` is a module type (``nn.Linear``), a glob on the qualified parameter name
    (``"encoder.*.weight"``, matched case-sensitively with :func:`fnmatch.fnmatchcase`),
    a role (``"weight"``, ``"bias"``, ``"embedding"``, ``"recurrent"`` — an RNN's
    ``weight_hh`` —, ``"norm"`` — a norm layer's scale and shift), or a tuple of those
    (any may match). Strings may carry an explicit ``"type:"``, ``"glob:"`` or ``"role:"``
    prefix; otherwise a role name is a role, a torch.nn class name (``"Linear"``) or the
    dotted path of a class in an already imported module is a type, anything else a glob.

    A *type* selector takes the module's parameters except its biases: biases are taken
    only when the rule gives ``bias=`` or ``forget_bias=``. Glob and role selectors take
    exactly what they match. The first matching rule wins; parameters no rule takes fall
    back to the preset.

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

    Example:
        >>> Rule(nn.LSTM, "orthogonal", forget_bias=1.0)
        Rule(LSTM, 'orthogonal', forget_bias=1.0)
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

    def matches(self, name: str, module: nn.Module, role: str) -> bool:
        """Whether the rule takes parameter ``name`` (of ``module``, with ``role``)."""
        for selector in self.select:
            if selector.kind == "type" and role == "bias" and not self.takes_biases:
                continue
            if selector.matches(name, module, role):
                return True
        return False

    def describe(self) -> str:
        """One line, e.g. ``Linear -> he_normal(mode='fan_out')``."""
        select = ", ".join(map(repr, self.select))
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{select} -> {self.scheme}({options})"

    # -- data ------------------------------------------------------------------------

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


def as_rules(rules: Iterable[Any]) -> list[Rule]:
    """Rules and plain dicts to a list of Rules (errors name the rule's index)."""
    return [Rule.from_dict(item, where=f"rule #{i}") for i, item in enumerate(rules)]


# ---------------------------------------------------------------------------------------
# JSON and TOML


def rules_to_json(rules: Iterable[Any], *, indent: int = 2) -> str:
    """A JSON array of rule dicts."""
    return json.dumps([r.to_dict() for r in as_rules(rules)], indent=indent)


def _loads(loader: Callable[[str], Any], decode_error: type[ValueError], text: str,
           kind: str, levels: str) -> Any:
    """``loader(text)`` with its resource errors as InitError; ``decode_error`` (a
    ValueError the caller formats with its position) passes through."""
    try:
        return loader(text)
    except decode_error:
        raise
    except RecursionError:
        raise InitError(f"rules {kind}: nested deeper than Python's recursion limit "
                        f"({sys.getrecursionlimit()}); a rule needs {levels}: flatten the "
                        "document") from None
    except ValueError as error:  # e.g. an integer literal of more than 4300 digits
        raise InitError(f"rules {kind}: {error}") from None


def rules_from_json(text: str) -> list[Rule]:
    """Rules from a JSON array (or an object ``{"rules": [...]}``); errors name the line.

    Linear in the size of the text: each rule's line number comes from one pass over it.
    """
    text = _document_text(text, "JSON")
    try:
        data = _loads(json.loads, json.JSONDecodeError, text, "JSON",
                      "3 levels (array, rule, options)")
    except json.JSONDecodeError as error:
        raise InitError(f"rules JSON: {error.msg} at line {error.lineno}, column "
                        f"{error.colno}") from None
    if isinstance(data, Mapping):
        unknown = sorted(set(data) - {"rules"})
        if unknown or "rules" not in data:
            raise InitError("rules JSON: the top level must be an array of rules or an object "
                            f"with the single key 'rules'; found keys "
                            f"{_validate.show(sorted(data))}")
        data = data["rules"]
    if not isinstance(data, list):
        raise InitError(f"rules JSON: expected an array of rules; received {type(data).__name__}")
    lines = line_numbers(text, _json_element_offsets(text, len(data)))
    return [Rule.from_dict(item, where=f"rule #{i} (line {lines[i]})")
            for i, item in enumerate(data)]


def _document_text(text: object, kind: str) -> str:
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as error:
            raise InitError(f"rules {kind}: not UTF-8 text ({error.reason} at byte "
                            f"{error.start}); save the file as UTF-8") from None
    if not isinstance(text, str):
        raise InitError(f"rules {kind}: expected the document as a str; received "
                        f"{type(text).__name__}. Pass the file's text, or use load_rules(path)")
    return text


def line_numbers(text: str, offsets: Sequence[int]) -> list[int]:
    """The 1-based line of each of the ascending character ``offsets`` into ``text``.

    One pass over ``text`` for all offsets together (counting newlines from the previous
    offset), so n rules in a document cost O(len(text) + n), not O(n * len(text)).
    """
    lines, line, previous = [], 1, 0
    for offset in offsets:
        if offset < previous:
            raise ValueError(f"offsets must ascend; {offset} follows {previous}")
        line += text.count("\n", previous, offset)
        lines.append(line)
        previous = offset
    return lines


_SPACE = " \t\r\n"


def _skip(text: str, index: int, chars: str = _SPACE) -> int:
    while index < len(text) and text[index] in chars:
        index += 1
    return index


def _json_element_offsets(text: str, count: int) -> list[int]:
    """Offset of each element of the rules array, found with ``raw_decode``.

    The array is the document itself or the value of its (last) ``"rules"`` key, however
    that key is written (``"\\u0072ules"`` too): keys are decoded, not searched for.
    """
    decoder = json.JSONDecoder()
    index = _skip(text, 0)
    if text[index] == "{":
        start, index = -1, _skip(text, index + 1)
        while text[index] != "}":
            key, index = decoder.raw_decode(text, index)
            index = _skip(text, index)  # then ':'
            value_at = _skip(text, index + 1)
            if key == "rules":
                start = value_at
            _, index = decoder.raw_decode(text, value_at)
            index = _skip(text, index, _SPACE + ",")
        index = start
    offsets, index = [], index + 1  # past the array's '['
    for _ in range(count):
        index = _skip(text, index, _SPACE + ",")
        offsets.append(index)
        _, index = decoder.raw_decode(text, index)
    return offsets


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InitError(f"{where}: {value!r} cannot be written to TOML here")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: same escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    raise InitError(f"{where}: the value {value!r} has no TOML form (None is not TOML); "
                    "drop the option to use the scheme's default")


def rules_to_toml(rules: Iterable[Any]) -> str:
    """TOML with one ``[[rules]]`` table per rule (``select``, ``scheme``, inline ``options``)."""
    chunks = []
    for i, rule in enumerate(as_rules(rules)):
        data = rule.to_dict()
        where = f"rule #{i}"
        lines = ["[[rules]]", f"select = {_toml_value(data['select'], where)}",
                 f"scheme = {_toml_value(data['scheme'], where)}"]
        if data["options"]:
            items = ", ".join(f"{json.dumps(k)} = {_toml_value(v, where)}"
                              for k, v in data["options"].items())
            lines.append(f"options = {{ {items} }}")
        chunks.append("\n".join(lines))
    return "\n\n".join(chunks) + "\n"


def _tomllib() -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise InitError("reading TOML rules needs Python 3.11+ (tomllib) or the 'tomli' "
                            "package on Python 3.10: pip install tomli") from None
    return tomllib


def rules_from_toml(text: str) -> list[Rule]:
    """Rules from TOML ``[[rules]]`` tables; errors name the rule and its line."""
    toml = _tomllib()
    text = _document_text(text, "TOML")
    try:
        data = _loads(toml.loads, toml.TOMLDecodeError, text, "TOML",
                      "2 levels ([[rules]] and its options)")
    except toml.TOMLDecodeError as error:
        raise InitError(f"rules TOML: {error}") from None
    unknown = sorted(set(data) - {"rules"})
    if unknown:
        raise InitError(f"rules TOML: unknown top-level key(s) {', '.join(map(repr, unknown))}; "
                        "write each rule as a [[rules]] table")
    tables = data.get("rules", [])
    if not isinstance(tables, list):
        raise InitError("rules TOML: 'rules' must be an array of tables ([[rules]])")
    headers = [n for n, line in enumerate(text.splitlines(), 1)
               if re.match(r"\s*\[\[\s*rules\s*\]\]", line)]
    return [Rule.from_dict(table, where=f"rule #{i}" + (
        f" ([[rules]] at line {headers[i]})" if i < len(headers) else ""))
        for i, table in enumerate(tables)]


def load_rules(path: Any) -> list[Rule]:
    """Rules from a ``.json`` or ``.toml`` file; a file that cannot be read is an InitError."""

    if not isinstance(path, (str, PathLike)):
        raise InitError(f"path must be a str or os.PathLike naming a .json or .toml file; "
                        f"received {_validate.show(path)}")
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise InitError(f"rules file must end in .json or .toml; received {str(file)!r}")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InitError(f"{file}: not UTF-8 text ({error.reason} at byte {error.start}); save "
                        "the rules file as UTF-8") from None
    except OSError as error:
        raise InitError(f"rules file {str(file)!r} cannot be read ({error.strerror or error}); "
                        "check the path and its permissions") from None
    try:
        return rules_from_json(text) if suffix == ".json" else rules_from_toml(text)
    except InitError as error:
        raise InitError(f"{file}: {error}") from None


def check_preset(preset: Any) -> str:
    if preset not in PRESETS:
        raise InitError(f"preset must be one of {', '.join(map(repr, PRESETS))}; "
                        f"received {preset!r}")
    return preset


def normalise(rules: Any, preset: str) -> tuple[list[Rule], str]:
    """``rules`` (None, a preset name, or a sequence of Rules/dicts) → (rules, preset)."""
    if rules is None:
        return [], check_preset(preset)
    if isinstance(rules, str):
        return [], check_preset(rules)
    if isinstance(rules, (Rule, Mapping)):
        rules = [rules]
    if not isinstance(rules, Sequence):
        raise InitError(f"rules must be None, a preset name ({', '.join(map(repr, PRESETS))}) "
                        f"or a list of Rule/dict; received {rules!r}")
    return as_rules(rules), check_preset(preset)
