"""Every named scheme: one general variance-scaling formula and a table of presets.

``resolve(scheme, shape, layout=..., **options)`` turns a name and options into an
:class:`InitSpec`. Variance-scaling schemes all go through :func:`_variance_scaling`
(Var = scale / fan, scale = gain²); the rest are constants, fixed-std draws and the
structured inits sampled by :mod:`paraminit.core.structured`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .._errors import InitError
from . import validate as _validate
from .fans import (
    LAYOUTS,
    Axes,
    Fans,
    canonical_axes,
    channel_axes,
    check_fan_options,
    compute_fans,
    explicit_axes_order,
)
from .gains import GAINS, SELU_ALPHA, SELU_LAMBDA, gain
from .spec import InitSpec, truncated_std_factor
from .structured import zero_matrix

__all__ = [
    "ALIASES", "REGISTRY", "Scheme", "get_scheme", "parent_truncated_normal", "random_walk_gain",
    "resolve", "schemes",
    "validate",
]

MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_MODE_TEXT = {
    "fan_in": "fan_in",
    "fan_out": "fan_out",
    "fan_avg": "((fan_in + fan_out) / 2)",
    "fan_geo_avg": "sqrt(fan_in * fan_out)",
}
NORMAL_DISTRIBUTIONS = ("normal", "truncated_normal")
VS_DISTRIBUTIONS = (*NORMAL_DISTRIBUTIONS, "uniform")
VARIANCE_NORMS = ("fan_in", "fan_out", "average")
_SQRT3 = math.sqrt(3.0)  # U(-r, r) has std r/sqrt(3)


def _squared(x: float) -> str:
    """``x^2`` as a formula prints it: a negative base in parentheses, ``(-5)^2`` not ``-5^2``."""
    return f"({x:.7g})^2" if x < 0 else f"{x:.7g}^2"


# ---------------------------------------------------------------------------------------
# option validation


_number = _validate.real  # (argument, value, *, positive=, nonnegative=) -> float
_choice = _validate.choice  # (argument, value, choices) -> str


def _gain_option(value: Any) -> float:
    """A gain given as a number (std multiplier) or as a nonlinearity name."""
    if isinstance(value, str):
        if value not in GAINS:
            names = sorted(GAINS)
            raise InitError(f"gain must be a number > 0 or a nonlinearity name "
                            f"({', '.join(map(repr, names))}); received {value!r}"
                            f"{_validate.did_you_mean(value, names)}")
        return gain(value)
    return _number("gain", value, positive=True)


@dataclass(frozen=True)
class _Context:
    """The shape being initialised and how to read its fans."""

    scheme: str
    shape: tuple[int, ...]
    layout: str
    fan_options: Mapping[str, Any]

    def fans(self) -> Fans:
        try:
            return compute_fans(self.shape, self.layout, **self.fan_options)
        except InitError as error:
            raise InitError(f"{self.scheme}: {error}") from None

    def axes(self) -> Axes:
        """The channel axes exactly as :meth:`fans` reads them (transposition and custom
        axes included), without computing fans: empty shapes have axes too."""
        options = self.fan_options
        try:
            return channel_axes(self.shape, self.layout, transposed=options["transposed"],
                                in_axis=options["in_axis"], out_axis=options["out_axis"],
                                fan_convention=options["fan_convention"])
        except InitError as error:
            raise InitError(f"{self.scheme}: {error}") from None

    def require_rank(self, minimum: int, maximum: int | None = None) -> None:
        rank = len(self.shape)
        if rank < minimum or (maximum is not None and rank > maximum):
            wanted = f"a {minimum}-D" if maximum == minimum else (
                f"an at least {minimum}-D" if maximum is None
                else f"a {minimum}-D to {maximum}-D")
            raise InitError(
                f"{self.scheme} needs {wanted} shape; received shape {self.shape} "
                f"({rank}-D)"
            )


@dataclass(frozen=True)
class Scheme:
    """One registry entry. ``defaults`` lists every option the scheme takes."""

    name: str
    summary: str
    formula: str
    paper: str
    defaults: Mapping[str, Any]
    build: Callable[[_Context, dict[str, Any]], InitSpec] = field(repr=False)
    family: str
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # A shape the scheme accepts, for validating options before a real shape is known.
    probe_shape: tuple[int, ...] = (1024, 1024)


# ---------------------------------------------------------------------------------------
# the one variance-scaling formula


def _variance_scaling(
    ctx: _Context,
    options: dict[str, Any],
    *,
    scale: float,
    mode: str,
    distribution: str,
    truncate: float = 2.0,
    gain_value: float | None = None,
    scale_text: str = "",
) -> InitSpec:
    """Var = scale / fan(mode); normal, truncated normal (result std) or uniform (r = √3σ)."""
    scheme = REGISTRY[ctx.scheme]
    fans = ctx.fans()
    fan = fans.of(mode)
    std = math.sqrt(scale / fan)
    if gain_value is not None and (scale == 0.0 or not math.isfinite(scale)):
        std = abs(gain_value) / math.sqrt(fan)  # gain² under- or overflowed: gain 1e-200, 1e300
    formula = f"Var = scale / {_MODE_TEXT[mode]}"
    if scale_text:
        formula += f", scale = {scale_text}"
    formula += f"; Var = {scale:.7g} / {fan:.7g}; std = {std:.7g}"
    bound = truncation = None
    if distribution == "uniform":
        bound = _SQRT3 * std
        formula += f"; uniform bound r = sqrt(3) * std = {bound:.7g}"
    elif distribution == "truncated_normal":
        truncation = (-truncate, truncate)
    return InitSpec(
        scheme=ctx.scheme,
        shape=ctx.shape,
        layout=ctx.layout,
        distribution=distribution,  # type: ignore[arg-type]
        mean=0.0,
        std=std,
        bound=bound,
        truncation=truncation,
        fans=fans,
        gain=gain_value if gain_value is not None else math.sqrt(scale),
        scale=scale,
        mode=mode,
        formula=formula,
        paper=scheme.paper,
        options=options,
        notes=scheme.notes,
    )


def _build_variance_scaling(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    return _variance_scaling(
        ctx, o,
        scale=_number("scale", o["scale"], positive=True),
        mode=_choice("mode", o["mode"], MODES),
        distribution=_choice("distribution", o["distribution"], VS_DISTRIBUTIONS),
        truncate=_number("truncate", o["truncate"], positive=True),
    )


def _xavier(distribution: str | None) -> Callable[[_Context, dict[str, Any]], InitSpec]:
    def build(ctx: _Context, o: dict[str, Any]) -> InitSpec:
        g = _gain_option(o["gain"])
        dist = distribution or _choice("distribution", o["distribution"], NORMAL_DISTRIBUTIONS)
        return _variance_scaling(
            ctx, o, scale=g * g, mode="fan_avg", distribution=dist, gain_value=g,
            scale_text=f"gain^2 = {_squared(g)}",
        )

    return build


def _nonlinearity_gain(o: dict[str, Any]) -> tuple[float, str]:
    nonlinearity = _validate.choice("nonlinearity", o["nonlinearity"], sorted(GAINS))
    slope = _number("slope", o["slope"])
    if nonlinearity == "leaky_relu":
        return gain("leaky_relu", slope), f"2 / (1 + {_squared(slope)}) (leaky_relu)"
    if slope != 0.0:
        raise InitError(
            f"slope applies only to nonlinearity='leaky_relu'; received slope={slope!r} with "
            f"nonlinearity={nonlinearity!r}. Drop slope or set nonlinearity='leaky_relu'"
        )
    g = gain(nonlinearity)
    return g, f"gain('{nonlinearity}')^2 = {_squared(g)}"


def _he(distribution: str | None) -> Callable[[_Context, dict[str, Any]], InitSpec]:
    def build(ctx: _Context, o: dict[str, Any]) -> InitSpec:
        g, text = _nonlinearity_gain(o)
        dist = distribution or _choice("distribution", o["distribution"], NORMAL_DISTRIBUTIONS)
        return _variance_scaling(
            ctx, o, scale=g * g, mode=_choice("mode", o["mode"], ("fan_in", "fan_out")),
            distribution=dist, gain_value=g, scale_text=text,
        )

    return build


def _lecun(distribution: str | None) -> Callable[[_Context, dict[str, Any]], InitSpec]:
    def build(ctx: _Context, o: dict[str, Any]) -> InitSpec:
        dist = distribution or _choice("distribution", o["distribution"], NORMAL_DISTRIBUTIONS)
        return _variance_scaling(ctx, o, scale=1.0, mode="fan_in", distribution=dist)

    return build


def _build_msra(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    norm = _choice("variance_norm", o["variance_norm"], VARIANCE_NORMS)
    # Caffe MSRAFiller: Var = 2 / n with n = fan_in, fan_out or (fan_in + fan_out)/2;
    # the last is 4 / (fan_in + fan_out).
    mode = {"fan_in": "fan_in", "fan_out": "fan_out", "average": "fan_avg"}[norm]
    return _variance_scaling(ctx, o, scale=2.0, mode=mode, distribution="normal",
                             scale_text="2 (Caffe MSRAFiller)")


# ---------------------------------------------------------------------------------------
# fixed-std and constant schemes


def _plain(ctx: _Context, o: dict[str, Any], **fields: Any) -> InitSpec:
    scheme = REGISTRY[ctx.scheme]
    return InitSpec(
        scheme=ctx.scheme, shape=ctx.shape, layout=ctx.layout, paper=scheme.paper,
        options=o, notes=scheme.notes, **fields,
    )


def _constant_value(value: float) -> Callable[[_Context, dict[str, Any]], InitSpec]:
    return lambda ctx, o: _plain(ctx, o, distribution="constant", mean=value, std=0.0,
                                 formula=f"w = {value:g}")


def _build_constant(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    return _constant_value(_number("value", o["value"]))(ctx, o)


def _build_uniform(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    low, high = _number("low", o["low"]), _number("high", o["high"])
    if not low < high:
        raise InitError(f"low must be < high; received low={low!r}, high={high!r}")
    half, mean = (high - low) / 2.0, (low + high) / 2.0
    if not math.isfinite(half):  # the width overflows float64, its halves do not
        half = high / 2.0 - low / 2.0
    if not math.isfinite(mean):
        mean = low / 2.0 + high / 2.0
    return _plain(
        ctx, o, distribution="uniform", mean=mean, std=half / _SQRT3, bound=half,
        formula=f"w ~ U({low:g}, {high:g}); std = (high - low)/sqrt(12) = {half / _SQRT3:.7g}",
    )


def _build_normal(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    mean, std = _number("mean", o.get("mean", 0.0)), _number("std", o["std"], positive=True)
    return _plain(ctx, o, distribution="normal", mean=mean, std=std,
                  formula=f"w ~ N({mean:g}, {std:g}^2)")


def _build_fixed_uniform(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    std = _number("std", o["std"], positive=True)
    bound = _SQRT3 * std
    return _plain(ctx, o, distribution="uniform", mean=0.0, std=std, bound=bound,
                  formula=f"w ~ U(-r, r), r = sqrt(3) * std = sqrt(3) * {std:g} = {bound:.7g}")


def _build_truncated_normal(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    mean, std = _number("mean", o["mean"]), _number("std", o["std"], positive=True)
    t = _number("truncate", o["truncate"], positive=True)
    spec = _plain(ctx, o, distribution="truncated_normal", mean=mean, std=std,
                  truncation=(-t, t), formula="")
    return _with_formula(
        spec,
        f"w ~ N({mean:g}, s^2) cut at +-{t:g} s, s = std / {std / spec.parent_std:.7g} = "
        f"{spec.parent_std:.7g} so that the result has std {std:g}",
    )


def _with_formula(spec: InitSpec, formula: str) -> InitSpec:
    return replace(spec, formula=formula)


# ---------------------------------------------------------------------------------------
# structured schemes (sampled by core.structured)


def _build_orthogonal(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    ctx.require_rank(2)
    g = _gain_option(o["gain"])
    method = _choice("method", o["method"], ("qr", "svd"))
    out_axis = _out_axis(ctx)
    rows = ctx.shape[out_axis]
    cols = math.prod(ctx.shape) // rows if rows else 0
    rms = g / math.sqrt(max(rows, cols, 1))
    return _plain(
        ctx, o, distribution="orthogonal", mean=0.0, std=rms, gain=g,
        params={"gain": g, "method": method, "out_axis": out_axis, "rows": rows, "cols": cols},
        formula=(
            f"W (as {rows} x {cols}: out-axis x rest) = gain * Q, Q with orthonormal "
            f"{'rows' if rows <= cols else 'columns'}; rms = gain / sqrt(max(rows, cols)) = "
            f"{rms:.7g}"
        ),
    )


def _out_axis(ctx: _Context) -> int:
    """The out axis of the Fans (:meth:`_Context.axes`); orthogonal and sparse read no other
    channel axis, so for them ``out_axis`` may also be given alone."""
    options = ctx.fan_options
    if options["out_axis"] is not None and options["in_axis"] is None:
        rank = len(ctx.shape)
        return _validate.integer("out_axis", options["out_axis"], minimum=-rank,
                                 maximum=rank - 1, hint=f" for shape {ctx.shape}") % rank
    return ctx.axes().out_axis


def _build_identity(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    ctx.require_rank(2, 2)
    g = _gain_option(o["gain"])
    rows, cols = ctx.shape
    # A fraction p = min(rows, cols) / (rows * cols) of the elements equal gain, the rest 0.
    p = min(rows, cols) / (rows * cols) if rows * cols else 0.0
    return _plain(ctx, o, distribution="identity", mean=g * p, std=g * math.sqrt(p - p * p),
                  gain=g,
                  params={"gain": g}, formula=f"W = {g:g} * I (ones on the main diagonal)")


def _build_dirac(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    ctx.require_rank(3, 5)
    # the same `groups` as the convolution's fans
    groups = _validate.integer("groups", ctx.fan_options["groups"], minimum=1)
    axes = ctx.axes()
    # groups split the axis with the full channel count (out for a conv, in for a transposed
    # conv); the other axis holds one group's channels
    split, held = ("out", "in") if axes.grouped == "in" else ("in", "out")
    full = ctx.shape[getattr(axes, f"{split}_axis")]
    if full % groups:
        raise InitError(
            f"groups={groups} must divide the {split}-channels ({full}) of shape {ctx.shape}"
        )
    ones = groups * min(full // groups, ctx.shape[getattr(axes, f"{held}_axis")])
    numel = math.prod(ctx.shape)
    return _plain(
        ctx, o, distribution="dirac", mean=ones / numel if numel else 0.0,
        std=math.sqrt(ones / numel - (ones / numel) ** 2) if numel else 0.0,
        params={"groups": groups, "out_axis": axes.out_axis, "in_axis": axes.in_axis,
                "grouped": axes.grouped},
        formula=(
            "W[g*out_per_group + d, d, k//2...] = 1 for d < min(out_per_group, in): each "
            "conv output copies its input channel (identity map)"
        ),
    )


def _build_identity_hadamard(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    ctx.require_rank(2, 5)
    g = _gain_option(o["gain"])
    if ctx.fan_options["groups"] != 1:
        raise InitError(
            f"identity_hadamard is defined for ungrouped weights; received groups="
            f"{ctx.fan_options['groups']} for shape {ctx.shape}. Use dirac (which takes "
            "groups) for a grouped convolution")
    axes = ctx.axes()
    rows, cols = ctx.shape[axes.out_axis], ctx.shape[axes.in_axis]
    numel = math.prod(ctx.shape)
    matrix = g * zero_matrix(rows, cols)
    mean = float(matrix.sum()) / numel if numel else 0.0
    square = float((matrix * matrix).sum()) / numel if numel else 0.0
    if rows <= cols:
        text = f"W = {g:g} * I* ({rows} x {cols} partial identity: ones at (i, i))"
    else:
        order = 1 << (rows - 1).bit_length()
        text = (f"W = {g:g} * c * I* H_{order} I* (the first {rows} x {cols} block of the "
                f"order-{order} Hadamard matrix), c = 1/sqrt({order}) = "
                f"{1 / math.sqrt(order):.7g}")
    if len(ctx.shape) > 2:
        text += ", at the kernel centre k//2, 0 at every other tap"
    return _plain(ctx, o, distribution="identity_hadamard", mean=mean,
                  std=math.sqrt(max(square - mean * mean, 0.0)), gain=g,
                  params={"gain": g, "out_axis": axes.out_axis, "in_axis": axes.in_axis},
                  formula=text)


_MARTENS_NONZEROS = 15  # Martens 2010, §5: 15 non-zero incoming weights per unit


def _build_sparse(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    ctx.require_rank(2, 2)
    out_axis = _out_axis(ctx)
    fan_in = ctx.shape[1 - out_axis]
    std = _number("std", o["std"], positive=True)
    if o["sparsity"] is not None and o["nonzeros"] is not None:
        raise InitError(
            f"sparse takes nonzeros or sparsity, not both; received nonzeros="
            f"{_validate.show(o['nonzeros'])} and sparsity={_validate.show(o['sparsity'])}. "
            "Drop one: nonzeros counts the non-zero inputs per unit, sparsity the zero fraction"
        )
    if o["sparsity"] is not None:
        sparsity = _number("sparsity", o["sparsity"], nonnegative=True)
        if sparsity >= 1.0:
            raise InitError(f"sparsity must be in [0, 1); received {sparsity!r}")
        nonzeros = fan_in - math.ceil(sparsity * fan_in)
    else:
        nonzeros = _validate.integer(
            "nonzeros", _MARTENS_NONZEROS if o["nonzeros"] is None else o["nonzeros"],
            minimum=1, hint=" (the non-zero inputs per unit)")
        if nonzeros > fan_in:
            raise InitError(
                f"nonzeros={nonzeros} exceeds the {fan_in} inputs per unit of shape "
                f"{ctx.shape}; pass nonzeros <= {fan_in} or a sparsity fraction"
            )
    rms = std * math.sqrt(nonzeros / fan_in) if fan_in else 0.0
    return _plain(
        ctx, o, distribution="sparse", mean=0.0, std=rms,
        params={"nonzeros": nonzeros, "value_std": std, "out_axis": out_axis},
        formula=(
            f"each unit gets exactly {nonzeros} of its {fan_in} incoming weights ~ "
            f"N(0, {std:g}^2), the rest 0; rms = std * sqrt(k / fan_in) = {rms:.7g}"
        ),
    )


def _isometry_axes(ctx: _Context) -> dict[str, Any]:
    """In, out and spatial axes of a delta-/conv-orthogonal kernel, and the out >= in check."""
    ctx.require_rank(2, 5)
    fans = ctx.fans()
    if fans.groups != 1:
        raise InitError(
            f"{ctx.scheme} is defined for ungrouped kernels; received groups={fans.groups} for "
            f"shape {ctx.shape}. Initialise each group's slice separately, or use dirac "
            "(which takes groups)"
        )
    in_channels, out_channels = ctx.shape[fans.in_axis], ctx.shape[fans.out_axis]
    if in_channels > out_channels:
        raise InitError(
            f"{ctx.scheme} needs out-channels >= in-channels (an isometry cannot reduce the "
            f"dimension); received shape {ctx.shape} with out={out_channels} (axis "
            f"{fans.out_axis}) and in={in_channels} (axis {fans.in_axis}), layout "
            f"{ctx.layout!r}. Use orthogonal for a layer that narrows"
        )
    spatial = [axis for axis in range(len(ctx.shape)) if axis not in (fans.in_axis,
                                                                      fans.out_axis)]
    return {"fans": fans, "in_axis": fans.in_axis, "out_axis": fans.out_axis,
            "spatial_axes": spatial, "in_channels": in_channels, "out_channels": out_channels}


def _isometry_rms(gain_value: float, axes: dict[str, Any], shape: tuple[int, ...]) -> float:
    # The kernel's squares sum to gain^2 * in exactly (its operator has `in` orthonormal
    # columns per position, times gain), over out * in * taps elements.
    numel = math.prod(shape)
    return gain_value * math.sqrt(axes["in_channels"] / numel) if numel else 0.0


_CENTRES = ("jax", "torch")


def _build_delta_orthogonal(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    g = _gain_option(o["gain"])
    convention = _choice("center", o["center"], _CENTRES)
    axes = _isometry_axes(ctx)
    fans = axes.pop("fans")
    taps = [ctx.shape[axis] for axis in axes["spatial_axes"]]
    # JAX/TF put the tap at (k-1)//2 (k = 4 -> 1); torch's dirac_ at k//2 (k = 4 -> 2).
    centre = [(k - 1) // 2 if convention == "jax" else k // 2 for k in taps]
    rms = _isometry_rms(g, axes, ctx.shape)
    rule = "(k-1)//2" if convention == "jax" else "k//2"
    return _plain(
        ctx, o, distribution="delta_orthogonal", mean=0.0, std=rms, gain=g, fans=fans,
        params={"gain": g, **axes, "centre": centre},
        formula=(
            f"W[centre] = gain * H, H ({axes['out_channels']} out x {axes['in_channels']} in) "
            f"with orthonormal columns, 0 at every other tap; centre = {rule} per kernel dim "
            f"= {tuple(centre)}; rms = gain * sqrt(in / numel) = {rms:.7g}"
        ),
    )


def _build_conv_orthogonal(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    g = _gain_option(o["gain"])
    axes = _isometry_axes(ctx)
    fans = axes.pop("fans")
    taps = [ctx.shape[axis] for axis in axes["spatial_axes"]]
    rms = _isometry_rms(g, axes, ctx.shape)
    return _plain(
        ctx, o, distribution="conv_orthogonal", mean=0.0, std=rms, gain=g, fans=fans,
        params={"gain": g, **axes, "projections": sum(k - 1 for k in taps)},
        formula=(
            "K(z) = gain * H * prod_j (P_j + (I - P_j) z_axis(j)), H (in x out) with "
            "orthonormal rows, P_j random symmetric projections, k - 1 factors per kernel "
            f"dim of sizes {tuple(taps)}: circular convolution with K is gain x an isometry; "
            f"rms = gain * sqrt(in / numel) = {rms:.7g}"
        ),
    )


# Sussillo & Abbott 2014: the log of |z_{l+1}|^2 / |z_l|^2 is a random walk whose mean step
# is 2 ln g + ln(2/N) + E[psi(M/2)], psi the digamma function and M the number of units a
# layer passes on (M = N for linear, M ~ Binomial(N, 1/2) for ReLU). Zero drift needs
# linear: psi(N/2) + ln(2/N) = -1/N + O(1/N^2)  =>  g = exp(1/(2N));
# ReLU: the paper's fit g = sqrt(2) exp(1.2 / (max(N, 6) - 2.4)) (the sqrt(2) undoes the
# halving of the variance, exp(...) the finite-N bias; its residual drift, computed from
# the formula above, is under 4% of plain sqrt(2)'s for N >= 10: checked in the tests).
_RANDOM_WALK_NONLINEARITIES = ("linear", "relu")
_RELU_FIT_OFFSET = 2.4  # Sussillo & Abbott 2014's fitted constants (ReLU)
_RELU_FIT_SCALE = 1.2
_RELU_FIT_MIN_WIDTH = 6


def random_walk_gain(nonlinearity: str, width: float) -> float:
    """Sussillo & Abbott 2014's gain: exp(1/(2N)) (linear), √2·exp(1.2/(max(N, 6) − 2.4)) (ReLU).

    ``width`` is N, the number of inputs each unit sums (the paper's square layers are N
    wide; here N = fan_in).
    """
    _choice("nonlinearity", nonlinearity, _RANDOM_WALK_NONLINEARITIES)
    n = _number("width", width, positive=True)
    if nonlinearity == "linear":
        return math.exp(1.0 / (2.0 * n))
    return math.sqrt(2.0) * math.exp(
        _RELU_FIT_SCALE / (max(n, _RELU_FIT_MIN_WIDTH) - _RELU_FIT_OFFSET))


def _build_random_walk(ctx: _Context, o: dict[str, Any]) -> InitSpec:
    nonlinearity = _choice("nonlinearity", o["nonlinearity"], _RANDOM_WALK_NONLINEARITIES)
    fan_in = ctx.fans().fan_in
    g = random_walk_gain(nonlinearity, fan_in)
    text = (f"exp(1 / (2 N))^2, N = fan_in = {fan_in:g}" if nonlinearity == "linear" else
            f"(sqrt(2) exp(1.2 / (max(N, 6) - 2.4)))^2, N = fan_in = {fan_in:g}")
    return _variance_scaling(ctx, o, scale=g * g, mode="fan_in", distribution="normal",
                             gain_value=g, scale_text=f"g^2 = {text} = {g * g:.7g}")


# ---------------------------------------------------------------------------------------
# the registry

_GLOROT = (
    "Glorot & Bengio 2010, 'Understanding the difficulty of training deep feedforward neural "
    "networks', AISTATS, §4.2, Eq. 16 (normalized initialization)"
)
_HE = (
    "He, Zhang, Ren & Sun 2015, 'Delving Deep into Rectifiers', ICCV, §2.2: Eq. 10 (fan_in), "
    "Eq. 14 (fan_out), Eq. 15 (PReLU / leaky slope a: 2/((1 + a^2) n))"
)
_LECUN = (
    "LeCun, Bottou, Orr & Müller 1998, 'Efficient BackProp', §4.6 (Var = 1/fan_in); "
    "Klambauer et al. 2017 (SELU), §3"
)
_XIAO = (
    "Xiao, Bahri, Sohl-Dickstein, Schoenholz & Pennington 2018, 'Dynamical Isometry and a "
    "Mean Field Theory of CNNs: How to Train 10,000-Layer Vanilla Convolutional Neural "
    "Networks', ICML"
)
_SUSSILLO = (
    "Sussillo & Abbott 2014, 'Random Walk Initialization for Training Very Deep Feedforward "
    "Networks', arXiv:1412.6558 (linear g = exp(1/(2N)); ReLU g = sqrt(2) exp(1.2/(max(N, 6) "
    "- 2.4)))"
)
_KLAMBAUER = (
    "Klambauer, Unterthiner, Mayr & Hochreiter 2017, 'Self-Normalizing Neural Networks', "
    "NeurIPS, §3 (w ~ N(0, 1/n)) and Eq. 14 (lambda_01, alpha_01); LeCun et al. 1998, "
    "'Efficient BackProp', §4.6"
)
_QIU = "Qiu Xipeng, 'Neural Networks and Deep Learning', 2020, §7.3"
_HE_NOTES = (
    "torch's kaiming_* default a=0 gives gain sqrt(2) for 'leaky_relu', while "
    "calculate_gain('leaky_relu') defaults to slope 0.01; here slope defaults to 0",
)
_NORMAL_NOTE = (
    "Keras/TF/Flax use a truncated normal (cut at +-2 parent stds, result std kept); pass "
    "distribution='truncated_normal' for their values' law",
)
_XAVIER_NOTES = (
    "Glorot & Bengio's x4 for the logistic sigmoid (used by the textbook): gain=4.0",
    "symmetric in fan_in and fan_out, so torch and Keras layouts agree",
)


def _scheme(name: str, summary: str, formula: str, paper: str, defaults: dict[str, Any],
            build: Callable[[_Context, dict[str, Any]], InitSpec], family: str,
            aliases: tuple[str, ...] = (), notes: tuple[str, ...] = (),
            probe_shape: tuple[int, ...] = (1024, 1024)) -> Scheme:
    return Scheme(name, summary, formula, paper, defaults, build, family, aliases, notes,
                  probe_shape)


_ENTRIES = [
    _scheme("zeros", "all zeros (fails: every hidden unit stays identical)", "w = 0",
            f"{_QIU}.1 (symmetry: units with equal weights get equal gradients)", {},
            _constant_value(0.0), "constant", ("zero",)),
    _scheme("ones", "all ones", "w = 1", f"{_QIU}.1", {}, _constant_value(1.0), "constant"),
    _scheme("constant", "every weight equal to value", "w = value", f"{_QIU}.1",
            {"value": 0.0}, _build_constant, "constant"),
    _scheme("uniform", "small random uniform", "w ~ U(low, high)",
            f"{_QIU}.1 (small random values)", {"low": -0.01, "high": 0.01}, _build_uniform,
            "random", ("small_uniform",)),
    _scheme("normal", "small random normal", "w ~ N(mean, std^2)",
            f"{_QIU}.1 (small random values)", {"mean": 0.0, "std": 0.01}, _build_normal,
            "random", ("small_normal", "gaussian")),
    _scheme("fixed_variance_normal", "normal with a fixed std", "w ~ N(0, std^2)",
            f"{_QIU}.1 (fixed-variance initialization)", {"std": 0.05}, _build_normal,
            "random", ("fixed_normal",)),
    _scheme("fixed_variance_uniform", "uniform with a fixed std", "w ~ U(-r, r), r = sqrt(3) std",
            f"{_QIU}.1 (fixed-variance initialization: r = sqrt(3 sigma^2))", {"std": 0.05},
            _build_fixed_uniform, "random", ("fixed_uniform",)),
    _scheme("truncated_normal", "normal cut at +-truncate stds; std is the result's",
            "w ~ N(mean, s^2) on [mean - t s, mean + t s], s = std / c(t)",
            "Keras/TF TruncatedNormal and JAX truncated_normal (Keras' variance-scaling "
            "correction c(2) = 0.87962566103423978)",
            {"mean": 0.0, "std": 0.02, "truncate": 2.0}, _build_truncated_normal, "random",
            ("trunc_normal",),
            ("std here is the result's std; Keras' TruncatedNormal(stddev) and torch's "
             "trunc_normal_(std) take the parent std, and torch's bounds are absolute",)),
    _scheme("variance_scaling", "the general rule: Var = scale / fan(mode)",
            "Var = scale / fan(mode); normal, truncated normal or uniform (r = sqrt(3) std)",
            "Keras/TF VarianceScaling, unifying Glorot 2010, He 2015 and LeCun 1998",
            {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal",
             "truncate": 2.0}, _build_variance_scaling, "variance_scaling"),
    _scheme("xavier_normal", "Glorot normal: Var = 2 gain^2 / (fan_in + fan_out)",
            "std = gain * sqrt(2 / (fan_in + fan_out))", _GLOROT,
            {"gain": 1.0, "distribution": "normal"}, _xavier(None), "variance_scaling",
            ("glorot_normal",), _XAVIER_NOTES + _NORMAL_NOTE),
    _scheme("xavier_uniform", "Glorot uniform: r = gain sqrt(6 / (fan_in + fan_out))",
            "bound = gain * sqrt(6 / (fan_in + fan_out))", _GLOROT, {"gain": 1.0},
            _xavier("uniform"), "variance_scaling", ("glorot_uniform",), _XAVIER_NOTES),
    _scheme("he_normal", "He/Kaiming normal: Var = gain^2 / fan",
            "std = gain(nonlinearity, slope) / sqrt(fan(mode))", _HE,
            {"mode": "fan_in", "nonlinearity": "relu", "slope": 0.0, "distribution": "normal"},
            _he(None), "variance_scaling", ("kaiming_normal",), _HE_NOTES + _NORMAL_NOTE),
    _scheme("he_uniform", "He/Kaiming uniform: r = gain sqrt(3 / fan)",
            "bound = gain(nonlinearity, slope) * sqrt(3 / fan(mode))", _HE,
            {"mode": "fan_in", "nonlinearity": "relu", "slope": 0.0}, _he("uniform"),
            "variance_scaling", ("kaiming_uniform",), _HE_NOTES),
    _scheme("lecun_normal", "LeCun normal: Var = 1 / fan_in (SELU's init)",
            "std = 1 / sqrt(fan_in)", _LECUN, {"distribution": "normal"}, _lecun(None),
            "variance_scaling", (), _NORMAL_NOTE),
    _scheme("lecun_uniform", "LeCun uniform: r = sqrt(3 / fan_in)", "bound = sqrt(3 / fan_in)",
            _LECUN, {}, _lecun("uniform"), "variance_scaling"),
    _scheme("msra", "MSRA (He et al. 2015) as Caffe's MSRAFiller: Gaussian, Var = 2 / n",
            "std = sqrt(2 / n), n = fan_in | fan_out | (fan_in + fan_out)/2",
            f"{_HE}; Caffe MSRAFiller (variance_norm FAN_IN / FAN_OUT / AVERAGE)",
            {"variance_norm": "fan_in"}, _build_msra, "variance_scaling", (),
            ("a widely copied summary of Qiu (2020) §7.3 gives 2/(n_in + n_out), a mistake: "
             "half of Caffe's AVERAGE variant 4/(n_in + n_out); use variance_norm='average' "
             "for the faithful form",)),
    _scheme("orthogonal", "(semi-)orthogonal matrix times gain, Haar-distributed",
            "W = gain * Q, Q from QR of a Gaussian matrix with the sign fix (or SVD)",
            "Saxe, McClelland & Ganguli 2014, 'Exact solutions to the nonlinear dynamics of "
            "learning in deep linear networks', ICLR, §3; sign fix: Mezzadri 2007, §5",
            {"gain": 1.0, "method": "qr"}, _build_orthogonal, "structured"),
    _scheme("identity", "identity matrix (times gain)", "W = gain * I",
            "Le, Jaitly & Hinton 2015, 'A Simple Way to Initialize Recurrent Networks of "
            "Rectified Linear Units' (IRNN), §2", {"gain": 1.0}, _build_identity, "structured",
            ("eye",)),
    _scheme("dirac", "conv kernel that passes each input channel through (torch dirac_)",
            "W[d, d, center] = 1 per group", "torch.nn.init.dirac_ (identity-preserving conv "
            "init; cf. Xiao et al. 2018 delta-orthogonal, §2.3)", {}, _build_dirac,
            "structured", (),
            ("the 1 sits at k//2 in every kernel dim as in torch (k = 4 -> index 2); JAX's "
             "delta_orthogonal and TF use (k-1)//2",), probe_shape=(64, 64, 3, 3)),
    _scheme("identity_hadamard", "ZerO's deterministic matrix: partial identity, or a "
            "scaled Hadamard transform where the layer widens",
            "out <= in: W = I*; out > in: W = I* H_p I* / sqrt(p), p = 2^ceil(log2 out)",
            "Zhao, Schäfer & Anandkumar 2022, 'ZerO Initialization: Initializing Neural "
            "Networks with only Zeros and Ones', TMLR, Algorithm 1 (normalisation c = "
            "2^(-log2(p)/2) as the authors' reference code)", {"gain": 1.0},
            _build_identity_hadamard, "structured", ("zero_hadamard",),
            ("a conv kernel gets the matrix at its centre tap k//2 (torch's dirac_ "
             "convention, as the authors' conv code), zeros elsewhere",
             "deterministic: the same values for every seed")),
    _scheme("sparse", "exactly k non-zero N(0, std^2) incoming weights per unit",
            "k = nonzeros (default 15) or fan_in - ceil(sparsity * fan_in)",
            "Martens 2010, 'Deep learning via Hessian-free optimization', ICML, §5 (sparse "
            "initialization, 15 non-zero incoming weights per unit)",
            {"nonzeros": None, "sparsity": None, "std": 1.0}, _build_sparse, "structured", (),
            ("torch's sparse_(sparsity) zeroes ceil(sparsity * rows) entries per *column* of "
             "its (out, in) weight, i.e. per input; here each unit (output) gets k non-zeros",)),
    _scheme("delta_orthogonal", "orthogonal matrix at the kernel's centre tap, zeros elsewhere",
            "W[centre] = gain * H, H (out x in) with orthonormal columns; needs out >= in",
            f"{_XIAO}, §2.3 and Algorithm 2 (delta-orthogonal)",
            {"gain": 1.0, "center": "jax"}, _build_delta_orthogonal, "structured", (),
            ("centre tap (k-1)//2 per kernel dim as JAX's delta_orthogonal and TF (k = 4 -> "
             "1); center='torch' puts it at k//2 as torch's dirac_ (k = 4 -> 2)",
             "a 2-D (Linear) weight has no taps: it gets gain * H, an orthogonal init"),
            probe_shape=(64, 64, 3, 3)),
    _scheme("conv_orthogonal", "orthogonal convolution: circular conv is gain x an isometry",
            "K(z) = gain * H * prod_j (P_j + (I - P_j) z), P_j random symmetric projections",
            f"{_XIAO}, Algorithm 1 (block-orthogonal kernels; TF ConvolutionOrthogonal1D/2D/3D)",
            {"gain": 1.0}, _build_conv_orthogonal, "structured", (),
            ("norm-preserving exactly with circular padding; zero padding loses the "
             "border (TF docs: finite-width effects)",
             "unlike TF, kernel sizes may differ per dim; a 2-D weight gets gain * H"),
            probe_shape=(64, 64, 3, 3)),
    _scheme("random_walk", "Gaussian, Var = g^2 / fan_in with Sussillo & Abbott's depth gain",
            "std = g / sqrt(N), N = fan_in; g = exp(1/(2N)) (linear), "
            "sqrt(2) exp(1.2 / (max(N, 6) - 2.4)) (relu)",
            f"{_SUSSILLO}", {"nonlinearity": "linear"}, _build_random_walk,
            "variance_scaling", (),
            ("g makes log|activations| a zero-drift random walk through depth at width N; "
             "the paper's layers are square, here N is the fan_in",)),
    _scheme("selu", "SELU's init: LeCun normal, Var = 1 / fan_in (self-normalizing nets)",
            "std = 1 / sqrt(fan_in)", _KLAMBAUER, {"distribution": "normal"}, _lecun(None),
            "variance_scaling", (),
            (f"the same law as lecun_normal; with selu(x) = lambda x (x > 0), lambda alpha "
             f"(e^x - 1) (x <= 0), lambda = {SELU_LAMBDA!r}, alpha = {SELU_ALPHA!r}, "
             "activations keep mean 0 and variance 1 through depth", *_NORMAL_NOTE)),
]

REGISTRY: dict[str, Scheme] = {entry.name: entry for entry in _ENTRIES}
ALIASES: dict[str, str] = {alias: e.name for e in _ENTRIES for alias in e.aliases}


def schemes() -> list[Scheme]:
    """All registered schemes, sorted by name."""
    return [REGISTRY[name] for name in sorted(REGISTRY)]


def get_scheme(name: str) -> Scheme:
    """The registry entry for ``name`` or one of its aliases."""
    if isinstance(name, str):
        canonical = ALIASES.get(name, name)
        if canonical in REGISTRY:
            return REGISTRY[canonical]
    names = sorted([*REGISTRY, *ALIASES])
    raise InitError(f"scheme must be one of: {', '.join(names)}; received {name!r}"
                    f"{_validate.did_you_mean(name, names)}")


def resolve(
    scheme: str,
    shape: Sequence[int],
    *,
    layout: str = "torch",
    groups: int = 1,
    transposed: bool = False,
    in_axis: int | None = None,
    out_axis: int | None = None,
    stride: int | Sequence[int] | None = None,
    fan_convention: str = "paraminit",
    **options: Any,
) -> InitSpec:
    """Resolve a named scheme on a shape to an :class:`InitSpec` (pure math, no framework).

    Fan options (``groups``, ``transposed``, ``in_axis``/``out_axis``, ``stride``,
    ``fan_convention``) are those of :func:`paraminit.compute_fans`; the other keyword
    options are the scheme's own (``paraminit.schemes()`` lists them).

    Example:
        >>> resolve("he_normal", (256, 128, 3, 3)).std
        0.041666666666666664
    """
    entry = get_scheme(scheme)
    unknown = sorted(set(options) - set(entry.defaults))
    if unknown:
        allowed = ", ".join(sorted(entry.defaults)) or "none"
        raise InitError(
            f"{entry.name} got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"its options are: {allowed}"
        )
    dims = _validate.shape(shape)
    if in_axis is None and out_axis is None:
        _choice("layout", layout, LAYOUTS)
    # checked for every scheme: a bad fan option is a mistake even where no fans are read
    check_fan_options(groups=groups, transposed=transposed, in_axis=in_axis,
                      out_axis=out_axis, stride=stride, fan_convention=fan_convention)
    fan_options = {
        "groups": groups, "transposed": transposed, "in_axis": in_axis, "out_axis": out_axis,
        "stride": stride, "fan_convention": fan_convention,
    }
    ctx = _Context(entry.name, dims, layout, fan_options)
    merged = {**entry.defaults, **options}
    spec = entry.build(ctx, merged)
    order = _element_order(ctx)
    return spec if order is None else replace(spec, element_order=order)


def _element_order(ctx: _Context) -> tuple[int, ...] | None:
    """The spec's canonical element order (:func:`paraminit.core.fans.canonical_axes`), or
    None when it is the storage order. An out axis given alone (orthogonal, sparse) comes
    first and the other axes keep their order."""
    rank, options = len(ctx.shape), ctx.fan_options
    if rank < 2:
        return None
    if options["in_axis"] is None and options["out_axis"] is not None:
        out_axis = _out_axis(ctx)
        order = (out_axis, *(axis for axis in range(rank) if axis != out_axis))
    else:
        order = canonical_axes(ctx.shape, ctx.layout, transposed=options["transposed"],
                               in_axis=options["in_axis"], out_axis=options["out_axis"])
    return None if order == tuple(range(rank)) else order


def resolve_on_axes(scheme: str, shape: Sequence[int], fan_in: int, fan_out: int,
                    ins: Sequence[int], outs: Sequence[int], layout: str,
                    **options: Any) -> InitSpec:
    """The spec of a variance-scaling ``scheme`` for a kernel whose fans were read from
    explicit axes (JAX's ``in_axis``/``out_axis``, Keras' ``input_axes``/``output_axes``):
    the law of the 2-D (out, in) weight with these fans, given back ``shape``, ``layout``
    and the element order of :func:`~paraminit.core.fans.explicit_axes_order`."""
    dims = tuple(shape)
    if fan_in == 0 or fan_out == 0:
        raise InitError(f"shape {dims} has fan_in {fan_in} (axes {tuple(ins)}) and fan_out "
                        f"{fan_out} (axes {tuple(outs)}): variance scaling divides by them; "
                        "give every axis a size > 0")
    flat = resolve(scheme, (fan_out, fan_in), **options)
    return replace(flat, shape=dims, layout=layout,
                   element_order=explicit_axes_order(len(dims), ins, outs))


def validate(scheme: str, options: Mapping[str, Any]) -> None:
    """Check a scheme's options before any real shape is known (factories, rule files).

    Resolves on the scheme's probe shape, so names, types and ranges of options are
    checked; limits that depend on the real shape (sparse's nonzeros <= fan_in) are
    checked again when the real shape arrives.
    """
    entry = get_scheme(scheme)
    resolve(entry.name, entry.probe_shape, **options)


def parent_truncated_normal(
    function: str, shape: tuple[int, ...], mean: float, std: float, a: float, b: float
) -> InitSpec:
    """N(mean, std²) (``std`` the *parent* std) restricted to absolute [a, b]: torch's
    ``trunc_normal_`` and, with a = lower·std and b = upper·std, JAX's ``truncated_normal``.
    ``function`` names the caller in messages; the numbers are already real.

    torch's meaning: N(mean, std²) (``std`` the *parent* std) restricted to absolute [a, b].

    The spec's truncation is in parent-std units, ((a - mean)/std, (b - mean)/std), and its
    ``std`` is the result's: parent std × the std of N(0, 1) on that interval.
    """
    location, sigma, low, high = float(mean), float(std), float(a), float(b)
    if sigma <= 0:
        raise InitError(f"{function}: std (the parent std) must be > 0; received std={std!r}")
    if not low <= high:
        raise InitError(
            f"{function}: need a <= b (absolute bounds); received a={a!r}, b={b!r}. Swap them"
        )
    options = {"mean": location, "std": sigma, "a": low, "b": high}
    if low == high:  # the law on a point is the point, as torch (and uniform_(a, a)) give
        if not math.isfinite(low):
            raise InitError(f"{function}: a == b must be finite; received a={a!r}, b={b!r}")
        spec = resolve("constant", shape, value=low)
        return replace(spec, options=options)
    truncation = ((low - location) / sigma, (high - location) / sigma)
    if not truncation[0] < truncation[1]:
        # [a, b] is narrower than float64 resolves at its distance from mean in stds
        # (mean=1e39, a=-2, b=2): all the mass lies at the bound nearest mean to within
        # rounding, or, with mean inside (std ~1e308), the density is flat over [a, b].
        if low <= location <= high:
            spec = resolve("uniform", shape, low=low, high=high)
        else:
            spec = resolve("constant", shape, value=high if location > high else low)
        return replace(spec, options=options)
    result_std = sigma * truncated_std_factor(*truncation)
    return InitSpec(
        scheme="truncated_normal",
        shape=shape,
        layout="torch",
        distribution="truncated_normal",
        mean=location,
        std=result_std,
        truncation=truncation,
        formula=(
            f"w ~ N({location:g}, {sigma:g}^2) restricted to [{low:g}, {high:g}] (torch "
            f"trunc_normal_: parent std, absolute bounds); result std {result_std:.7g}"
        ),
        paper=REGISTRY["truncated_normal"].paper,
        options=options,
        notes=("torch's meaning: std is the parent std and a, b are absolute bounds",),
    )
