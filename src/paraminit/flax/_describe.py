"""The Flax adapter's *describe*: each parameter of an NNX module or a Linen params tree as
a :class:`~paraminit.plan.ParamInfo`, with the fans Flax's own layers imply.

NNX and Linen share their layer vocabulary (``nnx.Linear`` is Linen's ``Dense``,
``nnx.LinearGeneral`` its ``DenseGeneral``; ``Conv``, ``ConvTranspose``, ``Embed``, the
norms, the attention and recurrent cells have one name in both), so one table of
describers, keyed by class name along the layer type's MRO, serves both. A describer reads
the layer's attributes when the layer is known (an NNX module, a traced Linen module) and
falls back to what the parameter shapes say otherwise (a Linen tree typed by Flax's default
names ``Dense_0``, ``Conv_1``, ...).

Kernels are (in, out) and (*kernel, in/groups, out): ``fan_options={"layout": "jax"}``.
A multi-axis ``LinearGeneral``/``DenseGeneral`` kernel (attention's q/k/v as (in, heads,
head_dim), its output as (heads, head_dim, out)) is read as the matrix Flax's own
``kernel_init`` sees: (prod(batch and contracted axes), prod(feature axes)), so fan_in is the
product of the contracted input axes and fan_out that of the output axes (Flax's
``kernel_init_wrap`` reshapes the same way); its values are drawn for that matrix and
reshaped to the kernel's shape.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..plan import Kind

__all__ = ["Layer", "describe_parameter", "stream_name"]

# Flax's parameter names that are a torch module's ``weight``: a kernel, an embedding table,
# a norm's scale. ``bias`` is ``bias`` in both.
_TORCH_NAMES = {"kernel": "weight", "embedding": "weight", "scale": "weight"}
_GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
_ATTENTION = ("MultiHeadAttention", "MultiHeadDotProductAttention", "SelfAttention")
_CELLS = {"LSTMCell": "lstm", "OptimizedLSTMCell": "lstm", "ConvLSTMCell": "lstm",
          "GRUCell": "gru", "SimpleCell": "", "MGUCell": ""}
_NORMS = ("LayerNorm", "RMSNorm", "BatchNorm", "GroupNorm", "InstanceNorm")
_DEFAULT_NAME = re.compile(r"^([A-Z][A-Za-z0-9]*)_\d+$")


def stream_name(name: str) -> str:
    """The torch-style name keying a Flax parameter's random stream.

    The last component of the dotted path is renamed as torch names the same tensor:
    ``kernel``, ``embedding`` and ``scale`` become ``weight`` (``bias`` stays), so Flax's
    ``"fc.kernel"`` and torch's ``"fc.weight"`` draw from one stream (and, with the
    canonical element order of :mod:`paraminit.numpy`, hold the same matrix, transposed).

    Example:
        >>> stream_name("encoder.layers.0.kernel")
        'encoder.layers.0.weight'
    """
    head, dot, last = name.rpartition(".")
    return f"{head}{dot}{_TORCH_NAMES.get(last, last)}"


def default_type_name(module_local: str) -> str | None:
    """The class a Linen default name gives (``"Conv_1"`` -> ``"Conv"``), or None."""
    found = _DEFAULT_NAME.match(module_local)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Layer:
    """What describing one parameter needs to know of its layer.

    ``type_names`` are the class names along the layer's MRO (``("Linear", "Module",
    ...)``), ``parent_types`` those of the layer's parent, ``local`` the layer's name in its
    parent (``"query"``, ``"dense_h"``), ``attrs`` a getter of the layer's attributes (None
    when only names are known) and ``shapes`` every parameter shape of the layer by name.
    """

    type_names: tuple[str, ...]
    parent_types: tuple[str, ...]
    local: str
    attrs: Callable[[str, Any], Any] | None
    shapes: Mapping[str, tuple[int, ...]]

    def attr(self, name: str, default: Any) -> Any:
        return self.attrs(name, default) if self.attrs is not None else default

    def is_a(self, *names: str) -> bool:
        return any(name in self.type_names for name in names)

    def parent_is(self, *names: str) -> bool:
        return any(name in self.parent_types for name in names)


def _tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else (
        value,)


def _strides(layer: Layer, rank: int) -> tuple[int, ...] | None:
    strides = _tuple(layer.attr("strides", None))
    if not strides or not all(isinstance(s, int) for s in strides):
        return None
    return strides * rank if len(strides) == 1 else strides


def _out_axes(layer: Layer, shape: tuple[int, ...]) -> int:
    """How many trailing axes of a LinearGeneral/DenseGeneral kernel are its features."""
    features = layer.attr("out_features", None) if layer.is_a("LinearGeneral") else None
    if features is None:
        features = layer.attr("features", None)
    if features is not None:
        return len(_tuple(features))
    if layer.parent_is(*_ATTENTION):  # typed by names only: q/k/v are (in, heads, head_dim)
        return 2 if layer.local in ("query", "key", "value") else 1
    return 1


def _dense(layer: Layer, local: str, shape: tuple[int, ...]) -> dict[str, Any] | None:
    kernel = layer.shapes.get("kernel", ())
    if local == "kernel":
        fields: dict[str, Any] = dict(role="weight", kind=Kind.LINEAR,
                                      fan_options={"layout": "jax"})
        if len(shape) > 2:
            out = _out_axes(layer, shape)
            fields["view"] = (math.prod(shape[:-out]), math.prod(shape[-out:]))
        return fields
    if local == "bias":
        fan = math.prod(kernel[:-_out_axes(layer, kernel)]) if len(kernel) > 2 else (
            kernel[0] if kernel else None)
        return dict(role="bias", kind=Kind.BIAS, bias_fan=fan)
    return None


def _convolution(layer: Layer, local: str, shape: tuple[int, ...]) -> dict[str, Any] | None:
    kernel = layer.shapes.get("kernel", ())
    if local == "bias":
        return dict(role="bias", kind=Kind.BIAS, bias_fan=math.prod(kernel[:-1]) or None)
    if local != "kernel" or len(shape) < 3:
        return None
    stride = _strides(layer, len(shape) - 2)
    if layer.is_a("ConvTranspose"):
        # (*k, in, out), or (*k, out, in) with transpose_kernel: the Keras reading
        flipped = bool(layer.attr("transpose_kernel", False))
        return dict(role="weight", kind=Kind.CONV_TRANSPOSE, stride=stride,
                    fan_options={"layout": "keras" if flipped else "jax", "transposed": True})
    groups = int(layer.attr("feature_group_count", 1))
    return dict(role="weight", kind=Kind.CONV, stride=stride,
                fan_options={"layout": "jax", "groups": groups})


def _embedding(layer: Layer, local: str, shape: tuple[int, ...]) -> dict[str, Any] | None:
    # (num_embeddings, features): rows are tokens, as torch's nn.Embedding weight
    return dict(role="embedding", kind=Kind.EMBEDDING) if local == "embedding" else None


def _norm(layer: Layer, local: str, shape: tuple[int, ...]) -> dict[str, Any] | None:
    return {"scale": dict(role="norm", kind=Kind.NORM_SCALE),
            "bias": dict(role="norm", kind=Kind.NORM_SHIFT)}.get(local)


_DESCRIBERS: tuple[tuple[tuple[str, ...], Callable[..., dict[str, Any] | None]], ...] = (
    (("Linear", "Dense", "LinearGeneral", "DenseGeneral", "DenseParams"), _dense),
    (("ConvTranspose", "Conv"), _convolution),
    (("Embed",), _embedding),
    (_NORMS, _norm),
)


def _recurrent(layer: Layer, fields: dict[str, Any], shape: tuple[int, ...]
               ) -> dict[str, Any]:
    """A cell's dense layers: input (``i*``, ``dense_i``) and recurrent (``h*``, ``dense_h``)
    kernels and biases; gate-stacked ones (nnx ``OptimizedLSTMCell``/``GRUCell``'s
    ``dense_i``/``dense_h``, (in, gates x hidden)) split into their gates along axis 1."""
    cell = next(_CELLS[name] for name in layer.parent_types if name in _CELLS)
    recurrent = layer.local.startswith("h") or layer.local == "dense_h"
    kernel = layer.shapes.get("kernel", ())
    hidden = kernel[-1] if kernel else None
    gates = _GATES.get(cell, ()) if layer.local in ("dense_i", "dense_h") else ()
    if gates and hidden is not None:
        hidden //= len(gates)
    if fields["role"] == "bias":
        kind = Kind.RNN_BIAS_RECURRENT if recurrent else Kind.RNN_BIAS_INPUT
        return dict(role="bias", kind=kind, bias_fan=hidden, blocks=gates)
    if recurrent:
        return dict(role="recurrent", kind=Kind.RNN_RECURRENT, bias_fan=hidden, blocks=gates,
                    block_axis=1, fan_options={"layout": "jax"})
    return dict(role="weight", kind=Kind.RNN_INPUT, bias_fan=hidden, blocks=gates,
                block_axis=1, fan_options={"layout": "jax"})


def describe_parameter(layer: Layer, local: str, shape: tuple[int, ...]
                       ) -> dict[str, Any] | None:
    """ParamInfo fields of parameter ``local`` (of ``shape``) of ``layer``, plus ``view``
    (the matrix shape a multi-axis kernel is read as), or None for one no describer knows."""
    for names, describer in _DESCRIBERS:
        if layer.is_a(*names):
            fields = describer(layer, local, shape)
            break
    else:
        return None
    if fields is None:
        return None
    if layer.parent_is(*_CELLS) and fields["role"] in ("weight", "bias") and len(shape) <= 2:
        return _recurrent(layer, fields, shape)
    if layer.parent_is(*_ATTENTION):
        projection = layer.local in ("query", "key", "value")
        if fields["role"] == "weight" and projection:
            fields["kind"] = Kind.ATTENTION_SEPARATE
        elif fields["role"] == "bias":
            fields["kind"] = Kind.ATTENTION_IN_BIAS if projection else Kind.ATTENTION_OUT_BIAS
    return fields
