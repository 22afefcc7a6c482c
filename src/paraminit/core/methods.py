"""The method grammar: ``name:key=value,key=value`` as typed on the command line.

``paraminit compare --methods`` and ``paraminit explain SCHEME`` read it, and a compare
record's ``method`` (its label) is written in it. :func:`parse_method` reads one method,
:func:`parse_methods` a comma-separated list of them, :func:`format_method` writes one;
``parse_method(format_method(name, options)) == (name, options)`` for every method it
accepts, and ``format_method(*parse_method(text))`` is ``text`` in canonical form.

Values are read as int, then float, then ``true``/``false`` (any case) as bool,
``none``/``null`` as None, anything else as the string itself (``mode=fan_out``).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import InitError
from .schemes import get_scheme
from .validate import is_bool, show

__all__ = ["format_method", "parse_method", "parse_methods"]

# Characters that separate the parts of a method: they cannot occur inside a name or value.
_SEPARATORS = (":", ",", "=")


def _value(text: str) -> Any:
    """An option value: int, float, bool, None, or the string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_method(text: str, *, model_methods: Sequence[str] = ()) -> tuple[str, dict[str, Any]]:
    """``"he_normal:mode=fan_out,slope=0.1"`` → ``("he_normal", {"mode": "fan_out", ...})``.

    The name must be a registry scheme or alias (kept as written) or one of
    ``model_methods`` (names that are not per-tensor schemes, e.g. compare's ``lsuv``);
    option names and values are the scheme's to check, later, on the real shapes.
    """
    if not isinstance(text, str):
        raise InitError(f"a method must be a str such as 'he_normal:mode=fan_out'; received "
                        f"{show(text)}")
    name, _, rest = text.partition(":")
    if name not in model_methods:
        try:
            get_scheme(name)
        except InitError as error:
            if not model_methods:
                raise
            raise InitError(f"{error}; or a model-level method: "
                            f"{', '.join(map(repr, model_methods))}") from None
    options: dict[str, Any] = {}
    if rest:
        for item in rest.split(","):
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key or not value:
                raise InitError(
                    f"method {text!r}: option {item!r} is not key=value; write e.g. "
                    f"'{name}:mode=fan_out,slope=0.1'"
                )
            if key in options:
                raise InitError(f"method {text!r}: option {key!r} is given twice; keep one")
            options[key] = _value(value)
    return name, options


def _word(what: str, text: object, method: str) -> str:
    """A name, key or string value that reads back as itself."""
    if not isinstance(text, str) or not text or text != text.strip() or any(
            s in text for s in _SEPARATORS):
        raise InitError(f"method {method}: {what} must be a non-empty str without spaces at "
                        f"its ends and without ':', ',' or '='; received {show(text)}")
    return text


def _format_value(value: Any, method: str, key: str) -> str:
    if value is None or is_bool(value):
        return str(None if value is None else bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))  # the shortest text that reads back as the same float
    if isinstance(value, str) and _value(value) == value:
        return _word(f"the value of {key!r}", value, method)
    raise InitError(
        f"method {method}: the value of {key!r} must be a number, a bool, None or a word "
        f"that does not read as one of those; received {show(value)}")


def format_method(name: str, options: Mapping[str, Any] | None = None) -> str:
    """``("he_normal", {"mode": "fan_out"})`` → ``"he_normal:mode=fan_out"`` (the inverse of
    :func:`parse_method`; ``name`` alone without options).

    Raises:
        InitError: a name, key or value that would not read back as itself: a ``:``,
            ``,`` or ``=`` in it, spaces at its ends, a string such as ``"1"`` or
            ``"true"`` (it would read back as a number or a bool), or a value that is not
            a number, bool, None or string.
    """
    where = show(name)
    name = _word("the name", name, where)
    if not options:
        return name
    items = [f"{_word('an option name', key, where)}={_format_value(value, where, key)}"
             for key, value in options.items()]
    return f"{name}:" + ",".join(items)


def parse_methods(texts: Sequence[str], *,
                  model_methods: Sequence[str] = ()) -> list[tuple[str, dict[str, Any]]]:
    """``["zeros,he_normal:mode=fan_out,slope=0.1", "xavier_normal"]`` → parsed methods.

    Items are separated by commas (or given as separate arguments); an item of the form
    ``key=value`` continues the options of the method before it.
    """
    items: list[str] = []
    for text in texts:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            is_option = "=" in part and ":" not in part.split("=", 1)[0]
            if is_option:
                if not items:
                    raise InitError(f"--methods: option {part!r} comes before any method; write "
                                    "e.g. 'he_normal:mode=fan_out'")
                if ":" not in items[-1]:
                    raise InitError(f"--methods: option {part!r} follows {items[-1]!r}, which "
                                    f"has no ':'; write '{items[-1]}:{part}'")
                items[-1] += "," + part
            else:
                items.append(part)
    if not items:
        raise InitError("--methods needs at least one scheme, e.g. --methods zeros,he_normal")
    return [parse_method(item, model_methods=model_methods) for item in items]
