"""Finding a Flax model's parameters and their layers: NNX graphs and Linen params trees.

Each parameter becomes a :class:`Slot`: its description, the shape it is stored in, its
dtype and where it lives (an ``nnx.Param`` to assign, or a key path of the Linen tree).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, traverse_util

from .._errors import InitError
from ..core import validate
from ..plan import ParamInfo, TypeNamespace, qualified_name, register_namespace
from ._describe import Layer, default_type_name, describe_parameter, stream_name

_PROJECTIONS = ("query", "key", "value", "out")

__all__ = ["Slot", "describe_linen", "describe_nnx", "is_linen_tree", "split_variables"]

register_namespace(TypeNamespace("flax.nnx", nnx, nnx.Module))
register_namespace(TypeNamespace("flax.linen", linen, linen.Module))


@dataclass
class Slot:
    """One described parameter: ``info`` (whose shape is the matrix a multi-axis kernel is
    read as), the ``shape`` and ``dtype`` it is stored in, the layer's class (None when
    unknown), and where it lives: ``param`` (an ``nnx.Param``) or ``key`` (a Linen path)."""

    info: ParamInfo
    shape: tuple[int, ...]
    dtype: Any
    layer_type: type | None
    param: Any = None
    key: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.info.name


@cache
def _type_names(cls: type) -> tuple[str, ...]:
    """The class names along ``cls``'s MRO (for describers)."""
    return tuple(c.__name__ for c in cls.__mro__)


@cache
def _qualified(cls: type) -> tuple[str, ...]:
    """The qualified names of ``cls`` and its layer bases (for rules' type selectors)."""
    return tuple(qualified_name(c) for c in cls.__mro__
                 if issubclass(c, (nnx.Module, linen.Module)))


def _info(name: str, module: str, layer_type: type | None, layer: Layer, local: str,
          shape: tuple[int, ...]) -> ParamInfo:
    fields = describe_parameter(layer, local, shape) or {}
    view = fields.pop("view", shape)
    type_name = layer_type.__name__ if layer_type is not None else "untyped layer"
    return ParamInfo(name=name, shape=view, module=module, module_type=type_name,
                     type_names=_qualified(layer_type) if layer_type is not None else (),
                     stream=stream_name(name), **fields)


def _dotted(path: Sequence[Any]) -> str:
    return ".".join(str(key) for key in path)


def describe_nnx(model: nnx.Module, prefix: str) -> list[Slot]:
    """Every ``nnx.Param`` of ``model`` (each shared one once), named by its dotted path."""
    nodes = dict(nnx.iter_graph(model))
    slots: list[Slot] = []
    for path, node in nodes.items():
        if not isinstance(node, nnx.Param):
            continue
        owner_path = tuple(path[:-1])
        owner = nodes.get(owner_path)
        parent = nodes.get(owner_path[:-1]) if owner_path else None
        owner_type = type(owner) if isinstance(owner, nnx.Module) else None
        shapes = {str(k): tuple(v.shape) for k, v in vars(owner).items()
                  if isinstance(v, nnx.Param)} if owner_type is not None else {}
        layer = Layer(_type_names(owner_type) if owner_type else (),
                      _type_names(type(parent)) if parent is not None else (),
                      str(owner_path[-1]) if owner_path else "",
                      (lambda n, d, o=owner: getattr(o, n, d)) if owner_type else None,
                      shapes)
        shape = tuple(int(d) for d in node.shape)
        name = validate.text("parameter name", prefix + _dotted(path))
        info = _info(name, prefix + _dotted(owner_path), owner_type, layer, str(path[-1]),
                     shape)
        slots.append(Slot(info, shape, node.dtype, owner_type, param=node))
    return slots


def is_linen_tree(target: Any) -> bool:
    """A Linen params tree (or variables dict): a mapping, as NNX modules are not."""
    return isinstance(target, Mapping)


def split_variables(target: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """The params tree of ``target`` and whether ``target`` is the whole variables dict."""
    if "params" in target and isinstance(target["params"], Mapping):
        return target["params"], True
    return target, False


def _trace(module: linen.Module, inputs: Any) -> dict[tuple[str, ...], linen.Module]:
    """Each submodule of ``module`` by its scope path, learnt from one abstract ``init``
    (``jax.eval_shape``: no arrays are computed) under ``linen.intercept_methods``."""
    args = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    seen: dict[tuple[str, ...], linen.Module] = {}

    def record(next_fun: Callable[..., Any], call_args: Any, kwargs: Any,
               context: Any) -> Any:
        scope = context.module.scope
        if scope is not None:
            seen.setdefault(tuple(scope.path), context.module)
        return next_fun(*call_args, **kwargs)

    key = jax.random.key(0)
    try:
        with linen.intercept_methods(record):
            jax.eval_shape(lambda: module.init({"params": key, "dropout": key}, *args))
    except Exception as error:  # a model that cannot run on these inputs
        raise InitError(f"cannot trace {type(module).__name__} with the given inputs to learn "
                        f"its layer types ({type(error).__name__}: {error}). Pass inputs= the "
                        "example inputs module.init takes (a tuple for several), or omit "
                        "module= to type layers by Flax's default names") from None
    return seen


def describe_linen(params: Mapping[str, Any], prefix: str, module: linen.Module | None,
                   inputs: Any) -> list[Slot]:
    """Every leaf of a Linen params tree; layer types from tracing ``module`` on ``inputs``,
    or, without ``module``, from Flax's default names (``Dense_0`` is a ``Dense``)."""
    if module is not None and not isinstance(module, linen.Module):
        raise InitError(f"module must be the flax.linen.Module the params belong to; received "
                        f"{validate.show(module)}")
    if module is not None and inputs is None:
        raise InitError("module= needs inputs=: the example inputs module.init takes (a tuple "
                        "for several), so the layer types can be traced")
    traced = _trace(module, inputs) if module is not None else None
    flat = traverse_util.flatten_dict(dict(params))
    by_owner: dict[tuple[str, ...], dict[str, tuple[int, ...]]] = {}
    for key, leaf in flat.items():
        by_owner.setdefault(tuple(key[:-1]), {})[str(key[-1])] = tuple(np.shape(leaf))
    slots: list[Slot] = []
    for key, leaf in flat.items():
        owner_path, local = tuple(key[:-1]), str(key[-1])
        owner_type, parent_type, attrs = _linen_layer(owner_path, traced)
        layer = Layer(_type_names(owner_type) if owner_type else (),
                      _type_names(parent_type) if parent_type else (),
                      str(owner_path[-1]) if owner_path else "", attrs, by_owner[owner_path])
        shape = tuple(int(d) for d in np.shape(leaf))
        name = validate.text("parameter name", prefix + _dotted(key))
        info = _info(name, prefix + _dotted(owner_path), owner_type, layer, local, shape)
        dtype = leaf.dtype if hasattr(leaf, "dtype") else jnp.asarray(leaf).dtype
        slots.append(Slot(info, shape, dtype, owner_type, key=tuple(key)))
    if traced is not None:
        _check_traced(flat, traced, module)
    return slots


def _linen_layer(path: tuple[str, ...], traced: dict[tuple[str, ...], linen.Module] | None
                 ) -> tuple[type | None, type | None, Callable[[str, Any], Any] | None]:
    """The layer at ``path``: its class, its parent's class and an attribute getter."""
    if traced is not None:
        owner, parent = traced.get(path), traced.get(path[:-1]) if path else None
        return (type(owner) if owner is not None else None,
                type(parent) if parent is not None else None,
                (lambda n, d, o=owner: getattr(o, n, d)) if owner is not None else None)

    def by_name(local: str) -> type | None:
        name = default_type_name(local)
        found = getattr(linen, name, None) if name else None
        return found if isinstance(found, type) and issubclass(found, linen.Module) else None

    parent = by_name(path[-2]) if len(path) > 1 else None
    owner = by_name(path[-1]) if path else None
    if owner is None and parent is not None:
        if issubclass(parent, linen.MultiHeadDotProductAttention) and path[-1] in _PROJECTIONS:
            owner = linen.DenseGeneral  # attention's named projections
        elif issubclass(parent, linen.RNNCellBase):
            owner = linen.Dense  # a cell's ii, hf, ... (DenseParams: the same layout)
    return owner, parent, None


def _check_traced(flat: Mapping[tuple[str, ...], Any],
                  traced: dict[tuple[str, ...], linen.Module], module: linen.Module) -> None:
    missing = [key for key in flat if tuple(key[:-1]) not in traced]
    if missing:
        raise InitError(
            f"the params hold {_dotted(missing[0])!r}, but tracing {type(module).__name__} "
            "found no layer at that path: these params do not belong to this module (or "
            "these inputs). Pass the module the params were made by")
