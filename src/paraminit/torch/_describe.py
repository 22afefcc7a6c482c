"""The torch adapter's *describe*: every parameter of an ``nn.Module`` as a ParamInfo.

Each layer type has a describer: a function ``(module, local_name, parameter) -> dict`` of
:class:`~paraminit.plan.ParamInfo` fields (role, kind, blocks, fan options, ...), or None
for a parameter it does not know. Describers are looked up along the module's type's MRO,
so a subclass of ``nn.Linear`` is described as a Linear unless it has its own;
:func:`register_describer` adds them for user layer types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd

from .._errors import InitError
from ..core import validate
from ..plan import Kind, ParamInfo, TypeNamespace, qualified_name, register_namespace
from ._libraries import library_fields, norm_fields

__all__ = ["Binding", "Describer", "describe", "register_describer"]

register_namespace(TypeNamespace("torch.nn", nn, nn.Module))

Describer = Callable[[nn.Module, str, torch.Tensor], "dict[str, Any] | None"]

_GATES = {"LSTM": ("i", "f", "g", "o"), "GRU": ("r", "z", "n")}
_QKV = ("q", "k", "v")
_DESCRIBERS: dict[type, Describer] = {}
_USERS: set[Describer] = set()  # describers users registered: their fields are final


def register_describer(module_type: type, describer: Describer) -> None:
    """Describe the parameters of ``module_type`` (and its subclasses) with ``describer``.

    ``describer(module, local_name, parameter)`` returns a dict of ParamInfo fields —
    ``role`` (``"weight"``, ``"bias"``, ...), ``kind`` (a :class:`~paraminit.plan.Kind`),
    and optionally ``blocks``, ``fan_options``, ``stride``, ``bias_fan``, ``padding_idx``,
    ``layer``, ``depth``, ``residual``, ``labels`` — or None for a parameter it does not
    know (role ``"other"``, left to rules that select it by name).

    Example:
        >>> class Scale(nn.Module):
        ...     def __init__(self): super().__init__(); self.gain = nn.Parameter(torch.ones(4))
        >>> register_describer(Scale, lambda m, local, p: {"role": "norm",
        ...                                                 "kind": Kind.NORM_SCALE})
    """
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise InitError(f"module_type must be a torch.nn.Module subclass; received "
                        f"{validate.show(module_type)}")
    if not callable(describer):
        raise InitError(f"describer must be a callable (module, local_name, parameter) -> dict "
                        f"or None; received {validate.show(describer)}")
    _DESCRIBERS[module_type] = describer
    _USERS.add(describer)


def _describer(module_type: type) -> Describer | None:
    return next((_DESCRIBERS[cls] for cls in module_type.__mro__ if cls in _DESCRIBERS), None)


@cache
def _type_names(module_type: type) -> tuple[str, ...]:
    return tuple(qualified_name(cls) for cls in module_type.__mro__
                 if isinstance(cls, type) and issubclass(cls, nn.Module))


def _torch_fan_in(weight: torch.Tensor) -> int:
    """torch's ``_calculate_fan_in_and_fan_out(weight)[0]``: size(1) x receptive field."""
    fan = int(weight.shape[1])
    for size in weight.shape[2:]:
        fan *= int(size)
    return fan


def _attention(module: nn.Module, local: str, param: torch.Tensor) -> dict[str, Any] | None:
    e = module.embed_dim
    return {
        "in_proj_weight": dict(role="weight", kind=Kind.ATTENTION_IN, blocks=_QKV),
        "q_proj_weight": dict(role="weight", kind=Kind.ATTENTION_SEPARATE),
        "k_proj_weight": dict(role="weight", kind=Kind.ATTENTION_SEPARATE),
        "v_proj_weight": dict(role="weight", kind=Kind.ATTENTION_SEPARATE),
        "in_proj_bias": dict(role="bias", kind=Kind.ATTENTION_IN_BIAS, blocks=_QKV, bias_fan=e),
        "bias_k": dict(role="bias", kind=Kind.ATTENTION_BIAS_KV, bias_fan=e),
        "bias_v": dict(role="bias", kind=Kind.ATTENTION_BIAS_KV, bias_fan=e),
    }.get(local)


def _recurrent(module: nn.Module, local: str, param: torch.Tensor) -> dict[str, Any] | None:
    gates = _GATES.get(module.mode, ())
    for stem, info in (
        ("weight_ih_l", dict(role="weight", kind=Kind.RNN_INPUT, blocks=gates)),
        ("weight_hh_l", dict(role="recurrent", kind=Kind.RNN_RECURRENT, blocks=gates)),
        ("weight_hr_l", dict(role="weight", kind=Kind.RNN_PROJECTION)),
        ("bias_ih_l", dict(role="bias", kind=Kind.RNN_BIAS_INPUT, blocks=gates)),
        ("bias_hh_l", dict(role="bias", kind=Kind.RNN_BIAS_RECURRENT, blocks=gates)),
    ):
        if local.startswith(stem):
            return {**info, "bias_fan": module.hidden_size}
    return None


def _bilinear(module: nn.Module, local: str, param: torch.Tensor) -> dict[str, Any] | None:
    # torch's Bilinear bound is 1/sqrt(in1_features) for weight and bias alike.
    return {"weight": dict(role="weight", kind=Kind.BILINEAR, bias_fan=module.in1_features),
            "bias": dict(role="bias", kind=Kind.BIAS, bias_fan=module.in1_features)}.get(local)


def _convolution(module: nn.Module, local: str, param: torch.Tensor) -> dict[str, Any] | None:
    transposed = bool(module.transposed)
    return {
        "weight": dict(role="weight", kind=Kind.CONV_TRANSPOSE if transposed else Kind.CONV,
                       fan_options={"groups": module.groups, "transposed": transposed},
                       stride=tuple(module.stride)),
        "bias": dict(role="bias", kind=Kind.BIAS, bias_fan=_torch_fan_in(module.weight)),
    }.get(local)


def _linear(module: nn.Module, local: str, param: torch.Tensor) -> dict[str, Any] | None:
    return {"weight": dict(role="weight", kind=Kind.LINEAR),
            "bias": dict(role="bias", kind=Kind.BIAS, bias_fan=module.in_features)}.get(local)


def _embedding(module: nn.Module, local: str, param: torch.Tensor) -> dict[str, Any] | None:
    if local == "weight":
        return dict(role="embedding", kind=Kind.EMBEDDING, padding_idx=module.padding_idx)
    return None


def _norm(module: nn.Module, local: str, param: torch.Tensor) -> dict[str, Any] | None:
    return norm_fields(local)


for _type, _function in ((nn.MultiheadAttention, _attention), (nn.RNNBase, _recurrent),
                         (nn.Bilinear, _bilinear), (_ConvNd, _convolution), (nn.Linear, _linear),
                         (nn.Embedding, _embedding), (nn.EmbeddingBag, _embedding),
                         (nn.LayerNorm, _norm), (nn.GroupNorm, _norm), (nn.RMSNorm, _norm),
                         (_NormBase, _norm)):
    _DESCRIBERS[_type] = _function


@dataclass
class Binding:
    """Where a described parameter lives in the torch model: its tensor and its owners."""

    info: ParamInfo
    module: nn.Module
    local: str
    param: torch.Tensor
    aliases: list[tuple[nn.Module, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def owners(self) -> list[tuple[nn.Module, str]]:
        return [(self.module, self.local), *self.aliases]


def _repeated_blocks(model: nn.Module) -> dict[str, tuple[int, int]]:
    """``{"layers.3": (3, 12)}``: each child of an ``nn.ModuleList``/``nn.Sequential`` whose
    two or more children are all of one type (a stack of blocks), with its index and count."""
    blocks = {}
    for name, module in model.named_modules():
        if not isinstance(module, (nn.ModuleList, nn.Sequential)):
            continue
        children = list(module.named_children())
        if len(children) >= 2 and len({type(child) for _, child in children}) == 1:
            for index, (child, _) in enumerate(children):
                blocks[f"{name}.{child}" if name else child] = (index, len(children))
    return blocks


def _position(module_name: str, blocks: dict[str, tuple[int, int]]) -> dict[str, int]:
    """The layer index and depth of the outermost stack of blocks ``module_name`` is in."""
    parts = module_name.split(".") if module_name else []
    for end in range(1, len(parts) + 1):
        found = blocks.get(".".join(parts[:end]))
        if found is not None:
            return {"layer": found[0], "depth": found[1]}
    return {}


def _info(name: str, module_name: str, module: nn.Module, local: str, param: torch.Tensor,
          attention_out: bool, position: dict[str, int], parent: nn.Module | None) -> ParamInfo:
    describer = _describer(type(module))
    fields = describer(module, local, param) if describer is not None else None
    if fields is not None and not isinstance(fields, dict):
        raise InitError(f"the describer of {type(module).__name__} returned "
                        f"{validate.show(fields)} for {name!r}; a describer returns a dict of "
                        "ParamInfo fields or None")
    if describer is None or describer not in _USERS:  # a user's describer is final
        fields = library_fields(module, parent, module_name.rpartition(".")[2], local, param,
                                fields, in_stack=bool(position))
    fields = fields or {}
    if attention_out and fields.get("kind") == Kind.BIAS:
        # MultiheadAttention zeroes its out_proj bias: a kind of its own.
        fields = {**fields, "kind": Kind.ATTENTION_OUT_BIAS}
    fields = {**position, **fields}  # a describer's own layer/depth win
    try:
        return ParamInfo(name=name, shape=tuple(int(d) for d in param.shape), module=module_name,
                         module_type=type(module).__name__,
                         type_names=_type_names(type(module)), **fields)
    except TypeError as error:
        raise InitError(f"the describer of {type(module).__name__} returned unknown fields for "
                        f"{name!r} ({error}); see paraminit.plan.ParamInfo") from None


def describe(model: nn.Module, prefix: str = "") -> list[Binding]:
    """Every distinct parameter of ``model`` in module order; tied copies become aliases.

    The first owner (in ``named_modules`` order) owns a tied parameter: its name keys the
    stream and its rule applies; each other owner is described as its own layer sees it.
    A parameter inside a stack of blocks (two or more children of one type in an
    ``nn.ModuleList`` or ``nn.Sequential``, e.g. ``TransformerEncoder.layers``) gets the
    block's index as ``layer`` and the stack's length as ``depth`` (the outermost stack).
    """
    if not isinstance(model, nn.Module):
        raise InitError(f"model must be a torch.nn.Module; received {type(model).__name__}")
    if not isinstance(prefix, str):
        raise InitError(f"prefix must be a str such as 'encoder.'; received {prefix!r}")
    validate.text("prefix", prefix)
    attention_out = {id(m.out_proj) for m in model.modules()
                     if isinstance(m, nn.MultiheadAttention)}
    named: dict[str, nn.Module] = {}  # every module so far: a parent comes before its children
    blocks = _repeated_blocks(model)
    bindings: list[Binding] = []
    by_id: dict[int, Binding] = {}
    aliases: dict[int, list[ParamInfo]] = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
        named[module_name] = module
        for local, param in module._parameters.items():
            if param is None:
                continue
            name = validate.text("parameter name",
                                 prefix + (f"{module_name}.{local}" if module_name else local))
            if isinstance(param, nn.parameter.UninitializedParameter):
                raise InitError(
                    f"parameter {name!r} of {type(module).__name__} is uninitialized (a lazy "
                    "module): run one forward pass with a sample input before init()"
                )
            info = _info(name, prefix + module_name, module, local, param,
                         id(module) in attention_out, _position(module_name, blocks),
                         named.get(module_name.rpartition(".")[0]) if module_name else None)
            if id(param) in by_id:
                by_id[id(param)].aliases.append((module, local))
                aliases[id(param)].append(info)
                continue
            binding = Binding(info, module, local, param)
            by_id[id(param)] = binding
            aliases[id(param)] = []
            bindings.append(binding)
    for binding in bindings:
        tied = aliases[id(binding.param)]
        if tied:
            info = binding.info
            known = next((alias for alias in tied if alias.role != "other"), None)
            if info.role == "other" and known is not None:
                # a raw parameter its owner shares with a layer that knows it (BERT's
                # cls.predictions.bias is the decoder Linear's bias): described as that layer's
                info = replace(known, name=info.name, module=info.module,
                               module_type=info.module_type, type_names=info.type_names)
            binding.info = replace(info, aliases=tuple(tied))
    return bindings


def modules_by_name(bindings: list[Binding]) -> dict[str, nn.Module]:
    """Each described name (tied copies' too) to its layer: for the isinstance hook."""
    out: dict[str, nn.Module] = {}
    for binding in bindings:
        out[binding.name] = binding.module
        for alias, (module, _) in zip(binding.info.aliases, binding.aliases, strict=True):
            out[alias.name] = module
    return out
