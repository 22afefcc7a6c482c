"""Model-level initialisation: ``init(model, rules)`` and ``audit(model, plan)``.

The whole plan is resolved first (every spec on every parameter or block), then every value
is sampled into new tensors, and only then copied into the model (or, for meta parameters,
put in place of them): an error at any step leaves the model untouched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _NormBase

from .._errors import InitError
from ..core import validate
from ..core.engines import ELEMENTWISE, Box
from ..plan import BlockPlace, ParamInfo, Plan, PlanRow, resolve_plan
from ..plan._audit import Audit, AuditRecord, check_covered, measure_rows, plan_findings
from ..plan.recipes import init_arguments
from ._describe import Binding, describe, modules_by_name
from ._sharded import local_box, local_tensor, materialise
from ._write import write_spec

__all__ = ["Audit", "AuditRecord", "audit", "init"]

# BatchNorm/InstanceNorm running statistics: the values reset_running_stats() gives.
_NORM_BUFFERS = {"running_mean": 0.0, "running_var": 1.0, "num_batches_tracked": 0}


def init(
    model: nn.Module,
    rules: Any = None,
    *,
    seed: int = 0,
    prefix: str = "",
    dry_run: bool = False,
    protect: str | Sequence[str] = (),
    preset: Any = "he",
    device: torch.device | str | None = None,
    strict: bool = False,
) -> Plan:
    """Initialise every parameter of ``model`` by rules, with correct fans per module type.

    Args:
        model: any ``nn.Module``; parameters on the meta device are materialised.
        rules: a preset name (``"he"``, ``"xavier"``, ``"lecun"``, ``"orthogonal"``,
            ``"msra"``, ``"torch_default"``), a recipe (a function from parameter
            descriptions to rules, e.g. ``paraminit.torch.recipes.gpt2()``), or a list of
            :class:`~paraminit.torch.Rule` (or dicts ``{"select", "scheme", "options"}``);
            the first matching rule wins, and parameters no rule takes fall back to
            ``preset``.
        seed: the run's seed. A parameter's values depend only on (seed, its qualified
            name): the stream is ``Stream(seed, prefix + name)``, ``name + "[block]"`` for a
            block of a gate-stacked weight (``"lstm.weight_hh_l0[f]"``).
        prefix: prepended to every qualified name (rules' globs see it too), so that
            ``init(model.encoder, prefix="encoder.")`` gives the values ``init(model)`` gives
            the encoder.
        dry_run: resolve and return the plan, change nothing.
        protect: parameter names or globs kept as they are (tied copies' names count).
        preset: the fallback for parameters no rule takes (default ``"he"``): a preset
            name or a recipe, so ``init(model, [my_rules], preset=recipes.gpt2())`` puts
            the user's rules before the recipe's.
        device: where meta parameters (and BatchNorm statistics) are materialised;
            parameters already on a device stay there.
        strict: parameters no rule and no preset entry covers (a custom layer's raw
            ``nn.Parameter``) are an :class:`InitError` instead of one
            :class:`~paraminit.torch.InitWarning` naming them (a dry run only marks them
            ``uncovered`` in the plan, unless strict).

    Returns:
        The :class:`~paraminit.torch.Plan`: one row per parameter or block with the rule,
        scheme, fans and target std/bound.

    Raises:
        InitError: a scheme that does not fit a parameter (``dirac`` on a Linear weight),
            bad rules, meta parameters without ``device`` or without a rule, a parameter
            that cannot be written in place (``expand``-ed, an inference tensor), a
            protected parameter sharing memory with one to be written; all are checked
            before the first write, so the model is then unchanged.

    Presets (He et al. 2015 §2.2; Glorot & Bengio 2010 §4.2; LeCun et al. 1998 §4.6;
    Saxe et al. 2014 §3): weights of Linear/Conv/ConvTranspose/Bilinear/MHA/RNN input
    projections get ``he_normal``, ``xavier_uniform``, ``lecun_normal``, ``orthogonal`` or
    ``msra`` on each block's own fans; RNN recurrent weights orthogonal per gate; biases 0;
    norm scale 1, shift 0; embeddings N(0, 1) (the padding row 0). ``"torch_default"``
    draws the laws torch's ``reset_parameters`` uses (values from paraminit's stream).

    Example:
        >>> import paraminit.torch as pit
        >>> net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        >>> plan = pit.init(net, [pit.Rule("2.weight", "xavier_uniform")], seed=0)
        >>> round(plan["0.weight"].std, 4)     # he_normal: sqrt(2 / 64)
        0.1768
    """
    seed, rule_list, preset, patterns = init_arguments(seed, rules, preset, protect)
    slots = describe(model, prefix)
    modules = modules_by_name(slots)

    def is_instance(info: ParamInfo, cls: type) -> bool:
        return isinstance(modules[info.name], cls)

    plan = resolve_plan([slot.info for slot in slots], rule_list, preset, seed=seed,
                        protect=patterns, prefix=prefix, is_instance=is_instance)
    target = torch.device(device) if device is not None else None
    check_covered(plan, validate.boolean("strict", strict), warn=not dry_run,
                  fix="register_describer for their layer type")
    _check_meta(plan, slots, target)
    buffers = _meta_buffers(model, prefix, target)
    if dry_run:
        return plan
    _check_protected_memory(plan, slots)
    _check_writable(plan, slots)
    values = _sample(plan, slots, seed, target)
    _apply(slots, values)
    for module, name, tensor in buffers:
        setattr(module, name, tensor)
    plan.applied = True
    return plan


def _check_meta(plan: Plan, slots: list[Binding], device: torch.device | None) -> None:
    status = {row.parameter: row.status for row in plan}
    for slot in slots:
        if not slot.param.is_meta:
            continue
        if device is None or device.type == "meta":
            raise InitError(
                f"parameter {slot.name!r} is on the meta device: pass device= (e.g. "
                "init(model, device='cpu')) to materialise it"
            )
        if status[slot.name] != "init":
            raise InitError(
                f"parameter {slot.name!r} ({slot.info.module_type}) is on the meta device and "
                f"{status[slot.name]}: it has no values to keep. Add a Rule for it (e.g. "
                f"Rule({slot.name!r}, 'normal', std=0.02)) or construct its module on a device"
            )


def _targets(plan: Plan, slots: list[Binding]) -> list[Binding]:
    initialised = {row.parameter for row in plan if row.status == "init"}
    return [slot for slot in slots if slot.name in initialised]


def _check_writable(plan: Plan, slots: list[Binding]) -> None:
    """Every parameter to be written takes an in-place copy: checked before the first write,
    so a failure leaves the whole model untouched."""
    for slot in _targets(plan, slots):
        param = local_tensor(slot.param)
        if param.is_meta:
            continue  # replaced, not written
        problem = None
        if param.is_inference():
            problem = ("it was created under torch.inference_mode(), and inference tensors "
                       "cannot be updated in place outside it. Build the model outside "
                       "inference_mode, or, outside it, give the parameter a normal copy: "
                       "module.weight = nn.Parameter(module.weight.clone())")
        elif _overlaps_itself(param):
            problem = (f"its elements share memory (strides {tuple(param.stride())} for shape "
                       f"{tuple(param.shape)}, e.g. from expand()), so one value cannot be "
                       "written per element. Give it its own memory: "
                       "module.weight = nn.Parameter(weight.clone())")
        if problem is not None:
            raise InitError(f"parameter {slot.name!r} ({slot.info.module_type}) cannot be written: "
                            f"{problem}. Nothing was written")


def _overlaps_itself(tensor: torch.Tensor) -> bool:
    """Whether two elements of ``tensor`` are one memory location: a stride-0 dim of size
    > 1 (``expand``), or what torch's own internal-overlap test (the one ``copy_`` runs)
    answers YES for."""
    if any(stride == 0 and size > 1 for size, stride in zip(tensor.shape, tensor.stride(),
                                                              strict=True)):
        return True
    return torch._debug_has_internal_overlap(tensor) == 1


def _memory_span(tensor: torch.Tensor) -> tuple[int, int]:
    """[first, last + 1) byte addresses ``tensor``'s elements occupy (strides are >= 0)."""
    start = tensor.data_ptr()
    extent = sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride(),
                                                               strict=True))
    return start, start + (extent + 1) * tensor.element_size()


def _real_memory(tensor: torch.Tensor) -> bool:
    return not tensor.is_meta and tensor.numel() > 0


def _check_protected_memory(plan: Plan, slots: list[Binding]) -> None:
    """A protected parameter sharing memory with one to be initialised would be overwritten
    through that memory: refuse the contradiction rather than break the protection."""
    protected = {row.parameter for row in plan if row.status == "protected"}
    if not protected:
        return
    keep = [(slot, _memory_span(local_tensor(slot.param))) for slot in slots
            if slot.name in protected and _real_memory(local_tensor(slot.param))]
    for slot in _targets(plan, slots):
        if not _real_memory(local_tensor(slot.param)):
            continue
        start, stop = _memory_span(local_tensor(slot.param))
        for kept, (kept_start, kept_stop) in keep:
            same_device = kept.param.device == slot.param.device
            if same_device and start < kept_stop and kept_start < stop:
                raise InitError(
                    f"parameter {kept.name!r} is protected but shares memory with "
                    f"{slot.name!r}, which this init writes: the write would change it too. "
                    f"Protect {slot.name!r} as well, tie them as one nn.Parameter, or give "
                    f"{kept.name!r} its own memory (nn.Parameter(p.clone())). Nothing was "
                    "written")


def _meta_buffers(model: nn.Module, prefix: str,
                  device: torch.device | None) -> list[tuple[nn.Module, str, torch.Tensor]]:
    """New tensors for meta buffers; only BatchNorm statistics have known values."""
    out = []
    for module_name, module in model.named_modules():
        for name, buffer in module._buffers.items():
            if buffer is None or not buffer.is_meta:
                continue
            qualified = prefix + (f"{module_name}.{name}" if module_name else name)
            if device is None or device.type == "meta":
                raise InitError(f"buffer {qualified!r} is on the meta device: pass device= "
                                "(e.g. init(model, device='cpu')) to materialise it")
            if not (isinstance(module, _NormBase) and name in _NORM_BUFFERS):
                raise InitError(
                    f"buffer {qualified!r} of {type(module).__name__} is on the meta device and "
                    "its value is unknown to paraminit: construct that module on a real device "
                    "(with torch.device('cpu'): ...) or register the buffer after init()"
                )
            out.append((module, name, torch.full(buffer.shape, _NORM_BUFFERS[name],
                                                 dtype=buffer.dtype, device=device)))
    return out


def _sample(plan: Plan, slots: list[Binding], seed: int,
            device: torch.device | None) -> dict[str, torch.Tensor]:
    """Every initialised parameter's values, in new tensors (the model is not touched).

    For a DTensor the new tensor is this rank's local part, holding the values of its box of
    the global tensor (:mod:`paraminit.torch._sharded`).
    """
    by_parameter: dict[str, list[PlanRow]] = {}
    for row in plan:
        if row.status == "init":
            by_parameter.setdefault(row.parameter, []).append(row)
    values: dict[str, torch.Tensor] = {}
    for slot in slots:
        rows = by_parameter.get(slot.name)
        if not rows:
            continue
        param = slot.param
        box = local_box(slot.name, param, device)
        where = device if param.is_meta else local_tensor(param).device
        tensor = torch.empty(box.box_shape, dtype=param.dtype, device=where)
        for row in rows:
            try:
                _write_row(tensor, box, row, seed)
            except InitError as error:
                raise InitError(f"{row.name!r} ({slot.info.module_type}): {error}") from None
        padding = slot.info.padding_idx
        if padding is not None and box.starts[0] <= padding < box.stops[0]:
            tensor[padding - box.starts[0]].zero_()
        values[slot.name] = tensor
    return values


@dataclass(frozen=True)
class _Here:
    """The part of a row's block this rank holds: ``local``, its indices along ``axis`` of the
    rank's tensor (in the block's order), and ``part``, that part in the block's coordinates."""

    axis: int
    local: np.ndarray
    part: Box
    stacked: bool

    @property
    def run(self) -> int | None:
        """The first index when ``local`` is one contiguous run (a narrow view writes it)."""
        local = self.local
        if self.stacked:
            return None
        if not local.size:
            return 0
        first = int(local[0])
        return first if int(local[-1]) - first + 1 == local.size else None


def _block_here(row: PlanRow, box: Box) -> _Here | None:
    """Where this rank (``box``, its part of a parameter of at least one dimension) holds
    the row's block; None when it holds none of it. The block's indices along its axis
    increase in the block's order, so a rank's contiguous range holds a contiguous part."""
    place = row.place or BlockPlace(0, 0, box.shape[0])
    axis = place.axis
    indices = place.indices(box.shape[axis])
    hit = np.flatnonzero((indices >= box.starts[axis]) & (indices < box.stops[axis]))
    if not hit.size and indices.size:
        return None
    local = indices[hit] - box.starts[axis]
    others = [d for d in range(len(box.shape)) if d != axis]
    if place.stacked:
        starts = tuple(box.starts[d] for d in others)
        stops = tuple(box.stops[d] for d in others)
    else:
        first, stop = (int(hit[0]), int(hit[-1]) + 1) if hit.size else (0, 0)
        starts = (*box.starts[:axis], first, *box.starts[axis + 1:])
        stops = (*box.stops[:axis], stop, *box.stops[axis + 1:])
    return _Here(axis, local, Box(tuple(row.shape), starts, stops), place.stacked)


def _write_row(tensor: torch.Tensor, box: Box, row: PlanRow, seed: int) -> None:
    """Row ``row``'s values for the part of ``box`` (this rank's) inside the row's block."""
    spec = row.spec
    assert spec is not None
    here = None
    if tensor.ndim:
        here = _block_here(row, box)
        if here is None:
            return  # none of this block is on this rank
        run = here.run
        view = (tensor.narrow(here.axis, run, here.local.size) if run is not None else
                torch.empty(here.part.box_shape, dtype=tensor.dtype, device=tensor.device))
        part = here.part
    else:
        view, part, run = tensor, Box.whole(()), 0
    whole = part == Box.whole(spec.shape)
    if whole or (spec.distribution in ELEMENTWISE and view.dtype.is_floating_point):
        write_spec(view, spec, seed=seed, name=row.stream, function="paraminit.torch.init",
                   box=None if whole else part)
    else:
        # A structured law (or exact integers) is computed whole, and this rank keeps its part.
        full = torch.empty(spec.shape, dtype=view.dtype, device=view.device)
        write_spec(full, spec, seed=seed, name=row.stream, function="paraminit.torch.init")
        view.copy_(full[tuple(slice(a, b) for a, b in zip(part.starts, part.stops, strict=True))])
    if run is None:  # interleaved or stacked: scattered into place along the block's axis
        assert here is not None
        values = view.unsqueeze(here.axis) if here.stacked else view
        tensor.index_copy_(here.axis, torch.as_tensor(here.local, device=tensor.device), values)


def _apply(slots: list[Binding], values: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for slot in slots:
            tensor = values.get(slot.name)
            if tensor is None:
                continue
            if slot.param.is_meta:
                new = materialise(slot.param, tensor)
                for module, local in slot.owners:  # tied copies stay one parameter
                    setattr(module, local, new)
            else:
                local_tensor(slot.param).copy_(tensor)


# ---------------------------------------------------------------------------------------
# audit

def audit(model: nn.Module, plan: Plan | None = None, *, z: float = 5.0,
          std: bool = True) -> Audit:
    """What an initialisation of ``model`` left wrong or unexplained.

    Reports parameters no rule covered (``"uncovered"``: custom modules' raw
    ``nn.Parameter``s, unless a rule selects them), distinct parameters sharing memory, so
    that initialising one overwrites the other (``"initialised_twice"``), tied parameters
    whose rules disagree (``"tied_conflict"``), and — with ``std=True`` — parameters or
    blocks whose measured std ``s`` departs from the plan's target ``σ`` beyond sampling
    error: ``|s/σ − 1| > z·sqrt(1/(2n))`` over the n elements (the normal law's standard
    error of s/σ; smaller for uniform laws, so the test is conservative), z = 5 by default
    (a false alarm per parameter with probability ≈ 6e-7). Constants must match exactly
    (to a few ulps of the dtype).

    ``plan`` defaults to ``init(model, dry_run=True)``: the default preset's plan.
    """
    z = validate.real("z", z, positive=True)
    validate.boolean("std", std)
    if plan is not None and not isinstance(plan, Plan):
        raise InitError(f"plan must be a Plan from paraminit.torch.init (or None for the "
                        f"default preset's); received {validate.show(plan)}")
    if plan is None:
        plan = init(model, dry_run=True)
    records = plan_findings(plan)
    current = {slot.name: slot for slot in describe(model, plan.prefix)}
    planned = {row.parameter for row in plan}
    for name, slot in current.items():
        if name not in planned and not _any_alias_planned(slot, planned):
            records.append(AuditRecord("uncovered", name, f"{name!r} is not in the plan"))
    records += _shared_memory(list(current.values()))
    found, measured = measure_rows(((row, flat, _eps(slot.param)) for row, slot, flat
                                    in _values_by_row(plan, current)), z=z, std=std)
    return Audit(records + found, plan=plan, measured=measured)


def _any_alias_planned(slot: Binding, planned: set[str]) -> bool:
    return any(name in planned for name in slot.info.names[1:])


def _shared_memory(slots: list[Binding]) -> list[AuditRecord]:
    spans = []
    for slot in slots:
        p = local_tensor(slot.param)
        if p.is_meta or p.numel() == 0:
            continue
        start = p.data_ptr()
        spans.append((start, start + p.numel() * p.element_size(), slot.name))
    spans.sort()
    records = []
    for (_, end_a, name_a), (start_b, _, name_b) in pairwise(spans):
        if start_b < end_a:
            records.append(AuditRecord(
                "initialised_twice", name_b,
                f"{name_b!r} and {name_a!r} are distinct parameters sharing memory: "
                "initialising one overwrites the other. Tie them as one nn.Parameter "
                "(b.weight = a.weight) so it is initialised once"))
    return records


def _row_values(slot: Binding, row: PlanRow) -> np.ndarray:
    """The row's values this rank holds (all of them for a plain tensor), flat, in float64,
    without an embedding's padding row."""
    box = local_box(slot.name, slot.param, None)
    values = local_tensor(slot.param).detach()
    padding = slot.info.padding_idx
    if box.shape:
        here = _block_here(row, box)
        local = here.local if here is not None else np.zeros(0, dtype=np.int64)
        if padding is not None and (here is None or here.axis == 0):
            local = local[local + box.starts[0] != padding]
        axis = here.axis if here is not None else 0
        values = values.index_select(axis, torch.as_tensor(local, device=values.device))
    return values.to(torch.float64).cpu().numpy().reshape(-1)


def _values_by_row(plan: Plan, current: dict[str, Binding]
                   ) -> Iterator[tuple[PlanRow, Binding, np.ndarray]]:
    """Each plan row, its parameter and the values the model holds for it, row by row
    (meta parameters hold none)."""
    for row in plan:
        slot = current.get(row.parameter)
        if slot is not None and not slot.param.is_meta:
            yield row, slot, _row_values(slot, row)


def _eps(param: torch.Tensor) -> float:
    """The machine epsilon of a floating parameter's dtype (0: exact dtypes)."""
    return float(torch.finfo(param.dtype).eps) if param.is_floating_point() else 0.0
