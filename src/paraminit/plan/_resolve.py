"""From parameter descriptions and rules to a plan: one resolved spec per parameter or block.

Resolution is framework-free: it reads :class:`~paraminit.plan.ParamInfo` only and turns
rules and a preset (a recipe's rules) into one :class:`~paraminit.core.spec.InitSpec` per
parameter or block, through :func:`paraminit.core.schemes.resolve` on the block's own shape —
no formula lives here. Writing the values is the adapter's job.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Any

from .._errors import InitError
from ..core.fans import Fans, compute_fans
from ..core.schemes import resolve
from ..core.spec import InitSpec
from ._param import BlockPlace, Kind, ParamInfo
from ._rules import IsInstance, Rule, bias_law
from .recipes import Recipe, preset_label, preset_rules

__all__ = ["InitWarning", "Plan", "PlanRow", "resolve_plan"]

_RNN_BIASES = (Kind.RNN_BIAS_INPUT, Kind.RNN_BIAS_RECURRENT)
_CONVOLUTIONS = (Kind.CONV, Kind.CONV_TRANSPOSE)


class InitWarning(UserWarning):
    """A rule that takes nothing, or tied parameters whose rules disagree."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


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
    std_scale: float | Mapping[str, float] | None = None  # a mapping: per block label
    lr_scale: float | None = None
    reason: str | None = None

    def key(self) -> tuple[Any, ...]:
        scale = (tuple(sorted(self.std_scale.items())) if isinstance(self.std_scale, Mapping)
                 else self.std_scale)
        return (self.scheme, tuple(sorted(self.options.items(), key=lambda kv: kv[0])),
                self.forget_bias, scale)

    def scale_of(self, info: ParamInfo, labels: tuple[str, ...],
                 label: str | None) -> float | None:
        """The ``std_scale`` of one block (or of the whole tensor, ``label`` None)."""
        if not isinstance(self.std_scale, Mapping):
            return self.std_scale
        missing = sorted(set(labels) - set(self.std_scale))
        extra = sorted(set(self.std_scale) - set(labels))
        if not labels or missing or extra:
            raise InitError(
                f"cannot initialise {info.name!r} ({info.module_type}) by {self.source}: "
                f"std_scale maps blocks {sorted(self.std_scale)} but the parameter is resolved "
                + (f"on blocks {list(labels)}" if labels else "whole (no blocks)")
                + "; name every block and only those, or give one factor")
        return float(self.std_scale[label]) if label is not None else None


def _choose_by_rule(info: ParamInfo, rule: Rule, source: str,
                    is_instance: IsInstance | None) -> _Choice:
    options = rule.options
    scheme, scheme_options = rule.scheme, rule.scheme_options
    if info.role == "bias" and ("bias" in options
                                or rule.takes_by_type_only(info, is_instance)):
        scheme, scheme_options = bias_law(options.get("bias", "zeros"), info)
    forget = options.get("forget_bias")
    return _Choice(scheme, scheme_options, source, blocks=options.get("blocks", True),
                   stride_aware=options.get("stride_aware", False),
                   fan_convention=options.get("fan_convention"),
                   forget_bias=float(forget) if forget is not None else None,
                   std_scale=options.get("std_scale"), lr_scale=options.get("lr_scale"),
                   reason=options.get("reason"))


class _RuleSet:
    """Rules in order, with exact-name rules (recipes emit one per parameter) in a dict, so
    the first match costs O(general rules), not O(all rules)."""

    def __init__(self, rules: Sequence[Rule], is_instance: IsInstance | None) -> None:
        self.rules, self.is_instance = list(rules), is_instance
        self.by_name: dict[str, list[int]] = {}
        self.general: list[int] = []
        for i, rule in enumerate(self.rules):
            names = rule.exact_names
            if names is None:
                self.general.append(i)
            else:
                for name in names:
                    self.by_name.setdefault(name, []).append(i)
        self.matched = [0] * len(self.rules)
        self.taken = [0] * len(self.rules)

    def first(self, info: ParamInfo) -> int | None:
        """The index of the first rule that takes ``info`` (every match is counted)."""
        found = [*self.by_name.get(info.name, ()),
                 *(i for i in self.general if self.rules[i].matches(info, self.is_instance))]
        for i in found:
            self.matched[i] += 1
        return min(found) if found else None


@dataclass(frozen=True)
class PlanRow:
    """One parameter, or one block of a gate-stacked parameter, and how it is initialised.

    ``name`` is the qualified parameter name, with ``[block]`` appended for a block
    (``"rnn.weight_hh_l0[f]"``); ``stream`` keys the random stream: the parameter's
    :attr:`~paraminit.plan.ParamInfo.stream` with the same suffix (``name`` when empty).
    ``status`` is ``"init"``, ``"protected"`` (kept as is) or ``"uncovered"`` (no rule and
    no preset entry: kept as is, reported by the adapter's ``audit``). ``std_scale`` (with
    ``reason``) is the multiplier the rule put on the scheme's spread, ``lr_scale`` a
    learning-rate multiplier for the optimiser (None: none given).
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
    place: BlockPlace | None = None  # where the block lies in the parameter
    spec: InitSpec | None = None
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    fans: Fans | None = None  # the block's fans (also for schemes that do not use them)
    std_scale: float | None = None
    lr_scale: float | None = None
    reason: str | None = None
    stream: str = ""

    def __post_init__(self) -> None:
        if not self.stream:
            object.__setattr__(self, "stream", self.name)

    @property
    def rows(self) -> tuple[int, int] | None:
        """A block that is one slice along dim 0: its ``[start, stop)`` there."""
        place = self.place
        if place is None or place.axis != 0 or not place.slice:
            return None
        return place.start, place.stop

    @property
    def fan_in(self) -> float | None:
        return self.fans.fan_in if self.fans is not None else None

    @property
    def fan_out(self) -> float | None:
        return self.fans.fan_out if self.fans is not None else None

    @property
    def scheme_text(self) -> str:
        """The scheme with its options, e.g. ``constant(value=1.0)``, and its scale:
        ``normal(std=0.02) x 0.204124 (1/sqrt(2*12): GPT-2 residual projection)``."""
        if self.spec is None:
            return f"[{self.status}]"
        options = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v!r}"
                            for k, v in self.spec.options.items()
                            if k in _SHOWN_OPTIONS.get(self.spec.scheme, ()))
        text = f"{self.spec.scheme}({options})" if options else str(self.spec.scheme)
        if self.std_scale is not None:
            text += f" x {self.std_scale:.6g}" + (f" ({self.reason})" if self.reason else "")
        return text

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
            "name": self.name, "stream": self.stream, "parameter": self.parameter,
            "module": self.module, "module_type": self.module_type, "role": self.role,
            "status": self.status,
            "rule": self.rule, "scheme": self.scheme, "shape": list(self.shape),
            "block": self.block, "fan_in": self.fan_in, "fan_out": self.fan_out,
            "std": self.std, "bound": self.bound,
            "distribution": spec.describe() if spec is not None else None,
            "aliases": list(self.aliases), "notes": list(self.notes),
            "std_scale": self.std_scale, "lr_scale": self.lr_scale, "reason": self.reason,
        }


_SHOWN_OPTIONS = {"constant": ("value",), "uniform": ("low", "high"), "normal": ("std",),
                  "truncated_normal": ("std", "truncate"),
                  "he_uniform": ("slope",), "he_normal": ("mode",), "msra": ("variance_norm",)}
_COLUMNS = ("name", "module", "role", "rule", "scheme", "fan_in", "fan_out", "std", "bound")


def text_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain aligned columns (no terminal library): a header, a rule, one line per row."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    lines = [columns, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                     .rstrip() for line in lines)


def number_text(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


class Plan(Sequence[PlanRow]):
    """The resolved initialisation of a model: one :class:`PlanRow` per parameter or block.

    A sequence of rows (``for row in plan``, ``plan[0]``), looked up by name too
    (``plan["fc.weight"]``); ``plan.rows_of("lstm.weight_hh_l0")`` gives a parameter's
    blocks. ``params`` are the descriptions it was resolved from.
    """

    def __init__(self, rows: list[PlanRow], *, seed: int, preset: str, rules: list[Rule],
                 params: Sequence[ParamInfo], applied: bool = False, prefix: str = "") -> None:
        self._rows = rows
        self._by_name = {row.name: row for row in rows}
        self.seed, self.preset, self.rules, self.applied = seed, preset, rules, applied
        self.params = list(params)
        self.prefix = prefix

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

    def lr_scales(self) -> dict[str, float]:
        """Each parameter's learning-rate multiplier from its rule's ``lr_scale`` (1 when none
        was given), keyed by qualified name: for the optimiser's parameter groups."""
        return {row.parameter: row.lr_scale if row.lr_scale is not None else 1.0
                for row in self._rows}

    def to_records(self) -> list[dict[str, Any]]:
        return [row.to_dict() for row in self._rows]

    def to_json(self, *, indent: int | None = 2) -> str:
        """``{"preset", "seed", "applied", "rows": [...]}`` as JSON (rows as in
        :meth:`to_records`)."""
        return json.dumps({"preset": self.preset, "seed": self.seed, "applied": self.applied,
                           "rows": self.to_records()}, indent=indent)

    def __str__(self) -> str:
        """The plan as a table: name, module type, role, status, rule, scheme, fans, std,
        bound (``print(plan)``)."""
        columns, rows = self.table()
        columns = (*columns[:3], "status", *columns[3:])
        rows = [(*row[:3], plan_row.status, *row[3:])
                for row, plan_row in zip(rows, self._rows, strict=True)]
        return f"{self!r}\n{text_table(columns, rows)}"

    def table(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        """Columns and string rows for :func:`paraminit.report.terminal.render_table`."""
        rows = []
        for row in self._rows:
            name = row.name + (f" (= {', '.join(row.aliases)})" if row.aliases else "")
            rows.append((name, row.module_type, row.role, row.rule or "-", row.scheme_text,
                         *map(number_text, (row.fan_in, row.fan_out, row.std, row.bound))))
        return _COLUMNS, rows

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for row in self._rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        return f"<Plan preset={self.preset!r} seed={self.seed} rows={len(self)} ({summary})>"


def _pieces(info: ParamInfo, labels: tuple[str, ...]
            ) -> list[tuple[str | None, BlockPlace | None, tuple[int, ...]]]:
    if not labels:
        return [(None, None, info.shape)]
    return [(label, place, place.block_shape(info.shape))
            for label, place in zip(labels, info.places(), strict=True)]


def _resolve_choice(info: ParamInfo, choice: _Choice) -> list[PlanRow]:
    """Resolve ``choice`` on the parameter's blocks (or whole tensor): one row per block."""
    shape = info.shape
    labels = info.blocks if choice.blocks and info.blocks else ()
    fan_options: dict[str, Any] = {}
    if info.role not in ("bias", "norm"):
        fan_options.update(info.fan_options)
        if choice.stride_aware and info.kind in _CONVOLUTIONS and info.stride is not None:
            fan_options["stride"] = tuple(info.stride)
        if choice.fan_convention is not None:
            fan_options["fan_convention"] = choice.fan_convention
    forget = choice.forget_bias is not None and info.kind in _RNN_BIASES and "f" in info.blocks
    if forget and not labels:
        raise InitError(f"{info.name}: forget_bias needs the LSTM bias split into gates; "
                        "drop blocks=False from the rule")
    rows = []
    aliases = tuple(alias.name for alias in info.aliases)
    for label, place, block_shape in _pieces(info, labels):
        scheme, options, notes = choice.scheme, choice.options, ()
        scale = choice.scale_of(info, labels, label)
        if forget and label == "f":
            value = choice.forget_bias if info.kind == Kind.RNN_BIAS_INPUT else 0.0
            scheme, options = "constant", {"value": value}
            notes = (f"forget gate: bias_ih[f] = {choice.forget_bias:g}, bias_hh[f] = 0 "
                     "(their sum is the gate's bias)",)
        clash = {k for k in set(fan_options) & set(options) if fan_options[k] != options[k]}
        if clash:
            key = sorted(clash)[0]
            raise InitError(
                f"cannot initialise {info.name!r} ({info.module_type}) by {choice.source}: "
                f"the rule gives {key}={options[key]!r} but the layer has "
                f"{key}={fan_options[key]!r}; the planner reads {key} from the layer, so drop "
                "it from the rule")
        try:
            spec = resolve(scheme, block_shape, **{**fan_options, **options})
            if scale is not None:
                spec = spec.scaled(scale, choice.reason or "")
        except InitError as error:
            raise InitError(
                f"cannot initialise {info.name!r} ({info.module_type}, role {info.role!r}, "
                f"shape {shape}{f', block {label!r}' if label else ''}) by {choice.source}: "
                f"{error}. Fix: choose a scheme that fits this shape, narrow the rule's select, "
                "or put a rule for this parameter before it"
            ) from None
        if info.padding_idx is not None:
            notes += (f"row padding_idx={info.padding_idx} set to 0 (as nn.Embedding)",)
        fans = spec.fans
        if fans is None and info.role not in ("bias", "norm") and len(block_shape) >= 2:
            try:
                fans = compute_fans(block_shape, **fan_options)
            except InitError:
                fans = None
        suffix = "" if label is None else f"[{label}]"
        rows.append(PlanRow(
            name=info.name + suffix, stream=info.stream + suffix, parameter=info.name,
            module=info.module,
            module_type=info.module_type, role=info.role, status="init", rule=choice.source,
            scheme=spec.scheme, shape=block_shape, block=label, place=place, spec=spec,
            aliases=aliases, notes=notes, fans=fans, std_scale=scale,
            lr_scale=choice.lr_scale, reason=choice.reason))
    return rows


def resolve_plan(params: Sequence[ParamInfo], rules: Sequence[Rule], preset: str | Recipe, *,
                 seed: int, protect: Sequence[str] = (), prefix: str = "",
                 is_instance: IsInstance | None = None) -> Plan:
    """Resolve every parameter: protect, first matching rule, then the preset's recipe.

    ``is_instance`` is the adapter's type test for type selectors given as classes (torch's
    ``isinstance`` on the layer); without it types match by qualified name. Rules that take
    nothing and tied parameters whose rules disagree give an :class:`InitWarning`.
    """
    user = _RuleSet(rules, is_instance)
    fallback = _RuleSet(preset_rules(preset, params), is_instance)
    label = preset_label(preset)

    def choose(info: ParamInfo) -> tuple[int | None, _Choice | None]:
        index = user.first(info)
        if index is not None:
            source = f"rule #{index}: {user.rules[index].describe()}"
            return index, _choose_by_rule(info, user.rules[index], source, is_instance)
        found = fallback.first(info)
        if found is None:
            return None, None
        return None, _choose_by_rule(info, fallback.rules[found], f"preset {label!r}",
                                     is_instance)

    rows: list[PlanRow] = []
    for info in params:
        names = info.names
        base = dict(name=info.name, stream=info.stream, parameter=info.name, module=info.module,
                    module_type=info.module_type, role=info.role, shape=info.shape,
                    aliases=names[1:])
        if any(fnmatchcase(name, p) for p in protect for name in names):
            rows.append(PlanRow(status="protected", **base))
            continue
        index, choice = choose(info)
        if index is not None:
            user.taken[index] += 1
        notes: tuple[str, ...] = ()
        for alias in info.aliases:
            alias_index, alias_choice = choose(alias)
            if _disagree(choice, alias_choice):
                message = (
                    f"tied parameter {info.name!r} = {alias.name!r}: {_said(choice)} for "
                    f"{info.name!r} (the first owner, {info.module_type}) but "
                    f"{_said(alias_choice)} for {alias.name!r} ({alias.module_type}); "
                    "it is initialised once, by the first owner's"
                )
                notes += (message,)
                if index is not None or alias_index is not None:
                    warnings.warn(message, InitWarning, stacklevel=4)
        if choice is None:
            rows.append(PlanRow(status="uncovered", notes=notes, **base))
            continue
        resolved = _resolve_choice(info, choice)
        if notes:
            resolved = [replace(r, notes=r.notes + notes) for r in resolved]
        rows.extend(resolved)
    for i, rule in enumerate(user.rules):
        if not user.taken[i]:
            why = ("matches no parameter" if not user.matched[i] else
                   "takes no parameter: earlier rules (or protect) take all it matches")
            warnings.warn(f"rule #{i} {rule!r} {why}", InitWarning, stacklevel=3)
    return Plan(rows, seed=seed, preset=label, rules=list(rules), params=params,
                prefix=prefix)


def _said(choice: _Choice | None) -> str:
    if choice is None:
        return "no rule"
    options = ", ".join(f"{k}={v!r}" for k, v in choice.options.items())
    return f"{choice.source} gives {choice.scheme}({options})"


def _disagree(a: _Choice | None, b: _Choice | None) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return a.key() != b.key()
