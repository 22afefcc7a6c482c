"""Layers of the libraries people build transformers with, recognised without importing them.

transformers and timm define their own layer types, and fuse projections whose parts need
their own fans. Nothing here imports those libraries: layer types are matched by their
qualified class name or by the attributes they carry (duck typing), and fused projections
by the name the library gives them inside their parent block:

* transformers' ``Conv1D`` (GPT-2, GPT-J style) stores its weight as (in, out): it is read
  in that layout (``fan_options={"layout": "jax"}``), and GPT-2's ``c_attn`` is q, k and v
  side by side along its out axis (axis 1).
* ``qkv_proj`` (Phi-3): q, k and v stacked along dim 0 with grouped-query sizes
  (heads x head_dim, kv_heads x head_dim, kv_heads x head_dim); ``gate_up_proj``: gate and
  up halves.
* ``query_key_value``: BLOOM and GPT-NeoX interleave per head, ``[q0 k0 v0 q1 k1 v1 ...]``;
  Falcon has three layouts (per head; multi-query: all q, then one k and one v; the new
  decoder architecture: per kv head, that group's q heads then its k and v).
* timm's ``Attention.qkv``: q, k, v stacked along dim 0 (its forward reshapes (3, heads, d)).
* Mixture-of-experts weights stacked as (experts, out, in), or (experts, in, out) when the
  module says ``is_transposed``: every expert is a block with its own fans.
* Learned tokens and position tables (``cls_token``, ``reg_token``, ``dist_token``,
  ``mask_token``, ``pos_embed`` of timm's vision transformers): ``Kind.LEARNED_INPUT``,
  N(0, 0.02²) under the presets, as timm draws them.
* MoE routers (a class whose name ends in ``Router``): a 2-D ``weight`` (experts, hidden)
  is a Linear weight.
* Norm layers of these libraries (``LlamaRMSNorm``, timm's ``LayerNorm2d``, ...): a 1-D
  ``weight`` (and ``bias``) of a class whose name ends in ``Norm`` (``RMSNorm``,
  ``LayerNorm``, ``GroupNorm``, ...) is a norm scale (shift).

The projection that closes a residual branch (attention output, MLP down projection) of a
block in a stack of blocks gets ``residual="out"``: the parameter depth-scaled recipes
(GPT-2, Megatron) scale.
"""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn as nn

from ..plan import Kind

__all__ = ["library_fields", "norm_fields"]

_QKV = ("q", "k", "v")
# raw parameters added to a transformer's input (timm's ViT, DeiT, BEiT, ...)
_LEARNED_INPUTS = {"cls_token", "reg_token", "dist_token", "mask_token", "pos_embed"}
_NORM_CLASS = re.compile(r"(RMS|Layer|Group|Batch|Instance)Norm(\dd)?$")
# (parent class name pattern, local module name) of the projections that close a residual
# branch: attention output and MLP down projections in the libraries' blocks.
_RESIDUAL_OUT = (
    (re.compile(r"Attention"), {"c_proj", "o_proj", "out_proj", "dense", "proj", "wo"}),
    (re.compile(r"(MLP|Mlp|FeedForward|FFN|Experts)"),
     {"c_proj", "down_proj", "dense_4h_to_h", "fc2", "w2"}),
    (re.compile(r"(Self)?Output$"), {"dense"}),  # BERT's BertSelfOutput, BertOutput
    (re.compile(r"^TransformerEncoderLayer$|^TransformerDecoderLayer$"), {"linear2"}),
    (re.compile(r"^MultiheadAttention$"), {"out_proj"}),
)


def _conv1d(module: nn.Module, local: str, param: torch.Tensor) -> dict[str, Any] | None:
    """transformers' Conv1D: y = x @ W + b with W stored (in, out) = (nx, nf)."""
    if local == "weight":
        return dict(role="weight", kind=Kind.LINEAR, fan_options={"layout": "jax"})
    if local == "bias":
        return dict(role="bias", kind=Kind.BIAS, bias_fan=int(module.weight.shape[0]))
    return None


def _is_conv1d(module: nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    return (type(module).__name__ == "Conv1D" and hasattr(module, "nf")
            and isinstance(weight, torch.Tensor) and weight.ndim == 2
            and int(weight.shape[1]) == int(module.nf))


def norm_fields(local: str) -> dict[str, Any] | None:
    """A norm layer's ``weight`` (scale) and ``bias`` (shift)."""
    return {"weight": dict(role="norm", kind=Kind.NORM_SCALE),
            "bias": dict(role="norm", kind=Kind.NORM_SHIFT)}.get(local)


def _experts(module: nn.Module, local: str, param: torch.Tensor) -> dict[str, Any] | None:
    """Expert weights stacked along dim 0: (experts, out, in), or (experts, in, out) when
    the module says ``is_transposed`` (transformers' MoE ``*Experts`` modules)."""
    experts = getattr(module, "num_experts", None)
    if not isinstance(experts, int) or param.ndim not in (2, 3) or param.shape[0] != experts:
        return None
    labels = tuple(str(i) for i in range(experts))
    if param.ndim == 2:  # a per-expert bias (experts, out)
        return dict(role="bias", kind=Kind.BIAS, blocks=labels, stacked=True)
    layout = "jax" if getattr(module, "is_transposed", False) else "torch"
    return dict(role="weight", kind=Kind.LINEAR, blocks=labels, stacked=True,
                fan_options={"layout": layout})


def _fused(parent: nn.Module | None, owner: str, local: str,
           param: torch.Tensor, fields: dict[str, Any]) -> dict[str, Any]:
    """Blocks of a fused projection, by its name in its parent block; {} when not one."""
    if parent is None or fields.get("kind") not in (Kind.LINEAR, Kind.BIAS):
        return {}
    conv1d_weight = fields.get("fan_options", {}).get("layout") == "jax" and param.ndim == 2
    axis = 1 if conv1d_weight else 0
    size = int(param.shape[axis])
    parent_type = type(parent).__name__
    if owner == "c_attn":  # GPT-2: [q | k | v] (self-attention) or [k | v] (cross)
        width = int(param.shape[0]) if conv1d_weight else size // 3
        if size == 3 * width:
            return dict(blocks=_QKV, block_axis=axis)
        if size == 2 * width:
            return dict(blocks=("k", "v"), block_axis=axis)
        return {}
    if owner == "qkv" and "Attention" in parent_type and size % 3 == 0:  # timm
        return dict(blocks=_QKV, block_axis=axis)
    if owner == "gate_up_proj" and size % 2 == 0:  # Phi-3
        return dict(blocks=("gate", "up"), block_axis=axis)
    head = getattr(parent, "head_dim", None)
    if not isinstance(head, int) or head <= 0:
        return {}
    if owner == "qkv_proj":  # Phi-3: q (heads), then k and v (kv_heads each)
        kv = int(getattr(parent, "num_key_value_heads", 0) or 0)
        q = size - 2 * kv * head
        if kv > 0 and q > 0:
            return dict(blocks=_QKV, block_axis=axis, block_sizes=(q, kv * head, kv * head))
        return {}
    if owner == "query_key_value":
        heads = int(getattr(parent, "num_heads", getattr(parent, "num_attention_heads", 0)))
        kv = int(getattr(parent, "num_kv_heads", heads) or heads)
        if getattr(parent, "new_decoder_architecture", False) and kv and heads % kv == 0:
            group = heads // kv  # Falcon: per kv head, its q heads then k and v
            layout = dict(block_groups=kv, block_sizes=(group * head, head, head))
        elif getattr(parent, "multi_query", False):  # Falcon: all q, then one k and one v
            layout = dict(block_sizes=(heads * head, head, head))
        else:  # BLOOM, GPT-NeoX, Falcon without multi-query: per head q, k, v
            layout = dict(block_groups=heads)
        expected = layout.get("block_groups", 1) * sum(layout.get("block_sizes", (head,) * 3))
        if heads > 0 and size == expected:
            return dict(blocks=_QKV, block_axis=axis, **layout)
    return {}


def _residual_out(parent: nn.Module | None, owner: str) -> bool:
    if parent is None:
        return False
    parent_type = type(parent).__name__
    return any(pattern.search(parent_type) and owner in names
               for pattern, names in _RESIDUAL_OUT)


def library_fields(module: nn.Module, parent: nn.Module | None, owner: str, local: str,
                   param: torch.Tensor, fields: dict[str, Any] | None,
                   in_stack: bool) -> dict[str, Any] | None:
    """A parameter's ParamInfo fields with what the libraries' layers add.

    ``fields`` are the registered describer's (None when the layer type has none);
    ``owner`` is the layer's name in ``parent``; ``in_stack``: the layer is inside a stack
    of blocks (only there is a projection a residual branch's last).
    """
    if fields is None:
        if _is_conv1d(module):
            fields = _conv1d(module, local, param)
        elif _NORM_CLASS.search(type(module).__name__):
            fields = norm_fields(local) if param.ndim == 1 else None
        elif local in _LEARNED_INPUTS and param.ndim >= 2:
            fields = dict(role="embedding", kind=Kind.LEARNED_INPUT)
        elif type(module).__name__.endswith("Router") and local == "weight" and param.ndim == 2:
            fields = dict(role="weight", kind=Kind.LINEAR)  # MoE router: (experts, hidden)
        elif type(module).__name__.endswith("Experts"):
            fields = _experts(module, local, param)
            if fields is not None and in_stack and _residual_out(module, local):
                fields["residual"] = "out"
            return fields
    if fields is None:
        return None
    fields = {**fields, **_fused(parent, owner, local, param, fields)}
    if in_stack and fields.get("role") == "weight" and _residual_out(parent, owner):
        fields["residual"] = "out"
    return fields
