"""Rules as data: JSON and TOML documents, read and written.

Reading never evaluates anything: a document is parsed by :mod:`json` or :mod:`tomllib`,
each rule is built by :meth:`Rule.from_dict` and errors name the rule and its line. Linear
in the size of the document.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from .._errors import InitError
from ..core import validate as _validate
from ._rules import Rule, as_rules

__all__ = ["line_numbers", "load_rules", "rules_from_json", "rules_from_toml", "rules_to_json",
           "rules_to_toml"]


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
    if isinstance(value, Mapping):  # an inline table (a per-block std_scale)
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v, where)}"
                                for k, v in value.items()) + " }"
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
