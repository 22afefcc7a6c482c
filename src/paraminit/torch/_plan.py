"""What every parameter of a model is, and the plan that initialises it.

Discovery reads each parameter's module type, *role* and blocks (the gates of an LSTM/GRU
weight, the q/k/v of ``nn.MultiheadAttention.in_proj_weight``); resolution turns rules and a
preset into one :class:`~paraminit.core.spec.InitSpec` per parameter or block, through
:func:`paraminit.core.schemes.resolve` on the block's own shape — no formula lives here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd

from .._errors import InitError
from ..core import validate
from ..core.fans import Fans, compute_fans
from ..core.schemes import resolve
from ..core.spec import InitSpec
from ._rules import Rule

__all__ = ["InitWarning", "Plan", "PlanRow", "Slot", "discover", "resolve_plan"]

_GATES = {"LSTM": ("i", "f", "g", "o"), "GRU": ("r", "z", "n")}
_QKV = ("q", "k", "v")
_NORMS: tuple[type, ...] = (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, _NormBase)
# torch's kaiming_uniform_(a=sqrt(5)): gain^2 = 2/(1 + 5) = 1/3, so the He-uniform bound
# gain*sqrt(3/fan_in) is 1/sqrt(fan_in) (torch's default Linear/Conv weight init).
_TORCH_SLOPE = math.sqrt(5.0)
_WEIGHT_SCHEMES = {"he": "he_normal", "lecun": "lecun_normal", "msra": "msra",
                   "orthogonal": "orthogonal", "xavier": "xavier_uniform"}


class InitWarning(UserWarning):
    """A rule that takes nothing, or tied parameters whose rules disagree."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


@dataclass
class Slot:
    """One distinct parameter (tied copies folded in): where it lives and what it is."""

    name: str
    module_name: str
    module: nn.Module
    local: str
    param: torch.Tensor
    role: str
    kind: str
    blocks: tuple[str, ...] = ()
    fan_options: dict[str, Any] = field(default_factory=dict)
    bias_fan: float | None = None  # torch's fan_in of the layer, for torch-style biases
    padding_idx: int | None = None
    mha_out: bool = False
    aliases: list[tuple[str, nn.Module, str]] = field(default_factory=list)

    @property
    def module_type(self) -> str:
        return type(self.module).__name__

    @property
    def owners(self) -> list[tuple[nn.Module, str]]:
        return [(self.module, self.local), *((m, local) for _, m, local in self.aliases)]


def _torch_fan_in(weight: torch.Tensor) -> int:
    """torch's ``_calculate_fan_in_and_fan_out(weight)[0]``: size(1) x receptive field."""
    return int(weight.shape[1]) * math.prod(int(d) for d in weight.shape[2:])


def _describe(module: nn.Module, local: str, param: torch.Tensor) -> dict[str, Any]:
    """Role, kind, blocks and fan options of ``module``'s parameter ``local``."""
    if isinstance(module, nn.MultiheadAttention):
        e = module.embed_dim
        table = {
            "in_proj_weight": dict(role="weight", kind="mha_in", blocks=_QKV),
            "q_proj_weight": dict(role="weight", kind="mha_sep"),
            "k_proj_weight": dict(role="weight", kind="mha_sep"),
            "v_proj_weight": dict(role="weight", kind="mha_sep"),
            "in_proj_bias": dict(role="bias", kind="mha_in_bias", blocks=_QKV, bias_fan=e),
            "bias_k": dict(role="bias", kind="mha_bias_kv", bias_fan=e),
            "bias_v": dict(role="bias", kind="mha_bias_kv", bias_fan=e),
        }
        return table.get(local, {})
    if isinstance(module, nn.RNNBase):
        gates = _GATES.get(module.mode, ())
        hidden = module.hidden_size
        for stem, info in (
            ("weight_ih_l", dict(role="weight", kind="rnn_ih", blocks=gates)),
            ("weight_hh_l", dict(role="recurrent", kind="rnn_hh", blocks=gates)),
            ("weight_hr_l", dict(role="weight", kind="rnn_hr")),
            ("bias_ih_l", dict(role="bias", kind="rnn_bias_ih", blocks=gates)),
            ("bias_hh_l", dict(role="bias", kind="rnn_bias_hh", blocks=gates)),
        ):
            if local.startswith(stem):
                return {**info, "bias_fan": hidden}
        return {}
    if isinstance(module, nn.Bilinear):
        # torch's Bilinear bound is 1/sqrt(in1_features) for weight and bias alike.
        return {"weight": dict(role="weight", kind="bilinear", bias_fan=module.in1_features),
                "bias": dict(role="bias", kind="bias", bias_fan=module.in1_features)
                }.get(local, {})
    if isinstance(module, _ConvNd):
        transposed = bool(module.transposed)
        return {
            "weight": dict(role="weight", kind="conv_transpose" if transposed else "conv",
                           fan_options={"groups": module.groups, "transposed": transposed}),
            "bias": dict(role="bias", kind="bias", bias_fan=_torch_fan_in(module.weight)),
        }.get(local, {})
    if isinstance(module, nn.Linear):
        return {"weight": dict(role="weight", kind="linear"),
                "bias": dict(role="bias", kind="bias", bias_fan=module.in_features)
                }.get(local, {})
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        if local == "weight":
            return dict(role="embedding", kind="embedding", padding_idx=module.padding_idx)
        return {}
    if isinstance(module, _NORMS):
        return {"weight": dict(role="norm", kind="norm_scale"),
                "bias": dict(role="norm", kind="norm_shift")}.get(local, {})
    return {}


def discover(model: nn.Module, prefix: str = "") -> list[Slot]:
    """Every distinct parameter of ``model`` in module order; tied copies become aliases.

    The first owner (in ``named_modules`` order) owns a tied parameter: its name keys the
    stream and its rule applies.
    """
    if not isinstance(model, nn.Module):
        raise InitError(f"model must be a torch.nn.Module; received {type(model).__name__}")
    if not isinstance(prefix, str):
        raise InitError(f"prefix must be a str such as 'encoder.'; received {prefix!r}")
    validate.text("prefix", prefix)
    mha_out = {id(m.out_proj) for m in model.modules() if isinstance(m, nn.MultiheadAttention)}
    slots: list[Slot] = []
    by_id: dict[int, Slot] = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
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
            if id(param) in by_id:
                by_id[id(param)].aliases.append((name, module, local))
                continue
            info = _describe(module, local, param)
            slot = Slot(name=name, module_name=prefix + module_name, module=module, local=local,
                        param=param, role=info.get("role", "other"),
                        kind=info.get("kind", "other"), blocks=info.get("blocks", ()),
                        fan_options=info.get("fan_options", {}),
                        bias_fan=info.get("bias_fan"), padding_idx=info.get("padding_idx"),
                        mha_out=id(module) in mha_out)
            by_id[id(param)] = slot
            slots.append(slot)
    return slots


# ---------------------------------------------------------------------------------------
# assignments: which scheme, with which options, on which blocks


@dataclass(frozen=True)
class _Choice:
    """A scheme with options for one parameter, before it is resolved on its blocks."""

    scheme: str
    options: dict[str, Any]
    source: str  # "rule #i: ..." or "preset 'he'"
    blocks: bool = True
    stride_aware: bool = False
    fan_convention: str | None = None
    forget_bias: float | None = None

    def key(self) -> tuple[str, tuple[tuple[str, Any], ...], float | None]:
        return self.scheme, tuple(sorted(self.options.items(), key=lambda kv: kv[0])), \
            self.forget_bias


def _torch_bias(slot: Slot) -> tuple[str, dict[str, Any]]:
    """torch's bias law: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (0 when fan_in is 0, as torch)."""
    fan = slot.bias_fan or 0
    if fan <= 0:
        return "zeros", {}
    bound = 1.0 / math.sqrt(fan)
    return "uniform", {"low": -bound, "high": bound}


def _bias_choice(value: Any, slot: Slot) -> tuple[str, dict[str, Any]]:
    if value == "zeros":
        return "zeros", {}
    if value == "torch":
        return _torch_bias(slot)
    return "constant", {"value": float(value)}


def choose_by_rule(slot: Slot, index: int, rule: Rule) -> _Choice:
    source = f"rule #{index}: {rule.describe()}"
    options = rule.options
    scheme, scheme_options = rule.scheme, rule.scheme_options
    if slot.role == "bias":
        type_taken = not any(s.kind != "type" and s.matches(slot.name, slot.module, slot.role)
                             for s in rule.select)
        if "bias" in options or type_taken:
            scheme, scheme_options = _bias_choice(options.get("bias", "zeros"), slot)
    forget = options.get("forget_bias")
    return _Choice(scheme, scheme_options, source, blocks=options.get("blocks", True),
                   stride_aware=options.get("stride_aware", False),
                   fan_convention=options.get("fan_convention"),
                   forget_bias=float(forget) if forget is not None else None)


def choose_by_preset(slot: Slot, preset: str) -> _Choice | None:
    """The preset's choice for ``slot``, or None for parameters it does not know."""
    source = f"preset {preset!r}"
    kind = slot.kind
    if kind == "other":
        return None
    if kind == "norm_scale":
        return _Choice("ones", {}, source)
    if kind == "norm_shift":
        return _Choice("zeros", {}, source)
    if kind == "embedding":
        return _Choice("normal", {"std": 1.0}, source)  # torch's N(0, 1)
    if preset == "torch_default":
        return _torch_default(slot, source)
    if slot.role == "bias":
        return _Choice("zeros", {}, source)
    if kind == "rnn_hh":  # orthogonal recurrent matrix per gate: Saxe et al. 2014, §3
        return _Choice("orthogonal", {}, source)
    return _Choice(_WEIGHT_SCHEMES[preset], {}, source)


def _torch_default(slot: Slot, source: str) -> _Choice:
    """The law torch's ``reset_parameters`` uses for this parameter."""
    kind = slot.kind
    if kind.startswith("rnn"):  # RNNBase: every parameter U(+-1/sqrt(hidden))
        scheme, options = _torch_bias(slot)
        return _Choice(scheme, options, source, blocks=False)
    if kind in ("mha_in", "mha_sep"):  # xavier_uniform_ on the whole (stacked) matrix
        return _Choice("xavier_uniform", {}, source, blocks=False, fan_convention="torch")
    if kind == "mha_in_bias" or (kind == "bias" and slot.mha_out):
        return _Choice("zeros", {}, source, blocks=False)
    if kind == "mha_bias_kv":
        return _Choice("xavier_normal", {}, source, fan_convention="torch")
    if kind == "bilinear" or kind == "bias":
        scheme, options = _torch_bias(slot)
        return _Choice(scheme, options, source)
    # Linear, Conv, ConvTranspose weights: kaiming_uniform_(a=sqrt(5)) with torch's fans
    return _Choice("he_uniform", {"nonlinearity": "leaky_relu", "slope": _TORCH_SLOPE},
                   source, fan_convention="torch")


# ---------------------------------------------------------------------------------------
# the plan


@dataclass(frozen=True)
class PlanRow:
    """One parameter, or one block of a gate-stacked parameter, and how it is initialised.

    ``name`` keys the random stream: the qualified parameter name, with ``[block]``
    appended for a block (``"rnn.weight_hh_l0[f]"``). ``status`` is ``"init"``,
    ``"protected"`` (kept as is) or ``"uncovered"`` (no rule and no preset entry: kept as
    is, reported by :func:`~paraminit.torch.audit`).
    """

    name: str
    parameter: str
    module: str
    module_type: str
    role: str
    status: str
    rule: str | None = None
    scheme: str | None = None
    shape: tuple[int, ...] = ()
    block: str | None = None
    rows: tuple[int, int] | None = None  # the block's [start, stop) along dim 0
    spec: InitSpec | None = None
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    fans: Fans | None = None  # the block's fans (also for schemes that do not use them)

    @property
    def fan_in(self) -> float | None:
        return self.fans.fan_in if self.fans is not None else None

    @property
    def fan_out(self) -> float | None:
        return self.fans.fan_out if self.fans is not None else None

    @property
    def scheme_text(self) -> str:
        """The scheme with its options, e.g. ``constant(value=1.0)``."""
        if self.spec is None:
            return f"[{self.status}]"
        options = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v!r}"
                            for k, v in self.spec.options.items()
                            if k in _SHOWN_OPTIONS.get(self.spec.scheme, ()))
        return f"{self.spec.scheme}({options})" if options else str(self.spec.scheme)

    @property
    def std(self) -> float | None:
        """Target std of the result (0 for constants)."""
        return self.spec.std if self.spec is not None else None

    @property
    def bound(self) -> float | None:
        """Largest |value| for bounded laws (uniform half-width about the mean)."""
        if self.spec is None or self.spec.bounds is None:
            return None
        return max(abs(b) for b in self.spec.bounds)

    def to_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "name": self.name, "parameter": self.parameter, "module": self.module,
            "module_type": self.module_type, "role": self.role, "status": self.status,
            "rule": self.rule, "scheme": self.scheme, "shape": list(self.shape),
            "block": self.block, "fan_in": self.fan_in, "fan_out": self.fan_out,
            "std": self.std, "bound": self.bound,
            "distribution": spec.describe() if spec is not None else None,
            "aliases": list(self.aliases), "notes": list(self.notes),
        }


_SHOWN_OPTIONS = {"constant": ("value",), "uniform": ("low", "high"), "normal": ("std",),
                  "he_uniform": ("slope",), "he_normal": ("mode",), "msra": ("variance_norm",)}
_COLUMNS = ("name", "module", "role", "rule", "scheme", "fan_in", "fan_out", "std", "bound")


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


class Plan(Sequence[PlanRow]):
    """The resolved initialisation of a model: one :class:`PlanRow` per parameter or block.

    A sequence of rows (``for row in plan``, ``plan[0]``), looked up by name too
    (``plan["fc.weight"]``); ``plan.rows_of("lstm.weight_hh_l0")`` gives a parameter's
    blocks.
    """

    def __init__(self, rows: list[PlanRow], *, seed: int, preset: str, rules: list[Rule],
                 slots: list[Slot], applied: bool = False) -> None:
        self._rows = rows
        self._by_name = {row.name: row for row in rows}
        self.seed, self.preset, self.rules, self.applied = seed, preset, rules, applied
        self.slots = slots
        self.prefix = ""

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[PlanRow]:
        return iter(self._rows)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return self._by_name[key]
            except KeyError:
                raise KeyError(f"no plan row named {key!r}") from None
        return self._rows[key]

    def __contains__(self, key: object) -> bool:
        return key in self._by_name if isinstance(key, str) else key in self._rows

    def rows_of(self, parameter: str) -> list[PlanRow]:
        """The rows (blocks) of one parameter, by its qualified name."""
        return [row for row in self._rows if row.parameter == parameter]

    def to_records(self) -> list[dict[str, Any]]:
        return [row.to_dict() for row in self._rows]

    def table(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        """Columns and string rows for :func:`paraminit.report.terminal.render_table`."""
        rows = []
        for row in self._rows:
            name = row.name + (f" (= {', '.join(row.aliases)})" if row.aliases else "")
            rows.append((name, row.module_type, row.role, row.rule or "-", row.scheme_text,
                         _fmt(row.fan_in), _fmt(row.fan_out), _fmt(row.std), _fmt(row.bound)))
        return _COLUMNS, rows

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for row in self._rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        return f"<Plan preset={self.preset!r} seed={self.seed} rows={len(self)} ({summary})>"


def _resolve_choice(slot: Slot, choice: _Choice) -> list[PlanRow]:
    """Resolve ``choice`` on the slot's blocks (or whole tensor): one row per block."""
    shape = tuple(int(d) for d in slot.param.shape)
    labels = slot.blocks if choice.blocks and slot.blocks else ()
    fan_options: dict[str, Any] = {}
    if slot.role not in ("bias", "norm"):
        fan_options.update(slot.fan_options)
        if choice.stride_aware and slot.kind in ("conv", "conv_transpose"):
            fan_options["stride"] = tuple(slot.module.stride)  # type: ignore[arg-type]
        if choice.fan_convention is not None:
            fan_options["fan_convention"] = choice.fan_convention
    pieces: list[tuple[str | None, tuple[int, int] | None, tuple[int, ...]]] = []
    if labels:
        if shape[0] % len(labels):
            raise InitError(f"{slot.name}: dim 0 ({shape[0]}) does not split into "
                            f"{len(labels)} blocks {labels}")
        size = shape[0] // len(labels)
        pieces = [(label, (i * size, (i + 1) * size), (size, *shape[1:]))
                  for i, label in enumerate(labels)]
    else:
        pieces = [(None, None, shape)]
    forget = choice.forget_bias is not None and slot.kind in ("rnn_bias_ih", "rnn_bias_hh") \
        and getattr(slot.module, "mode", "") == "LSTM"
    if forget and not labels:
        raise InitError(f"{slot.name}: forget_bias needs the LSTM bias split into gates; "
                        "drop blocks=False from the rule")
    rows = []
    aliases = tuple(name for name, _, _ in slot.aliases)
    for label, span, block_shape in pieces:
        scheme, options, notes = choice.scheme, choice.options, ()
        if forget and label == "f":
            value = choice.forget_bias if slot.kind == "rnn_bias_ih" else 0.0
            scheme, options = "constant", {"value": value}
            notes = (f"forget gate: bias_ih[f] = {choice.forget_bias:g}, bias_hh[f] = 0 "
                     "(their sum is the gate's bias)",)
        try:
            spec = resolve(scheme, block_shape, **fan_options, **options)
        except InitError as error:
            raise InitError(
                f"cannot initialise {slot.name!r} ({slot.module_type}, role {slot.role!r}, "
                f"shape {shape}{f', block {label!r}' if label else ''}) by {choice.source}: "
                f"{error}. Fix: choose a scheme that fits this shape, narrow the rule's select, "
                "or put a rule for this parameter before it"
            ) from None
        if slot.padding_idx is not None:
            notes += (f"row padding_idx={slot.padding_idx} set to 0 (as nn.Embedding)",)
        fans = spec.fans
        if fans is None and slot.role not in ("bias", "norm") and len(block_shape) >= 2:
            try:
                fans = compute_fans(block_shape, **fan_options)
            except InitError:
                fans = None
        name = slot.name if label is None else f"{slot.name}[{label}]"
        rows.append(PlanRow(
            name=name, parameter=slot.name, module=slot.module_name,
            module_type=slot.module_type, role=slot.role, status="init", rule=choice.source,
            scheme=spec.scheme, shape=block_shape, block=label, rows=span, spec=spec,
            aliases=aliases, notes=notes, fans=fans))
    return rows


def _matches(patterns: Sequence[str], names: Sequence[str]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns for name in names)


def resolve_plan(slots: list[Slot], rules: list[Rule], preset: str, *, seed: int,
                 protect: Sequence[str]) -> Plan:
    """Resolve every slot: protect, first matching rule, preset; warn on unused rules."""
    taken = [0] * len(rules)
    matched = [0] * len(rules)
    rows: list[PlanRow] = []

    def choose(name: str, module: nn.Module, slot: Slot) -> tuple[int | None, _Choice | None]:
        winner = None
        for i, rule in enumerate(rules):
            if rule.matches(name, module, slot.role):
                matched[i] += 1
                if winner is None:
                    winner = i
        if winner is not None:
            return winner, choose_by_rule(slot, winner, rules[winner])
        return None, choose_by_preset(slot, preset)

    for slot in slots:
        names = [slot.name, *(n for n, _, _ in slot.aliases)]
        aliases = tuple(names[1:])
        base = dict(name=slot.name, parameter=slot.name, module=slot.module_name,
                    module_type=slot.module_type, role=slot.role,
                    shape=tuple(int(d) for d in slot.param.shape), aliases=aliases)
        if _matches(protect, names):
            rows.append(PlanRow(status="protected", **base))
            continue
        index, choice = choose(slot.name, slot.module, slot)
        if index is not None:
            taken[index] += 1
        notes: tuple[str, ...] = ()
        for alias_name, alias_module, _ in slot.aliases:
            alias_slot = Slot(name=alias_name, module_name="", module=alias_module,
                              local="", param=slot.param,
                              **_tied_description(alias_module, slot))
            alias_index, alias_choice = choose(alias_name, alias_module, alias_slot)
            if _disagree(choice, alias_choice):
                message = (
                    f"tied parameter {slot.name!r} = {alias_name!r}: {_said(choice)} for "
                    f"{slot.name!r} (the first owner, {slot.module_type}) but "
                    f"{_said(alias_choice)} for {alias_name!r} ({type(alias_module).__name__}); "
                    "it is initialised "
                    "once, by the first owner's"
                )
                notes += (message,)
                if index is not None or alias_index is not None:
                    warnings.warn(message, InitWarning, stacklevel=4)
        if choice is None:
            rows.append(PlanRow(status="uncovered", notes=notes, **base))
            continue
        resolved = _resolve_choice(slot, choice)
        if notes:
            resolved = [replace(r, notes=r.notes + notes) for r in resolved]
        rows.extend(resolved)
    for i, rule in enumerate(rules):
        if not taken[i]:
            why = ("matches no parameter" if not matched[i] else
                   "takes no parameter: earlier rules (or protect) take all it matches")
            warnings.warn(f"rule #{i} {rule!r} {why}", InitWarning, stacklevel=3)
    return Plan(rows, seed=seed, preset=preset, rules=rules, slots=slots)


def _tied_description(module: nn.Module, owner: Slot) -> dict[str, Any]:
    """Role and kind of a tied copy as its own module sees it (its local name is the owner's)."""
    for local, param in module._parameters.items():
        if param is owner.param:
            info = _describe(module, local, param)
            return dict(role=info.get("role", "other"), kind=info.get("kind", "other"),
                        blocks=info.get("blocks", ()), bias_fan=info.get("bias_fan"))
    return dict(role=owner.role, kind=owner.kind)


def _said(choice: _Choice | None) -> str:
    if choice is None:
        return "no rule"
    options = ", ".join(f"{k}={v!r}" for k, v in choice.options.items())
    return f"{choice.source} gives {choice.scheme}({options})"


def _disagree(a: _Choice | None, b: _Choice | None) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return a.key() != b.key()
