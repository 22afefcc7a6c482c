"""Experiments: each trains or measures, and returns records; nothing here renders.

``compare`` trains initialization methods side by side (``paraminit compare``), each a set
of rules for the planner (``paraminit.torch.init``); ``run_all`` trains a grid of such
configs on one pool; :mod:`paraminit.experiments.papers` holds the ``paraminit bench``
suite built on it.
Imported lazily: the names below pull in torch only when used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CompareConfig": "paraminit.experiments._config",
    "Dataset": "paraminit.experiments._data",
    "MODEL_METHODS": "paraminit.experiments._methods",
    "Method": "paraminit.experiments._methods",
    "QUICK_METHODS": "paraminit.experiments._methods",
    "TEXTBOOK_METHODS": "paraminit.experiments._methods",
    "VERDICT_RULES": "paraminit.experiments._verdicts",
    "compare": "paraminit.experiments._compare",
    "decide": "paraminit.experiments._verdicts",
    "document": "paraminit.experiments._document",
    "initialise": "paraminit.experiments._methods",
    "load_dataset": "paraminit.experiments._data",
    "method_details": "paraminit.experiments._document",
    "run_all": "paraminit.experiments._compare",
    "summarize": "paraminit.experiments._document",
    "write_json_atomic": "paraminit.experiments._io",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'paraminit.experiments' has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
