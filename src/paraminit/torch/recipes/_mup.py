"""μP, the Maximal Update Parametrization: init variances and learning rates that let the
hyper-parameters tuned on a narrow model transfer to a wide one.

Yang & Hu 2021, "Tensor Programs IV: Feature Learning in Infinite-Width Neural Networks",
ICML; Yang et al. 2022, "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot
Hyperparameter Transfer", Table 3 (init and learning rate only) and Table 8 (the ``mup``
package's form, with a 1/width multiplier on the readout). Width is measured against a
*base* model: a dimension that differs from the base model's (or, with ``delta=``, from a
third model's) is "infinite", and its *width multiplier* is ``dim / base_dim``. Each
parameter is then one of:

* **input** (fan_in finite, fan_out infinite: the first Linear, embeddings), **vector**
  (one infinite dim: biases and norm scales of hidden layers) and **finite** (no infinite
  dim: the readout's bias): the init scheme as is; Adam learning rate η; SGD η·w (w the
  infinite dim's multiplier; η for finite ones).
* **hidden** (fan_in and fan_out infinite): the init scheme on its own fans (Var ∝
  1/fan_in); Adam η/w_in; SGD η·w_out/w_in (η for square growth).
* **output** (fan_in infinite, fan_out finite: the readout). ``readout="init"`` (Table 3; no
  change to the forward pass): std × 1/√w_in, so Var ∝ 1/fan_in², and Adam and SGD both
  η/w_in. ``readout="multiplier"`` (Table 8, the ``mup`` package): the readout layer is a
  :class:`MuReadout`, which multiplies its input by ``output_mult / w_in`` in the forward
  pass; std × √w_in (the base model's std, as ``mup.set_base_shapes`` rescales it), Adam η,
  SGD η·w_in. The two forms give the same function and, for SGD exactly (Adam up to its
  ε), the same training trajectory. ``zero_readout=True`` (the default, Tensor Programs V
  §D.2 and the issue's choice; ``mup.MuReadout(readout_zero_init=True)``) starts the readout
  at 0 in either form.

Biases start at 0 (``mup.set_base_shapes`` instead keeps torch's U(±1/√fan_in) of the base
width; any width-independent constant is μP). Norm scales 1, shifts 0, embeddings N(0, 1).

What an initializer cannot do: the readout's forward multiplier (use :class:`MuReadout` or
``readout="init"``) and attention's 1/d logit scaling in place of 1/√d, a change inside the
attention's forward pass: compute it with :func:`attention_scale` and pass it as
``F.scaled_dot_product_attention(..., scale=attention_scale(d_head, base_d_head))``.
``nn.MultiheadAttention`` always scales by 1/√d_head; its projections are planned as hidden
weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn as nn

from ..._errors import InitError
from ...core import validate
from ...plan import Kind, ParamInfo, Plan, Rule

__all__ = ["MuReadout", "Mup", "attention_scale", "mup", "param_groups"]

Readout = Literal["init", "multiplier"]
Optimizer = Literal["adam", "adamw", "sgd"]

_OPTIMIZERS = ("adam", "adamw", "sgd")
_READOUTS = ("init", "multiplier")
# Schemes whose variance is gain^2/fan_in: μP's 1/fan_in law for input and hidden weights.
_SCHEMES = ("he_normal", "he_uniform", "lecun_normal", "lecun_uniform")
_MU_READOUTS = ("paraminit.torch.recipes._mup.MuReadout", "mup.layer.MuReadout")
Shapes = Mapping[str, tuple[int, ...]]


class MuReadout(nn.Linear):
    """``nn.Linear`` whose input is multiplied by ``output_mult / width_mult`` (Tensor
    Programs V, Table 8; ``mup.MuReadout`` without ``set_base_shapes``).

    ``width_mult = in_features / base_in_features``. Use it with ``mup(...,
    readout="multiplier")`` (the default when the model has one), which plans its weight at
    the base width's std (or 0) and its learning rates as the ``mup`` package does.

    Example:
        >>> head = MuReadout(1024, 10, base_in_features=256)   # width_mult 4
        >>> head.width_mult
        4.0
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 base_in_features: int, output_mult: float = 1.0, device: Any = None,
                 dtype: Any = None) -> None:
        self.base_in_features = validate.integer("base_in_features", base_in_features,
                                                 minimum=1)
        self.output_mult = validate.real("output_mult", output_mult, positive=True)
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)

    @property
    def width_mult(self) -> float:
        return self.in_features / self.base_in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x * (self.output_mult / self.width_mult))

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, base_in_features={self.base_in_features}, "
                f"output_mult={self.output_mult:g}")


def attention_scale(head_dim: int, base_head_dim: int) -> float:
    """μP's attention logit scale: √base_head_dim / head_dim, i.e. 1/√d at the base width
    and ∝ 1/d as the head grows (Tensor Programs V, §4 and Table 3 footnote: "use 1/d, not
    1/√d"; the ``mup`` examples' ``attn_mult / d`` with ``attn_mult = √base_d``).

    A forward-pass change no initializer can make: pass it as
    ``torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=...)``.

    Example:
        >>> attention_scale(64, 64), attention_scale(256, 64)
        (0.125, 0.03125)
    """
    head_dim = validate.integer("head_dim", head_dim, minimum=1)
    base_head_dim = validate.integer("base_head_dim", base_head_dim, minimum=1)
    return math.sqrt(base_head_dim) / head_dim


def _shapes(argument: str, value: Any) -> dict[str, tuple[int, ...]]:
    """A model's (``named_parameters``) or a mapping's name → shape."""
    if isinstance(value, nn.Module):
        return {name: tuple(int(d) for d in p.shape) for name, p in value.named_parameters()}
    if isinstance(value, Mapping) and value:
        shapes = {}
        for name, shape in value.items():
            validate.text(f"{argument} name", name)
            try:
                shapes[name] = validate.shape(tuple(shape) if hasattr(shape, "__len__")
                                              else shape)
            except InitError as error:
                raise InitError(f"{argument}[{name!r}]: {error}") from None
        return shapes
    raise InitError(f"{argument} must be a torch model built at the base width (as "
                    "mup.set_base_shapes takes) or a non-empty dict of parameter name -> shape; "
                    f"received {validate.show(value)}")


def _same_names(model: Iterable[str], base: Iterable[str], argument: str) -> None:
    model_names, base_names = set(model), set(base)
    if model_names == base_names:
        return
    missing = sorted(model_names - base_names)
    extra = sorted(base_names - model_names)
    raise InitError(
        f"{argument} does not match the model: "
        + (f"the model's {missing[:3]}{' ...' if len(missing) > 3 else ''} are not in "
           f"{argument}" if missing else "")
        + ("; " if missing and extra else "")
        + (f"{argument}'s {extra[:3]}{' ...' if len(extra) > 3 else ''} are not in the model"
           if extra else "")
        + ". Fix: build the base model from the same code with only the widths changed (with "
          "init(..., prefix=p), the base's names need the prefix p too)")


def _base_dims(base: Shapes, delta: Shapes | None) -> dict[str, tuple[int | None, ...]]:
    """Each parameter's base dims: the base size of an infinite dim, None for a finite one.
    Without ``delta`` every dim is kept here and compared with the model's later."""
    if delta is None:
        return dict(base)
    _same_names(delta, base, "delta")
    out = {}
    for name, shape in base.items():
        other = delta[name]
        if len(other) != len(shape):
            raise InitError(f"delta[{name!r}] has shape {other}, base {shape}: the same "
                            "parameter must have the same number of dims in both")
        out[name] = tuple(b if b != d else None for b, d in zip(shape, other, strict=True))
    if all(b is None for dims in out.values() for b in dims):
        raise InitError("delta has the base's shapes everywhere, so no dim is a width. Fix: "
                        "build delta at another width (e.g. twice the base's)")
    return out


@dataclass(frozen=True)
class _Width:
    """One parameter's class and its width multipliers (1 for a finite dim)."""

    role: str  # "input", "hidden", "output", "vector", "finite"
    fan_in: float
    fan_out: float

    @property
    def main(self) -> float:
        """The multiplier of its last infinite dim (``mup``'s ``InfShape.width_mult``)."""
        return self.fan_in if self.role in ("hidden", "output") else self.fan_out


def _classify(info: ParamInfo, base: tuple[int | None, ...], explicit: bool) -> _Width:
    shape = info.shape
    if len(base) != len(shape):
        raise InitError(f"{info.name}: the model's shape {shape} and the base shape "
                        f"{tuple(base)} differ in their number of dims; give the base model "
                        "the same layers with only the widths changed")
    mults = []
    for dim, base_dim in zip(shape, base, strict=True):
        infinite = base_dim is not None and (explicit or base_dim != dim)
        mults.append(dim / base_dim if infinite and base_dim else None)
    count = sum(m is not None for m in mults)
    if count > 2:
        raise InitError(f"{info.name}: {count} dims of shape {shape} grow with width (base "
                        f"{tuple(base)}); μP here handles at most two (fan_out and fan_in), as "
                        "the mup package does")
    if info.kind == Kind.EMBEDDING or len(shape) < 2:
        mult = next((m for m in mults if m is not None), None)
        return _Width("vector" if mult is not None else "finite", 1.0, mult or 1.0)
    if any(m is not None for m in mults[2:]):
        raise InitError(f"{info.name}: shape {shape} grows with width in a kernel dim (base "
                        f"{tuple(base)}); only dims 0 (fan_out) and 1 (fan_in) of a "
                        "torch-layout weight may be widths")
    fan_out, fan_in = mults[0], mults[1]
    if fan_in is not None and fan_out is not None:
        return _Width("hidden", fan_in, fan_out)
    if fan_in is not None:
        return _Width("output", fan_in, 1.0)
    if fan_out is not None:
        return _Width("input", 1.0, fan_out)
    return _Width("finite", 1.0, 1.0)


@dataclass(frozen=True)
class Mup:
    """The μP recipe :func:`mup` builds; call it on the parameter descriptions."""

    name: str
    base: Mapping[str, tuple[int | None, ...]]
    explicit: bool  # base dims from base and delta: None finite, a number infinite
    readout: Readout | None
    optimizer: Optimizer
    zero_readout: bool
    scheme: str
    scheme_options: Mapping[str, Any]

    def widths(self, params: Sequence[ParamInfo]) -> dict[str, _Width]:
        """Each parameter's μP class and width multipliers."""
        _same_names((info.name for info in params), self.base, "base")
        widths = {info.name: _classify(info, self.base[info.name], self.explicit)
                  for info in params}
        if all(w.role == "finite" for w in widths.values()):
            raise InitError(
                f"every parameter of the model has its base shape ({len(params)} parameters, "
                f"e.g. {params[0].name!r} {params[0].shape}), so no dim is a width and μP is "
                "the standard parametrization. Fix: build the model at the target width, or "
                "pass delta= (a model at another width) to plan the base model itself")
        return widths

    def _output_mode(self, output: list[ParamInfo]) -> Readout:
        kinds = {info.name: any(t in _MU_READOUTS for t in info.type_names) for info in output}
        mode = self.readout
        if mode is None:
            mode = "multiplier" if any(kinds.values()) else "init"
        for name, is_mu in kinds.items():
            if mode == "multiplier" and not is_mu:
                raise InitError(
                    f"readout='multiplier' needs the readout to multiply its input by 1/width, "
                    f"but {name!r} is not a MuReadout. Fix: make that layer a "
                    "paraminit.torch.recipes.MuReadout, or use readout='init' (Table 3: the "
                    "multiplier absorbed into init and learning rate)")
            if mode == "init" and is_mu:
                raise InitError(
                    f"readout='init' absorbs the 1/width multiplier into init and learning "
                    f"rate, but {name!r} is a MuReadout, which applies it in the forward pass "
                    "too. Fix: readout='multiplier' (or None), or a plain nn.Linear readout")
        return mode

    def _lr(self, width: _Width, mode: Readout) -> float:
        adam = self.optimizer != "sgd"
        if width.role == "hidden":
            return 1.0 / width.fan_in if adam else width.fan_out / width.fan_in
        if width.role == "output":
            if mode == "init":
                return 1.0 / width.fan_in
            return 1.0 if adam else width.fan_in
        if width.role in ("input", "vector"):
            return 1.0 if adam else width.main
        return 1.0

    def __call__(self, params: Sequence[ParamInfo]) -> list[Rule]:
        widths = self.widths(params)
        output = [info for info in params if widths[info.name].role == "output"]
        mode = self._output_mode(output)
        optimizer = "Adam" if self.optimizer != "sgd" else "SGD"
        rules = []
        for info in params:
            width = widths[info.name]
            lr = self._lr(width, mode)
            why = f"μP {width.role}, {optimizer} lr x {lr:.6g}"
            scheme, options = self.scheme, dict(self.scheme_options)
            if info.role == "bias" or (width.role == "output" and self.zero_readout):
                scheme, options = "zeros", {}
            elif info.role == "norm":
                scheme, options = ("ones" if info.kind == Kind.NORM_SCALE else "zeros"), {}
            elif info.kind == Kind.EMBEDDING:
                scheme, options = "normal", {"std": 1.0}
            elif info.role not in ("weight", "recurrent"):
                raise InitError(f"{info.name}: μP does not know this parameter ({info.module_type}"
                                f", role {info.role!r}); put a rule for it before the recipe "
                                "(init(model, [Rule(...)], preset=mup(...)))")
            elif width.role == "output":
                scale = 1.0 / math.sqrt(width.fan_in) if mode == "init" else math.sqrt(
                    width.fan_in)
                options["std_scale"] = scale
                why = (f"μP output, x {'1/' if mode == 'init' else ''}sqrt(width_mult "
                       f"{width.fan_in:g}); {optimizer} lr x {lr:.6g}")
            rules.append(Rule(f"name:{info.name}", scheme, **options, lr_scale=lr, reason=why))
        return rules


def mup(base: nn.Module | Mapping[str, Sequence[int]], *,
        delta: nn.Module | Mapping[str, Sequence[int]] | None = None,
        readout: Readout | None = None, optimizer: Optimizer = "adam",
        zero_readout: bool = True, scheme: str = "he_normal",
        scheme_options: Mapping[str, Any] | None = None) -> Mup:
    """The μP recipe (Tensor Programs V, Tables 3 and 8) for models that differ from
    ``base`` only in their widths.

    Args:
        base: the model built at the base width (the width the hyper-parameters are tuned
            at), or a dict of parameter name → base shape. Dims that differ from the
            model's are widths, as ``mup.set_base_shapes(model, base)`` reads them.
        delta: a model (or shapes) at another width: the dims that differ between ``base``
            and ``delta`` are the widths, so a model at the base width itself (all width
            multipliers 1) can be planned, as ``set_base_shapes(..., delta=)``.
        readout: ``"init"`` (Table 3: readout std × 1/√w and its learning rate /w; a plain
            ``nn.Linear`` readout), ``"multiplier"`` (Table 8: the readout is a
            :class:`MuReadout` or ``mup.MuReadout``, std × √w, learning rate as ``mup``),
            None: ``"multiplier"`` when the model has a MuReadout, else ``"init"``.
        optimizer: ``"adam"``/``"adamw"`` or ``"sgd"``: the learning-rate multipliers
            (``lr_scale``, see :func:`param_groups`) differ (``mup.MuAdam``/``MuSGD``).
        zero_readout: start the readout weight (and bias) at 0.
        scheme: the 1/fan_in law of input, hidden and (unless zeroed) readout weights:
            ``"he_normal"`` (default), ``"he_uniform"``, ``"lecun_normal"``,
            ``"lecun_uniform"``.
        scheme_options: the scheme's options (``{"nonlinearity": "tanh"}``); ``mode`` must
            stay ``"fan_in"``.

    Example:
        >>> import paraminit.torch as pit
        >>> from paraminit.torch.recipes import mup, param_groups
        >>> plan = pit.init(wide, mup(narrow), seed=0)                       # doctest: +SKIP
        >>> opt = torch.optim.Adam(param_groups(wide, plan, lr=1e-3))        # doctest: +SKIP
    """
    base_shapes = _shapes("base", base)
    explicit = delta is not None
    dims = _base_dims(base_shapes, _shapes("delta", delta) if explicit else None)
    if readout is not None:
        readout = validate.choice("readout", readout, _READOUTS)  # type: ignore[assignment]
    optimizer = validate.choice("optimizer", optimizer, _OPTIMIZERS)  # type: ignore[assignment]
    zero_readout = validate.boolean("zero_readout", zero_readout)
    scheme = validate.choice("scheme", scheme, _SCHEMES,
                             hint=" (μP's input and hidden weights need Var = gain^2/fan_in)")
    options = dict(scheme_options or {})
    if options.get("mode", "fan_in") != "fan_in":
        raise InitError(f"scheme_options mode must be 'fan_in' (μP's Var ∝ 1/fan_in); received "
                        f"{validate.show(options['mode'])}")
    Rule("weight", scheme, **options)  # validates the options now, not at init
    shown = [f"optimizer={optimizer!r}"]
    if readout is not None:
        shown.append(f"readout={readout!r}")
    if not zero_readout:
        shown.append("zero_readout=False")
    if scheme != "he_normal" or options:
        shown.append(f"scheme={scheme!r}")
    return Mup(f"mup({', '.join(shown)})", dims, explicit, readout, optimizer, zero_readout,
               scheme, options)


def param_groups(model: nn.Module, plan: Plan, *, lr: float,
                 weight_decay: float = 0.0) -> list[dict[str, Any]]:
    """The optimiser's parameter groups for ``plan``'s learning-rate multipliers
    (``plan.lr_scales()``): one group per multiplier s, with ``lr = lr·s`` and
    ``weight_decay = weight_decay/s`` (``mup.MuAdam``/``MuSGD`` keep lr·weight_decay
    fixed), and the multiplier as ``"lr_scale"``.

    Example:
        >>> opt = torch.optim.AdamW(param_groups(model, plan, lr=3e-4, weight_decay=0.1))
        ... # doctest: +SKIP
    """
    if not isinstance(model, nn.Module):
        raise InitError(f"model must be a torch.nn.Module; received {validate.show(model)}")
    if not isinstance(plan, Plan):
        raise InitError(f"plan must be the Plan paraminit.torch.init returned; received "
                        f"{validate.show(plan)}")
    lr = validate.real("lr", lr, positive=True)
    weight_decay = validate.real("weight_decay", weight_decay, nonnegative=True)
    scales = plan.lr_scales()
    groups: dict[float, list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        key = plan.prefix + name
        if key not in scales:
            raise InitError(f"parameter {key!r} is not in the plan; pass the plan that "
                            "init(model, ...) returned for this model")
        groups.setdefault(scales[key], []).append(parameter)
    return [{"params": params, "lr": lr * scale, "weight_decay": weight_decay / scale,
             "lr_scale": scale} for scale, params in sorted(groups.items())]
