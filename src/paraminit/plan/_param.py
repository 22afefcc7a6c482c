"""What the planner knows about a parameter: a framework-free description.

An adapter (``paraminit.torch``; later Flax, Keras) turns each parameter of a model into a
:class:`ParamInfo`: its qualified name, global shape, role, kind, blocks, fan options and
the names of its layer's type. Rules, recipes and plan resolution read only these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .._errors import InitError
from ..core import validate

__all__ = ["ROLES", "Kind", "ParamInfo"]

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
class ParamInfo:
    """One distinct parameter of a model as the planner sees it.

    Attributes:
        name: the qualified name (``"encoder.0.weight"``); it keys the random stream.
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

    def __post_init__(self) -> None:
        validate.text("name", self.name)
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

    @property
    def names(self) -> tuple[str, ...]:
        """The parameter's name and its tied copies' names."""
        return (self.name, *(alias.name for alias in self.aliases))
