"""Fan-in / fan-out of a weight tensor, read explicitly from its layout.

Fans are the number of inputs a unit sums over (``fan_in``) and the number of units
an input feeds (``fan_out``) in the *forward* pass; every variance-scaling formula
(Glorot & Bengio 2010 §4.2; He et al. 2015 §2.2; LeCun et al. 1998 §4.6) divides by
one of them. Frameworks read them from the tensor shape, and the shape means different
things in different frameworks, so the layout is an explicit argument here.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from .._errors import InitError
from . import validate

__all__ = ["Axes", "FanConvention", "Fans", "LAYOUTS", "Layout", "canonical_axes", "channel_axes",
           "compute_fans", "explicit_axes", "explicit_axes_order"]

Layout = Literal["torch", "jax", "keras"]
FanConvention = Literal["paraminit", "torch", "keras", "jax"]
LAYOUTS: tuple[str, ...] = get_args(Layout)
_CONVENTIONS: tuple[str, ...] = get_args(FanConvention)

# What each layout stores where.  "grouped" names the axis that already holds a
# per-group count (torch conv weight: in/groups); the other channel axis holds the
# full count and is divided by `groups` to get the per-group fan.
_LAYOUT_TEXT = {
    ("torch", False): "(out, in/groups, *kernel)",
    ("torch", True): "(in, out/groups, *kernel) [ConvTranspose]",
    ("jax", False): "(*kernel, in/groups, out)",
    ("jax", True): "(*kernel, in/groups, out) [Flax ConvTranspose]",
    ("keras", False): "(*kernel, in/groups, out)",
    ("keras", True): "(*kernel, out, in) [Keras ConvTranspose]",
}


@dataclass(frozen=True)
class Axes:
    """Where a weight keeps its channels: the in- and out-channel axes, and which of the two
    already holds a per-group count (``"in"``: conv weights; ``"out"``: transposed-conv
    weights; the other axis holds the full count)."""

    in_axis: int
    out_axis: int
    grouped: Literal["in", "out"]


def _layout_axes(layout: str, rank: int, transposed: bool) -> Axes:
    if layout == "torch":
        return Axes(0, 1, "out") if transposed else Axes(1, 0, "in")
    if layout == "keras" and transposed:
        return Axes(rank - 1, rank - 2, "out")
    return Axes(rank - 2, rank - 1, "in")


def _read_axes(dims: tuple[int, ...], layout: str, transposed: bool, in_axis: object,
               out_axis: object, fan_convention: str) -> Axes:
    """The one reading of the channel axes, for :func:`compute_fans` and
    :func:`channel_axes` (options already checked, ``dims`` at least 2-D)."""
    rank = len(dims)
    if in_axis is not None or out_axis is not None:
        if in_axis is None or out_axis is None:
            raise InitError(
                f"in_axis and out_axis must be given together; received in_axis={in_axis!r}, "
                f"out_axis={out_axis!r}"
            )
        axes = []
        for argument, axis in (("in_axis", in_axis), ("out_axis", out_axis)):
            axes.append(validate.integer(argument, axis, minimum=-rank, maximum=rank - 1,
                                         hint=f" for shape {dims}") % rank)
        if axes[0] == axes[1]:
            raise InitError(
                f"in_axis and out_axis must differ; both are axis {axes[0]} of shape {dims}"
            )
        read = Axes(axes[0], axes[1], "out" if transposed else "in")
    else:
        read = _layout_axes(layout, rank, transposed and fan_convention == "paraminit")
    if transposed and rank < 3:
        raise InitError(
            f"transposed=True needs a convolution weight (3-D or more); received shape {dims}"
        )
    return read


@dataclass(frozen=True)
class Fans:
    """Fans of one weight tensor, with the reading that produced them.

    ``fan_in``/``fan_out`` are floats because a stride-aware transposed convolution
    has a fractional average fan (in·k²/s²); they are whole numbers otherwise.
    """

    fan_in: float
    fan_out: float
    receptive: int
    groups: int
    shape: tuple[int, ...]
    layout: str
    in_axis: int
    out_axis: int
    transposed: bool = False
    stride: tuple[int, ...] | None = None
    convention: str = "paraminit"
    # Which channel axis already holds a per-group count ("in": conv weights; "out":
    # transposed-conv weights); the other one was divided by ``groups``.
    grouped: Literal["in", "out"] = "in"

    def of(self, mode: str) -> float:
        """The fan a variance-scaling ``mode`` divides by (arithmetic or geometric mean too)."""
        if mode == "fan_in":
            return self.fan_in
        if mode == "fan_out":
            return self.fan_out
        if mode == "fan_avg":
            return (self.fan_in + self.fan_out) / 2.0
        if mode == "fan_geo_avg":
            return math.sqrt(self.fan_in * self.fan_out)
        raise InitError(
            f"mode must be one of 'fan_in', 'fan_out', 'fan_avg', 'fan_geo_avg'; received {mode!r}"
        )

    def explain(self) -> str:
        """How the shape was read, and each fan as a product of its factors."""
        rank = len(self.shape)
        kernel = [d for i, d in enumerate(self.shape) if i not in (self.in_axis, self.out_axis)]
        layout_text = _LAYOUT_TEXT.get((self.layout, self.transposed), "custom axes")
        lines = [
            f"shape {self.shape} read in layout {self.layout!r} {layout_text}: "
            f"in-channels on axis {self.in_axis}, out-channels on axis {self.out_axis}"
            + (f", kernel {'x'.join(map(str, kernel))} (receptive field {self.receptive})"
               if rank > 2 else "")
        ]
        rf = f" x {self.receptive}" if rank > 2 else ""
        in_dim, out_dim = self.shape[self.in_axis], self.shape[self.out_axis]
        if self.convention != "paraminit":
            lines.append(
                f"fan convention {self.convention!r}: the in/out axes are read literally "
                "(groups, transposition and stride ignored), as that framework does"
            )
            lines.append(f"fan_in = {in_dim} in-channels{rf} = {_num(self.fan_in)}")
            lines.append(f"fan_out = {out_dim} out-channels{rf} = {_num(self.fan_out)}")
            return "\n".join(lines)
        grouped_in = self.grouped == "in"
        per_group = f" / {self.groups} groups" if self.groups > 1 else ""
        stride_div = ""
        if self.stride is not None:
            stride_div = f" / stride {'x'.join(map(str, self.stride))}"
        in_text = f"{in_dim} in-channels" + ("" if grouped_in else per_group)
        out_text = f"{out_dim} out-channels" + (per_group if grouped_in else "")
        lines.append(
            f"fan_in = {in_text}{rf}{stride_div if self.transposed else ''} = {_num(self.fan_in)}"
        )
        lines.append(
            f"fan_out = {out_text}{rf}{'' if self.transposed else stride_div} = "
            f"{_num(self.fan_out)}"
        )
        if self.groups > 1 and self.layout == "torch" and not self.transposed:
            lines.append(
                f"note: torch counts fan_out = {out_dim} x {self.receptive} = "
                f"{out_dim * self.receptive} here (it ignores groups); "
                "pass fan_convention='torch' for that"
            )
        if self.transposed:
            lines.append(
                "note: fans are those of the transposed convolution's forward pass "
                "(each output sums in/groups x kernel inputs); torch and Keras read the "
                "weight literally as if it were a regular convolution"
            )
        return "\n".join(lines)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.6g}"


def check_fan_options(
    *, groups: object = 1, transposed: object = False, in_axis: object = None,
    out_axis: object = None, stride: object = None, fan_convention: object = "paraminit",
) -> None:
    """The shape-free checks of the fan options, for schemes that compute fans and those
    that do not alike (a misspelt fan option is a mistake either way)."""
    validate.integer("groups", groups, minimum=1)
    validate.boolean("transposed", transposed)
    validate.choice("fan_convention", fan_convention, _CONVENTIONS)
    for argument, axis in (("in_axis", in_axis), ("out_axis", out_axis)):
        if axis is not None:
            validate.integer(argument, axis, hint="; pass an axis of the shape, or None")
    if stride is not None:
        _stride_values(stride, "positive ints, one per kernel dim")


def _stride_values(stride: object, count: str) -> tuple[int, ...]:
    values = stride if isinstance(stride, Sequence) and not isinstance(stride, str) else (stride,)
    if not values or any(validate.is_bool(s) or not isinstance(s, numbers.Integral)
                         or not 1 <= s <= validate.MAX_ELEMENTS for s in values):
        raise InitError(f"stride must be a positive int or {count}; received "
                        f"{validate.show(stride)}")
    return tuple(int(s) for s in values)


def _checked(shape: Sequence[int], layout: object, **fan_options: object) -> tuple[int, ...]:
    """The shape, once the layout and fan options are checked and it is at least 2-D."""
    dims = validate.shape(shape)
    if fan_options.get("in_axis") is None and fan_options.get("out_axis") is None:
        validate.choice("layout", layout, LAYOUTS)
    check_fan_options(**fan_options)
    if len(dims) < 2:
        raise InitError(
            f"fans are undefined for the {len(dims)}-D shape {dims} (layout {layout!r}): a "
            "weight needs at least 2 dims (out and in). For a bias or a norm scale use a "
            "scheme that needs no fans ('zeros', 'constant', 'normal', 'uniform'), or give "
            "the 2-D weight shape"
        )
    return dims


def channel_axes(
    shape: Sequence[int],
    layout: Layout | str = "torch",
    *,
    transposed: bool = False,
    in_axis: int | None = None,
    out_axis: int | None = None,
    fan_convention: FanConvention | str = "paraminit",
) -> Axes:
    """The in- and out-channel axes of a weight of ``shape``: exactly the ``in_axis`` and
    ``out_axis`` (and ``grouped``) of :func:`compute_fans`'s :class:`Fans`, read without
    computing the fans, so that a scheme needing only the axes (orthogonal, dirac, sparse)
    reads them the same way, empty shapes and groups that do not divide included.

    Example:
        >>> channel_axes((8, 4, 3, 3), transposed=True).out_axis  # torch ConvTranspose
        1
    """
    dims = _checked(shape, layout, transposed=transposed, in_axis=in_axis, out_axis=out_axis,
                    fan_convention=fan_convention)
    return _read_axes(dims, str(layout), bool(transposed), in_axis, out_axis,
                      str(fan_convention))


def canonical_axes(
    shape: Sequence[int],
    layout: Layout | str = "torch",
    *,
    transposed: bool = False,
    in_axis: int | None = None,
    out_axis: int | None = None,
) -> tuple[int, ...]:
    """The axes of a weight of ``shape`` in the *canonical element order*: torch's
    arrangement of the same tensor, whose C-order index is the stream's element index.

    A weight's values are those of the same weight laid out as torch lays it out
    ((out, in/groups, *kernel); (in, out/groups, *kernel) when ``transposed``), then moved
    to the storage layout: a Flax or Keras ``Dense`` kernel (in, out) holds the transpose
    of the torch ``Linear`` weight of the same (seed, name, scheme), a (kh, kw, in, out)
    conv kernel ``np.transpose(torch_weight, (2, 3, 1, 0))``. The kernel axes keep their
    storage order. Returns the storage axes in canonical order (``np.transpose(canonical,
    np.argsort(order))`` is the storage array); the identity for the torch layout and for
    tensors of fewer than 2 dimensions. See ``docs/streams.md`` §7.

    Example:
        >>> canonical_axes((3, 3, 16, 32), "jax")   # (kh, kw, in, out) -> (out, in, kh, kw)
        (3, 2, 0, 1)
    """
    rank = len(validate.shape(shape))
    if rank < 2:
        return tuple(range(rank))
    dims = _checked(shape, layout, transposed=transposed, in_axis=in_axis, out_axis=out_axis,
                    fan_convention="paraminit")
    axes = _read_axes(dims, str(layout), bool(transposed), in_axis, out_axis, "paraminit")
    first = (axes.in_axis, axes.out_axis) if transposed else (axes.out_axis, axes.in_axis)
    return (*first, *(axis for axis in range(len(dims)) if axis not in first))


def explicit_axes(shape: Sequence[int], axes: object, argument: str) -> tuple[int, ...]:
    """``axes`` (an int, or a sequence of ints counting from the end when negative) as
    distinct non-negative axes of ``shape``: JAX's ``in_axis``/``out_axis``/``batch_axis``,
    Keras' ``input_axes``/``output_axes``."""
    rank = len(shape)
    if isinstance(axes, numbers.Integral) and not validate.is_bool(axes):
        given: tuple[object, ...] = (axes,)
    elif isinstance(axes, Sequence) and not isinstance(axes, str):
        given = tuple(axes)
    else:
        raise InitError(f"{argument} must be an int or a sequence of ints; received "
                        f"{validate.show(axes)}")
    if given and not rank:
        raise InitError(f"{argument} names axes {validate.show(axes)} of a 0-D shape (); a "
                        "scalar has no axes to read fans from")
    found = tuple(validate.integer(argument, axis, minimum=-rank, maximum=rank - 1,
                                   hint=f" for shape {tuple(shape)}") % rank for axis in given)
    if len(set(found)) != len(found):
        raise InitError(f"{argument} names an axis twice: {validate.show(axes)} for shape "
                        f"{tuple(shape)}; list each axis once")
    return found


def explicit_axes_order(rank: int, ins: Sequence[int],
                        outs: Sequence[int]) -> tuple[int, ...] | None:
    """The canonical element order of a weight whose fans come from explicit axes: the out
    axes, the in axes (each as given), then the other axes in storage order; None when that
    is the storage order. With one in and one out axis this is :func:`canonical_axes`'
    (out, in, *rest); with several (Flax ``DenseGeneral``, Keras ``input_axes``) it is the
    torch ``Linear`` weight (prod(outs), prod(ins)) of the flattened kernel."""
    order = (*outs, *ins, *(axis for axis in range(rank) if axis not in (*ins, *outs)))
    return None if order == tuple(range(rank)) else order


def compute_fans(
    shape: Sequence[int],
    layout: Layout | str = "torch",
    *,
    groups: int = 1,
    transposed: bool = False,
    in_axis: int | None = None,
    out_axis: int | None = None,
    stride: int | Sequence[int] | None = None,
    fan_convention: FanConvention | str = "paraminit",
) -> Fans:
    """Fan-in and fan-out of a weight of ``shape`` stored in ``layout``.

    receptive = product of the kernel dims; fan_in = in_per_group·receptive and
    fan_out = out_per_group·receptive (Glorot & Bengio 2010 §4.2 for dense layers;
    He et al. 2015 §2.2 for convolutions, n = k²·c).

    Args:
        shape: the weight's shape, at least 2-D.
        layout: ``"torch"`` (out, in/groups, *k); ``"jax"``/``"keras"`` (*k, in/groups, out).
        groups: convolution groups; depthwise is groups = in-channels.
        transposed: the weight belongs to a transposed convolution (torch (in, out/groups, *k);
            Keras (*k, out, in); Flax (*k, in, out)); fans are those of its forward pass.
        in_axis, out_axis: custom channel axes (both), overriding ``layout``.
        stride: the convolution's stride; divides the transposed conv's fan_in (and a
            regular conv's fan_out) by prod(stride), the average number of terms per output.
        fan_convention: ``"paraminit"`` (correct per-group fans) or a framework's name
            (``"torch"``, ``"keras"``, ``"jax"``): read the in/out axes literally, ignoring
            groups, transposition and stride, for bit-for-bit parity with that framework.

    Note:
        Depthwise ``Conv2d(32, 32, 3, groups=32)`` has torch weight (32, 1, 3, 3):
        fan_in = 9 and fan_out = 9 here; torch counts fan_out = 288.

    Example:
        >>> compute_fans((256, 128, 3, 3)).fan_in
        1152.0
    """
    dims = _checked(shape, layout, groups=groups, transposed=transposed, in_axis=in_axis,
                    out_axis=out_axis, fan_convention=fan_convention)  # stride: below
    groups, transposed = int(groups), bool(transposed)  # type: ignore[call-overload]
    read = _read_axes(dims, str(layout), transposed, in_axis, out_axis, str(fan_convention))
    if in_axis is not None or out_axis is not None:
        layout = "custom"
    kernel = [d for i, d in enumerate(dims) if i not in (read.in_axis, read.out_axis)]
    receptive = math.prod(kernel)
    in_dim, out_dim = dims[read.in_axis], dims[read.out_axis]
    strides = _check_stride(stride, len(kernel), dims)
    if fan_convention != "paraminit":
        fan_in, fan_out = float(in_dim * receptive), float(out_dim * receptive)
        strides = None
    else:
        full_axis, full_dim = ("out", out_dim) if read.grouped == "in" else ("in", in_dim)
        if full_dim % groups:
            raise InitError(
                f"groups={groups} must divide the {full_axis}-channels ({full_dim}) of shape "
                f"{dims} in layout {layout!r}"
            )
        in_pg = in_dim if read.grouped == "in" else in_dim // groups
        out_pg = out_dim // groups if read.grouped == "in" else out_dim
        fan_in, fan_out = float(in_pg * receptive), float(out_pg * receptive)
        if strides is not None:
            if transposed:
                fan_in /= math.prod(strides)
            else:
                fan_out /= math.prod(strides)
    if fan_in == 0 or fan_out == 0:
        raise InitError(
            f"shape {dims} in layout {layout!r} has fan_in={_num(fan_in)} and "
            f"fan_out={_num(fan_out)}: a zero fan makes every fan-scaled std infinite. "
            "Check the layout (torch is (out, in, *k), jax/keras (*k, in, out)) or use "
            "'zeros'/'constant' for an empty tensor"
        )
    return Fans(
        fan_in=fan_in,
        fan_out=fan_out,
        receptive=receptive,
        groups=groups,
        shape=dims,
        layout=str(layout),
        in_axis=read.in_axis,
        out_axis=read.out_axis,
        transposed=bool(transposed),
        stride=strides,
        convention=str(fan_convention),
        grouped=read.grouped,
    )


def _check_stride(
    stride: int | Sequence[int] | None, n_kernel: int, dims: tuple[int, ...]
) -> tuple[int, ...] | None:
    if stride is None:
        return None
    if n_kernel == 0:
        raise InitError(f"stride applies to convolution weights; shape {dims} has no kernel dims")
    count = f"{n_kernel} positive ints (one per kernel dim of shape {dims})"
    values = _stride_values(stride, count)
    if not isinstance(stride, Sequence):
        values *= n_kernel
    if len(values) != n_kernel:
        raise InitError(f"stride must be a positive int or {count}; received "
                        f"{validate.show(stride)}")
    return values
