"""Model-level initialisation for Flax: ``init(target, rules)`` and ``audit(target, plan)``.

The same planner as ``paraminit.torch.init`` (:func:`paraminit.plan.resolve_plan`) turns the
description of the model and the rules into a plan; every value is then sampled on the host
by :func:`paraminit.numpy.sample` (float32, float64 for float64 parameters, float16 for
float16 ones; bfloat16 parameters are sampled in float32 and cast once), and only when all
are computed are they written: an error at any step leaves the model unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, traverse_util
from flax.core import FrozenDict

from .. import numpy as pinp
from .._errors import InitError
from ..core import validate
from ..plan import ParamInfo, Plan, PlanRow, resolve_plan
from ..plan._audit import (
    Audit,
    AuditRecord,
    check_covered,
    measure_rows,
    plan_findings,
    row_indices,
)
from ..plan.recipes import init_arguments
from ._walk import Slot, describe_linen, describe_nnx, is_linen_tree, split_variables

__all__ = ["audit", "init"]

_FIX = "a Rule by type or name for their layer"


def _describe(target: Any, prefix: str, module: Any, inputs: Any) -> list[Slot]:
    if not isinstance(prefix, str):
        raise InitError(f"prefix must be a str such as 'encoder.'; received {prefix!r}")
    if isinstance(target, nnx.Module):
        if module is not None or inputs is not None:
            raise InitError("module= and inputs= are for Linen params trees; an NNX module "
                            "describes itself: call init(model, ...)")
        return describe_nnx(target, prefix)
    if is_linen_tree(target):
        params, _ = split_variables(target)
        return describe_linen(params, prefix, module, inputs)
    raise InitError(f"target must be a flax.nnx.Module or a Linen params tree "
                    f"(variables['params'] or the variables dict, with module= and inputs=); "
                    f"received {validate.show(target)}")


def init(
    target: Any,
    rules: Any = None,
    *,
    seed: int = 0,
    preset: Any = "he",
    dry_run: bool = False,
    protect: str | Sequence[str] = (),
    strict: bool = False,
    prefix: str = "",
    module: Any = None,
    inputs: Any = None,
) -> Any:
    """Initialise every parameter of a Flax model by rules, with correct fans per layer type.

    Args:
        target: an NNX module (``flax.nnx.Module``), written in place; or a Linen params
            tree (``variables["params"]``, or the whole ``variables`` dict), which is not
            changed: a new tree is returned.
        rules: as :func:`paraminit.torch.init`: a preset name, a recipe, or a list of
            :class:`~paraminit.plan.Rule` (or dicts); the first matching rule wins and
            parameters no rule takes fall back to ``preset``. Names and globs are the dotted
            parameter paths (``"layers.0.kernel"``, ``"Dense_0.kernel"``); type selectors
            are Flax classes (``nnx.Linear``, ``flax.linen.Conv``) or their dotted names
            (``"flax.nnx.Linear"``).
        seed: the run's seed. A parameter's values depend only on (seed, its stream name):
            the torch-style name of its path (:func:`stream_name`: ``kernel``, ``embedding``
            and ``scale`` become ``weight``), ``[block]`` appended for a gate's block.
        preset: the fallback for parameters no rule takes (default ``"he"``).
        dry_run: resolve and return the plan, change nothing.
        protect: parameter names or globs kept as they are.
        strict: parameters no rule and no preset entry covers are an :class:`InitError`
            instead of one :class:`~paraminit.plan.InitWarning` naming them.
        prefix: prepended to every parameter name (rules see it too), so that
            ``init(model.encoder, prefix="encoder.")`` gives the values ``init(model)``
            gives the encoder.
        module, inputs: for a Linen tree, the ``linen.Module`` the params belong to and the
            example inputs its ``init`` takes (a tuple for several): the layer types are
            learnt by one abstract trace (``jax.eval_shape``, no arrays computed). Without
            them, layers are typed by Flax's default names (``Dense_0``, ``Conv_1``, ...)
            and the parameters of layers named otherwise are uncovered.

    Returns:
        For an NNX module, the :class:`~paraminit.plan.Plan`. For a Linen tree, the pair
        ``(new_tree, plan)``: the tree with every initialised leaf replaced (the same
        structure as ``target``; on a dry run, ``target`` itself).

    Raises:
        InitError: bad rules, a scheme that does not fit a parameter, a parameter of a
            dtype paraminit cannot write, strict with uncovered parameters; all before the
            first write, so the model is then unchanged.

    Presets as in :func:`paraminit.torch.init` (He et al. 2015 §2.2; Glorot & Bengio 2010
    §4.2; LeCun et al. 1998 §4.6; Saxe et al. 2014 §3): kernels get the preset's scheme
    on the fans Flax's layout implies (per gate for stacked RNN kernels), recurrent
    kernels orthogonal per gate, biases 0, norm scale 1 and shift 0, embeddings N(0, 1).

    Example:
        >>> from flax import nnx
        >>> net = nnx.Sequential(nnx.Linear(64, 32, rngs=nnx.Rngs(0)), nnx.relu,
        ...                      nnx.Linear(32, 10, rngs=nnx.Rngs(0)))
        >>> plan = init(net, seed=0)
        >>> round(plan["layers.0.kernel"].std, 4)     # he_normal: sqrt(2 / 64)
        0.1768
    """
    seed, rule_list, preset, patterns = init_arguments(seed, rules, preset, protect)
    slots = _describe(target, prefix, module, inputs)
    types = {slot.name: slot.layer_type for slot in slots}

    def is_instance(info: ParamInfo, cls: type) -> bool:
        found = types.get(info.name)
        return found is not None and issubclass(found, cls)

    plan = resolve_plan([slot.info for slot in slots], rule_list, preset, seed=seed,
                        protect=patterns, prefix=prefix, is_instance=is_instance)
    check_covered(plan, validate.boolean("strict", strict), warn=not dry_run, fix=_FIX)
    linen = not isinstance(target, nnx.Module)
    if validate.boolean("dry_run", dry_run):
        return (target, plan) if linen else plan
    tree = traverse_util.flatten_dict(dict(split_variables(target)[0])) if linen else None
    values = _sample(plan, slots, seed, tree)
    plan.applied = True
    if linen:
        return _replaced(target, slots, values), plan
    for slot in slots:
        if slot.name in values:
            slot.param.set_value(values[slot.name])
    return plan


def _rows_by_parameter(plan: Plan) -> dict[str, list[PlanRow]]:
    rows: dict[str, list[PlanRow]] = {}
    for row in plan:
        if row.status == "init":
            rows.setdefault(row.parameter, []).append(row)
    return rows


def _working_dtype(slot: Slot) -> str:
    """The dtype values are sampled in: the parameter's own for float16/32/64, float32 for
    bfloat16 (cast once afterwards)."""
    dtype = jnp.dtype(slot.dtype)
    if dtype.name in ("float16", "float32", "float64"):
        return dtype.name
    if dtype == jnp.bfloat16:
        return "float32"
    raise InitError(f"parameter {slot.name!r} ({slot.info.module_type}) has dtype {dtype}; "
                    "paraminit.flax.init writes float16, bfloat16, float32 and float64 "
                    "parameters. Protect it, or make it a float parameter. Nothing was written")


def _sample(plan: Plan, slots: list[Slot], seed: int,
            tree: Mapping[tuple[str, ...], Any] | None) -> dict[str, jax.Array]:
    """Every initialised parameter's new array, on the sharding of the current one (the
    model is not touched; ``tree``: a Linen tree's leaves by key path)."""
    by_parameter = _rows_by_parameter(plan)
    values: dict[str, jax.Array] = {}
    for slot in slots:
        rows = by_parameter.get(slot.name)
        if not rows:
            continue
        work = _working_dtype(slot)
        matrix = np.empty(slot.info.shape, dtype=work)
        for row in rows:
            assert row.spec is not None
            try:
                block = pinp.sample(row.spec, seed=seed, name=row.stream, dtype=work)
            except InitError as error:
                raise InitError(f"{row.name!r} ({slot.info.module_type}): {error}. "
                                "Nothing was written") from None
            _put(matrix, row, block)
        new = jnp.asarray(matrix.reshape(slot.shape)).astype(slot.dtype)
        sharding = getattr(_current(slot, tree), "sharding", None)
        values[slot.name] = jax.device_put(new, sharding) if sharding is not None else new
    return values


def _put(matrix: np.ndarray, row: PlanRow, block: np.ndarray) -> None:
    """A row's values into their place in the parameter's (view) array."""
    if row.place is None:
        matrix[...] = block
        return
    axis, indices, stacked = row_indices(row, matrix.shape)
    index: list[Any] = [slice(None)] * matrix.ndim
    index[axis] = int(indices[0]) if stacked else indices
    matrix[tuple(index)] = block


def _take(matrix: np.ndarray, row: PlanRow) -> np.ndarray:
    """A row's values out of the parameter's (view) array."""
    if row.place is None:
        return matrix
    axis, indices, stacked = row_indices(row, matrix.shape)
    index: list[Any] = [slice(None)] * matrix.ndim
    index[axis] = int(indices[0]) if stacked else indices
    return matrix[tuple(index)]


def _current(slot: Slot, tree: Mapping[tuple[str, ...], Any] | None = None) -> Any:
    if slot.param is not None:
        return slot.param.get_value()
    return tree[slot.key] if tree is not None else None


def _replaced(target: Mapping[str, Any], slots: list[Slot],
              values: dict[str, jax.Array]) -> Any:
    """``target`` with the initialised leaves replaced (same structure, FrozenDict kept)."""
    params, whole = split_variables(target)
    flat = traverse_util.flatten_dict(dict(params))
    for slot in slots:
        if slot.name in values:
            flat[slot.key] = values[slot.name]
    new: Any = traverse_util.unflatten_dict(flat)
    if isinstance(params, FrozenDict):
        new = FrozenDict(new)
    if not whole:
        return new
    out = {**target, "params": new}
    return FrozenDict(out) if isinstance(target, FrozenDict) else out


def audit(target: Any, plan: Plan | None = None, *, z: float = 5.0, std: bool = True,
          module: Any = None, inputs: Any = None) -> Audit:
    """What an initialisation of a Flax model left wrong or unexplained.

    ``target`` is what :func:`init` took (an NNX module, or a Linen tree — the one init
    returned — with the same ``module``/``inputs``). Reports parameters no rule covered
    (``"uncovered"``), tied parameters whose rules disagree (``"tied_conflict"``) and, with
    ``std=True``, rows whose measured std ``s`` departs from the target ``σ`` beyond sampling
    error, ``|s/σ − 1| > z·sqrt(1/(2n))`` (the same test as
    :func:`paraminit.torch.audit`; z = 5 by default). ``plan`` defaults to
    ``init(target, dry_run=True)``: the default preset's plan.
    """
    z = validate.real("z", z, positive=True)
    validate.boolean("std", std)
    if plan is not None and not isinstance(plan, Plan):
        raise InitError(f"plan must be a Plan from paraminit.flax.init (or None for the "
                        f"default preset's); received {validate.show(plan)}")
    slots = _describe(target, plan.prefix if plan is not None else "", module, inputs)
    if plan is None:
        found = init(target, dry_run=True, module=module, inputs=inputs)
        plan = found[1] if isinstance(found, tuple) else found
    records = plan_findings(plan)
    planned = {row.parameter for row in plan}
    for slot in slots:
        if slot.name not in planned:
            records.append(AuditRecord("uncovered", slot.name,
                                       f"{slot.name!r} is not in the plan"))
    tree = None
    if not isinstance(target, nnx.Module):
        tree = traverse_util.flatten_dict(dict(split_variables(target)[0]))
    measured_records, measured = measure_rows(_values_by_row(plan, slots, tree), z=z, std=std)
    return Audit(records + measured_records, plan=plan, measured=measured)


def _values_by_row(plan: Plan, slots: list[Slot], tree: Mapping[tuple[str, ...], Any] | None
                   ) -> Iterator[tuple[PlanRow, np.ndarray, float]]:
    """Each plan row, the values the model holds for it (flat float64) and its dtype's eps."""
    by_name = {slot.name: slot for slot in slots}
    for row in plan:
        slot = by_name.get(row.parameter)
        if slot is None:
            continue
        array = np.asarray(_current(slot, tree)).astype(np.float64)  # one row at a time
        values = _take(array.reshape(slot.info.shape), row).reshape(-1)
        dtype = jnp.dtype(slot.dtype)
        eps = float(jnp.finfo(dtype).eps) if jnp.issubdtype(dtype, jnp.floating) else 0.0
        yield row, values, eps
