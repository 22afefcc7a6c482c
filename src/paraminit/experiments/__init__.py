"""Experiments: each trains or measures, and returns records; nothing here renders.

``compare`` trains initialization methods side by side (``paraminit compare``);
``run_all`` trains a grid of such configs on one pool; :mod:`paraminit.experiments.papers`
holds the ``paraminit bench`` suite built on it.
Imported lazily: the names below pull in torch only when used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CompareConfig": "paraminit.experiments._compare",
    "Dataset": "paraminit.experiments._data",
    "Method": "paraminit.experiments._compare",
    "QUICK_METHODS": "paraminit.experiments._compare",
    "TEXTBOOK_METHODS": "paraminit.experiments._compare",
    "VERDICT_RULES": "paraminit.experiments._compare",
    "compare": "paraminit.experiments._compare",
    "decide": "paraminit.experiments._compare",
    "document": "paraminit.experiments._compare",
    "initialise": "paraminit.experiments._compare",
    "load_dataset": "paraminit.experiments._data",
    "MODEL_METHODS": "paraminit.experiments._compare",
    "method_details": "paraminit.experiments._compare",
    "run_all": "paraminit.experiments._compare",
    "summarize": "paraminit.experiments._compare",
    "write_json_atomic": "paraminit.experiments._io",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'paraminit.experiments' has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
