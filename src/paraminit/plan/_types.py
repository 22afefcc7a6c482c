"""Layer types by name: how a rule's type selector is written, read and matched.

The planner matches types by qualified name, so it needs no framework. Each adapter
registers a :class:`TypeNamespace` (``paraminit.torch`` registers ``torch.nn``): its classes
are then written ``"torch.nn.Linear"`` and read from a bare ``"Linear"``. Reading a name never
imports a module: a dotted path is looked up only among modules already imported.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import ModuleType

__all__ = ["TypeNamespace", "is_layer_type", "qualified_name", "register_namespace",
           "resolve_type"]


@dataclass(frozen=True)
class TypeNamespace:
    """A framework's layer types: ``prefix`` (how they are written, ``"torch.nn"``), the
    ``module`` whose attributes the bare names are (``torch.nn``) and the ``base`` every
    layer derives from (``torch.nn.Module``)."""

    prefix: str
    module: ModuleType
    base: type


_NAMESPACES: list[TypeNamespace] = []


def register_namespace(namespace: TypeNamespace) -> None:
    """Make ``namespace``'s types known to rules (idempotent)."""
    if namespace not in _NAMESPACES:
        _NAMESPACES.append(namespace)


def is_layer_type(cls: type) -> bool:
    """Whether ``cls`` derives from a registered framework's layer base."""
    return any(issubclass(cls, namespace.base) for namespace in _NAMESPACES)


def qualified_name(cls: type) -> str:
    """How a type is written in rules: ``"torch.nn.Linear"``, or its module path and qualname."""
    for namespace in _NAMESPACES:
        if getattr(namespace.module, cls.__name__, None) is cls:
            return f"{namespace.prefix}.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def resolve_type(text: str) -> type | None:
    """The layer type a name means: a bare name in a registered namespace (``"Linear"``) or
    a dotted path into an already imported module (nested classes too); None otherwise."""
    if "." not in text:
        found = next((getattr(ns.module, text) for ns in _NAMESPACES
                      if hasattr(ns.module, text)), None)
    else:
        module_name, _, attribute = text.rpartition(".")
        module = sys.modules.get(module_name)
        found = getattr(module, attribute, None) if module is not None else None
        if found is None and module is None:  # a nested qualname, e.g. pkg.mod.Outer.Inner
            head, _, inner = module_name.rpartition(".")
            outer = getattr(sys.modules.get(head), inner, None) if head else None
            found = getattr(outer, attribute, None) if outer is not None else None
    if isinstance(found, type) and is_layer_type(found):
        return found
    return None
