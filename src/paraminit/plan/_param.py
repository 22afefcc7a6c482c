"""What the planner knows about a parameter: a framework-free description.

An adapter (``paraminit.torch``; later Flax, Keras) turns each parameter of a model into a
:class:`ParamInfo`: its qualified name, global shape, role, kind, blocks, fan options and
the names of its layer's type. Rules, recipes and plan resolution read only these.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from .._errors import InitError
from ..core import validate

__all__ = ["ROLES", "BlockPlace", "Kind", "ParamInfo"]

# The roles a rule may select; parameters of layers no describer knows have role "other".
ROLES: tuple[str, ...] = ("bias", "embedding", "norm", "recurrent", "weight")


class Kind(str, Enum):
    """What a parameter is to its layer: the typed value presets and recipes dispatch on."""

    LINEAR = "linear"
    CONV = "conv"
    CONV_TRANSPOSE = "conv_transpose"
    BILINEAR = "bilinear"
    BIAS = "bias"
    EMBEDDING = "embedding"
    LEARNED_INPUT = "learned_input"  # a learned token or position table added to the input
    NORM_SCALE = "norm_scale"
    NORM_SHIFT = "norm_shift"
    ATTENTION_IN = "mha_in"  # q, k and v stacked along dim 0
    ATTENTION_SEPARATE = "mha_sep"  # one of separate q/k/v projections
    ATTENTION_IN_BIAS = "mha_in_bias"
    ATTENTION_BIAS_KV = "mha_bias_kv"  # the learned key/value rows appended to the sequence
    ATTENTION_OUT_BIAS = "mha_out_bias"
    RNN_INPUT = "rnn_ih"
    RNN_RECURRENT = "rnn_hh"
    RNN_PROJECTION = "rnn_hr"
    RNN_BIAS_INPUT = "rnn_bias_ih"
    RNN_BIAS_RECURRENT = "rnn_bias_hh"
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class BlockPlace:
    """Where a block lies along ``axis`` of its parameter: indices ``[start, stop)`` of
    each of ``groups`` equal periods (one period: a plain slice), or, ``stacked``, the
    single index ``start``, which the block's shape drops."""

    axis: int
    start: int
    stop: int
    groups: int = 1
    stacked: bool = False

    def indices(self, size: int) -> np.ndarray:
        """The block's indices along ``axis`` (of ``size``) in the block's own order."""
        period = size // self.groups
        return (np.arange(self.groups)[:, None] * period
                + np.arange(self.start, self.stop)[None, :]).reshape(-1)

    def block_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The block's shape in a parameter of ``shape``."""
        if self.stacked:
            return (*shape[:self.axis], *shape[self.axis + 1:])
        extent = (self.stop - self.start) * self.groups
        return (*shape[:self.axis], extent, *shape[self.axis + 1:])

    @property
    def slice(self) -> bool:
        """Whether the block is one contiguous slice along its axis (no groups, not stacked)."""
        return self.groups == 1 and not self.stacked


@dataclass(frozen=True)
class ParamInfo:
    """One distinct parameter of a model as the planner sees it.

    Attributes:
        name: the qualified name (``"encoder.0.weight"``) rules and plans use.
        stream: the name keying the parameter's random stream; ``name`` when empty. An
            adapter whose framework names parameters differently gives the torch-style name
            here (Flax's ``"fc.kernel"`` streams as ``"fc.weight"``), so the same model in
            two frameworks draws the same values.
        shape: the *global* shape (the whole tensor, also when it is stored sharded).
        role: one of :data:`ROLES`, or ``"other"`` for a parameter no describer knows.
        kind: what it is to its layer (:class:`Kind`).
        module: the qualified name of the layer that owns it.
        module_type: the layer's class name as shown in plans (``"Linear"``).
        type_names: the qualified names of the layer's type and its bases
            (``"torch.nn.Linear"``, ...); type selectors match against them.
        blocks: labels of the blocks stacked along dim 0 (``("i", "f", "g", "o")``), each
            initialised with its own fans.
        fan_options: options of :func:`paraminit.core.fans.compute_fans` the layer implies
            (``groups``, ``transposed``, ``layout``).
        stride: a convolution's stride (read by ``stride_aware`` rules).
        bias_fan: the fan_in the framework's own bias law uses for this layer.
        padding_idx: an embedding row kept at 0.
        aliases: tied copies of the same parameter, each described as its own layer sees it.
        layer: the index of the block (layer) this parameter sits in, when known.
        depth: the number of such blocks in the model.
        residual: the position in a residual branch, e.g. ``"out"`` for the projection that
            closes the branch (GPT-2's ``c_proj``).
        labels: free-form labels a describer or the user attaches (selected by ``label:``).
        block_axis: the axis the blocks are stacked along (0; 1 for an (in, out) fused
            weight such as transformers' ``Conv1D`` ``c_attn``).
        block_sizes: each block's size along ``block_axis`` (within one group), when they
            differ (q, k and v of grouped-query attention); equal sizes when empty.
        block_groups: the blocks repeat this many times along ``block_axis`` (per-head
            interleaving, ``[q0 k0 v0 q1 k1 v1 ...]`` as in BLOOM's ``query_key_value``):
            block ``q`` is every group's ``q`` slice, in order.
        stacked: each block is one index along ``block_axis``, which its shape drops (MoE
            expert weights stored as (experts, out, in)): every expert gets its own fans.
    """

    name: str
    shape: tuple[int, ...]
    role: str = "other"
    kind: Kind = Kind.OTHER
    module: str = ""
    module_type: str = ""
    type_names: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()
    fan_options: Mapping[str, Any] = field(default_factory=dict)
    stride: tuple[int, ...] | None = None
    bias_fan: float | None = None
    padding_idx: int | None = None
    aliases: tuple[ParamInfo, ...] = ()
    layer: int | None = None
    depth: int | None = None
    residual: str | None = None
    labels: frozenset[str] = frozenset()
    block_axis: int = 0
    block_sizes: tuple[int, ...] = ()
    block_groups: int = 1
    stacked: bool = False
    stream: str = ""

    def __post_init__(self) -> None:
        validate.text("name", self.name)
        object.__setattr__(self, "stream", validate.text("stream", self.stream) or self.name)
        object.__setattr__(self, "shape", validate.shape(self.shape))
        validate.choice(f"{self.name}: role", self.role, (*ROLES, "other"))
        try:
            object.__setattr__(self, "kind", Kind(self.kind))
        except ValueError:
            raise InitError(f"{self.name}: kind must be a paraminit.plan.Kind (one of "
                            f"{', '.join(k.value for k in Kind)}); received "
                            f"{validate.show(self.kind)}") from None
        for label in self.blocks:
            validate.text("block label", label)
        for key, value in (("layer", self.layer), ("depth", self.depth)):
            if value is not None:
                validate.integer(key, value, minimum=0)
        object.__setattr__(self, "labels", frozenset(validate.text("label", label)
                                                     for label in self.labels))
        validate.integer("block_axis", self.block_axis, minimum=0)
        validate.integer("block_groups", self.block_groups, minimum=1)
        for size in self.block_sizes:
            validate.integer("block size", size, minimum=1)
        if self.block_sizes and len(self.block_sizes) != len(self.blocks):
            raise InitError(f"{self.name}: block_sizes {self.block_sizes} give one size per "
                            f"block; received {len(self.block_sizes)} for blocks {self.blocks}")

    def places(self) -> list[BlockPlace]:
        """Where each block lies in the parameter (one per label, in order).

        Raises:
            InitError: the blocks do not tile ``shape`` along ``block_axis``.
        """
        shape, axis, labels = self.shape, self.block_axis, self.blocks
        if axis >= len(shape):
            raise InitError(f"{self.name}: blocks {labels} lie along axis {axis}, but the shape "
                            f"{shape} has {len(shape)} axes")
        size = shape[axis]
        if self.stacked:
            if size != len(labels):
                raise InitError(f"{self.name}: {len(labels)} stacked blocks need axis {axis} of "
                                f"size {len(labels)}; the shape is {shape}")
            return [BlockPlace(axis, i, i + 1, stacked=True) for i in range(len(labels))]
        groups = self.block_groups
        sizes = self.block_sizes
        if not sizes:
            if size % (groups * len(labels)):
                raise InitError(f"{self.name}: shape {shape} does not split along axis {axis} "
                                f"into {groups * len(labels)} equal blocks ({groups} group(s) of "
                                f"{labels}); give a shape whose axis {axis} is a multiple of "
                                f"{groups * len(labels)}, or blocks=False in the rule")
            sizes = (size // (groups * len(labels)),) * len(labels)
        if sum(sizes) * groups != size:
            raise InitError(f"{self.name}: blocks {dict(zip(labels, sizes, strict=True))} x "
                            f"{groups} group(s) cover {sum(sizes) * groups} of axis {axis}'s "
                            f"{size}; the block sizes must add up to the axis")
        starts = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        return [BlockPlace(axis, int(a), int(b), groups)
                for a, b in itertools.pairwise(starts)]

    @property
    def names(self) -> tuple[str, ...]:
        """The parameter's name and its tied copies' names."""
        return (self.name, *(alias.name for alias in self.aliases))
