"""The one set of argument checks every layer uses.

Each check returns the value in its plain Python form (``float``, ``int``, ``bool``,
``str``, a tuple of ints) or raises :class:`~paraminit.InitError` naming the argument, the
value received (shortened to one line) and what is allowed. NumPy scalars are accepted
wherever the Python type is (``np.float32(0.5)`` as a number, ``np.int64(3)`` as an int,
``np.bool_(True)`` as a bool), as they are for shapes and seeds; ``bool`` is never a number.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Sequence

import numpy as np

from .._errors import InitError

__all__ = [
    "MAX_ELEMENTS", "boolean", "choice", "integer", "is_bool", "real", "shape", "show", "text",
]

# The largest element count (and dim) a tensor can have: torch and NumPy index with int64.
MAX_ELEMENTS = 2**63 - 1
_SHOWN = 80  # characters of a value's repr kept in a message


def show(value: object) -> str:
    """``repr(value)`` on one line, cut to 80 characters (a 400-digit int, a long list)."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    text = text.replace("\n", "\\n")
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN - 25]}...{text[-20:]} " \
        f"({len(text)} chars)"


def is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def real(argument: str, value: object, *, positive: bool = False, nonnegative: bool = False,
         allow_inf: bool = False) -> float:
    """A finite real number (int, float, NumPy scalar) as ``float``; not bool, NaN or inf."""
    if is_bool(value) or not isinstance(value, numbers.Real):
        raise InitError(f"{argument} must be a finite number; received {show(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise InitError(f"{argument} must be a finite number; received {show(value)}, which "
                        "is beyond float64's range (about 1.8e308)") from None
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise InitError(f"{argument} must be a finite number; received {show(value)}")
    if positive and not number > 0:
        raise InitError(f"{argument} must be > 0; received {show(value)}")
    if nonnegative and not number >= 0:
        raise InitError(f"{argument} must be >= 0; received {show(value)}")
    return number


def integer(argument: str, value: object, *, minimum: int | None = None,
            maximum: int | None = None, hint: str = "") -> int:
    """An int (or NumPy integer) in ``[minimum, maximum]`` as ``int``; not bool or float.

    ``hint`` follows the value in the message (e.g. ``" for shape (3, 4)"``).
    """
    if is_bool(value) or not isinstance(value, numbers.Integral):
        wanted = _int_range(minimum, maximum)
        raise InitError(f"{argument} must be {wanted}; received {show(value)}{hint}")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise InitError(
            f"{argument} must be {_int_range(minimum, maximum)}; received {show(value)}{hint}")
    return number


def _int_range(minimum: int | None, maximum: int | None) -> str:
    if minimum == 1 and maximum is None:
        return "a positive int"
    if minimum is not None and maximum is not None:
        return f"an int in [{minimum}, {maximum}]"
    if minimum is not None:
        return f"an int >= {minimum}"
    if maximum is not None:
        return f"an int <= {maximum}"
    return "an int"


def boolean(argument: str, value: object) -> bool:
    """``True`` or ``False`` (or a NumPy bool); not a truthy string or int."""
    if not is_bool(value):
        raise InitError(f"{argument} must be True or False; received {show(value)}")
    return bool(value)


def choice(argument: str, value: object, choices: Sequence[str], *, hint: str = "") -> str:
    """One of ``choices`` (strings); ``hint`` follows the value in the message."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise InitError(f"{argument} must be one of {allowed}; received {show(value)}{hint}"
                        f"{did_you_mean(value, choices)}")
    return str(value)


def did_you_mean(value: object, choices: Sequence[str]) -> str:
    """``"; did you mean 'he_normal'?"`` for a string close to some of ``choices``, else ``""``."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(map(repr, close))}?" if close else ""


def text(argument: str, value: object) -> str:
    """A ``str`` that UTF-8 can encode (a lone surrogate such as ``'\\ud800'`` cannot)."""
    if not isinstance(value, str):
        raise InitError(f"{argument} must be a str; received {show(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InitError(
            f"{argument} must be valid Unicode text; received {show(value)}, whose character "
            f"{value[error.start]!r} at index {error.start} is a lone surrogate that UTF-8 "
            "cannot encode. Use a real character (surrogates come from decoding bytes with "
            "errors='surrogateescape')") from None
    return value


def shape(value: object) -> tuple[int, ...]:
    """A sequence of non-negative ints (or one int) with at most 2**63 - 1 elements."""
    if isinstance(value, numbers.Integral) and not is_bool(value):
        value = (value,)
    fix = "shape must be a sequence of non-negative ints; received"
    example = ", e.g. (256, 128)"
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InitError(f"{fix} {show(value)}{example}")
    dims = []
    for d in value:
        if is_bool(d) or not isinstance(d, numbers.Integral) or int(d) < 0:
            raise InitError(f"{fix} {show(value)}{example}")
        dims.append(int(d))
    if math.prod(dims) > MAX_ELEMENTS or any(d > MAX_ELEMENTS for d in dims):
        raise InitError(f"shape {show(value)} has more than 2**63 - 1 elements, more than any "
                        "tensor can hold; check the dims")
    return tuple(dims)

