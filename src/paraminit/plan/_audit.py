"""What a plan left uncovered, and how the values a model holds compare with it.

Framework-neutral parts of every adapter's ``init`` and ``audit``: the coverage check
(one warning, or under ``strict`` an error, naming every parameter no rule covers), the
findings a plan itself shows (uncovered and tied-conflict parameters), the measured-std
test of one row's values, the row's values inside a whole host array, and the
:class:`Audit` table. An adapter adds what only it can see (shared memory in torch) and
hands each row's values over as a flat float64 NumPy array.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .._errors import InitError
from ._param import BlockPlace
from ._resolve import InitWarning, Plan, PlanRow, number_text, text_table

__all__ = ["Audit", "AuditKind", "AuditRecord", "check_covered", "measure_rows",
           "plan_findings", "row_indices", "std_check"]

AuditKind = Literal["uncovered", "initialised_twice", "std_mismatch", "tied_conflict"]


def check_covered(plan: Plan, strict: bool, *, warn: bool, fix: str) -> None:
    """One warning (or, ``strict``, an error) naming every parameter no rule covers; a dry
    run only shows them (status ``uncovered`` in the plan). ``fix`` is the adapter's way to
    describe a new layer type (``"register_describer for their layer type"``)."""
    uncovered = [row for row in plan if row.status == "uncovered"]
    if not uncovered:
        return
    shown = ", ".join(f"{row.name!r} ({row.module_type}, shape {row.shape})"
                      for row in uncovered[:5])
    more = f" and {len(uncovered) - 5} more" if len(uncovered) > 5 else ""
    message = (f"{len(uncovered)} parameter(s) are covered by no rule and no preset entry and "
               f"keep what their constructor gave them: {shown}{more}. Fix: add a Rule "
               f"selecting them (e.g. Rule({uncovered[0].name!r}, 'normal', std=0.02)), "
               f"{fix}, or protect them")
    if strict:
        raise InitError(f"strict=True: {message}. Nothing was written")
    if warn:
        warnings.warn(message, InitWarning, stacklevel=3)


@dataclass(frozen=True)
class AuditRecord:
    """One finding of an adapter's ``audit``."""

    kind: AuditKind
    name: str
    message: str
    measured: float | None = None
    target: float | None = None
    tolerance: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "message": self.message,
                "measured": self.measured, "target": self.target, "tolerance": self.tolerance}


def plan_findings(plan: Plan) -> list[AuditRecord]:
    """What the plan itself shows: parameters no rule covered (``"uncovered"``) and tied
    parameters whose rules disagree (``"tied_conflict"``, once per parameter)."""
    records: list[AuditRecord] = []
    conflicts: set[str] = set()
    for row in plan:
        if row.status == "uncovered":
            records.append(AuditRecord(
                "uncovered", row.name,
                f"{row.name!r} ({row.module_type}, shape {row.shape}) is covered by no rule and "
                "no preset entry: it keeps whatever its constructor did. Add a Rule selecting "
                "it (e.g. by its name) or protect it"))
        if row.parameter not in conflicts:
            for note in row.notes:
                if note.startswith("tied parameter"):
                    conflicts.add(row.parameter)
                    records.append(AuditRecord("tied_conflict", row.parameter, note))
    return records


def row_indices(row: PlanRow, shape: tuple[int, ...]) -> tuple[int, np.ndarray, bool]:
    """Where row ``row``'s block lies in a whole parameter of ``shape``: the block's axis,
    its indices along it (in the block's order) and whether it is one stacked index (whose
    axis the block's shape drops). A row without a block is the whole parameter."""
    place = row.place or BlockPlace(0, 0, shape[0] if shape else 1)
    return place.axis, place.indices(shape[place.axis] if shape else 1), place.stacked


def std_check(row: PlanRow, flat: np.ndarray, z: float, eps: float) -> AuditRecord | None:
    """A ``std_mismatch`` finding when the row's values ``flat`` (float64) depart from its
    law: a constant by more than 4 ulps (``eps``: the dtype's machine epsilon, 0 for exact
    dtypes), a random law when ``|s/sigma - 1| > z*sqrt(1/(2n))`` (the normal law's standard
    error of s/sigma over n elements; smaller for uniform laws, so conservative)."""
    spec, n = row.spec, flat.size
    if row.status != "init" or spec is None or n == 0:
        return None
    if spec.distribution == "constant":
        tolerance = 4 * eps * max(1.0, abs(spec.mean))
        worst = float(np.max(np.abs(flat - spec.mean)))
        if worst > tolerance:
            return AuditRecord(
                "std_mismatch", row.name,
                f"{row.name!r} should be the constant {spec.mean:g}; a value is "
                f"{worst:.3g} away", measured=worst, target=0.0, tolerance=tolerance)
        return None
    if n < 2 or spec.std <= 0:
        return None
    measured = float(np.std(flat))
    tolerance = z * math.sqrt(1.0 / (2.0 * n))
    if abs(measured / spec.std - 1.0) > tolerance:
        return AuditRecord(
            "std_mismatch", row.name,
            f"{row.name!r} has std {measured:.6g}, the plan's {spec.scheme} targets "
            f"{spec.std:.6g}: |s/sigma - 1| = {abs(measured / spec.std - 1):.3g} > "
            f"z*sqrt(1/(2n)) = {tolerance:.3g} (z = {z:g}, n = {n})",
            measured=measured, target=spec.std, tolerance=tolerance)
    return None


def measure_rows(values: Iterable[tuple[PlanRow, np.ndarray, float]], *, z: float,
                 std: bool) -> tuple[list[AuditRecord], dict[str, float]]:
    """Each row's measured std (by row name) and, with ``std``, its :func:`std_check`
    findings, from ``(row, flat float64 values, dtype eps)`` triples taken one at a time (so
    an adapter holds one row's float64 copy, not the model's)."""
    records: list[AuditRecord] = []
    measured: dict[str, float] = {}
    for row, flat, eps in values:
        if flat.size:
            measured[row.name] = float(np.std(flat))
        found = std_check(row, flat, z, eps) if std else None
        if found is not None:
            records.append(found)
    return records, measured


class Audit(list):
    """The findings of an ``audit``: a list of :class:`AuditRecord` (empty when all is well)
    that prints as a table and serialises to JSON.

    ``plan`` is the plan audited and ``measured`` each plan row's measured std of the
    values the model holds (by row name): :meth:`table` puts them beside the targets.
    """

    def __init__(self, records: Iterable[AuditRecord] = (), *, plan: Plan | None = None,
                 measured: dict[str, float] | None = None) -> None:
        super().__init__(records)
        self.plan = plan
        self.measured = dict(measured or {})

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per plan row: name, module, scheme, fans, target std and bound, the
        measured std (None where there are no values) and the status (``ok``, or the
        kinds of the row's findings)."""
        findings: dict[str, list[str]] = {}
        for record in self:
            findings.setdefault(record.name, []).append(record.kind)
        out = []
        for row in self.plan or ():
            kinds = findings.get(row.name) or findings.get(row.parameter) or []
            status = ", ".join(dict.fromkeys(kinds)) or ("ok" if row.status == "init"
                                                          else row.status)
            out.append({"name": row.name, "module": row.module_type,
                        "scheme": row.scheme_text, "fan_in": row.fan_in,
                        "fan_out": row.fan_out, "std": row.std, "bound": row.bound,
                        "measured_std": self.measured.get(row.name), "status": status})
        return out

    def table(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        """:meth:`to_records` as columns and string rows (for ``render_table``)."""
        rows = [(r["name"], r["module"], r["scheme"],
                 *map(number_text, (r["fan_in"], r["fan_out"], r["std"], r["bound"],
                                    r["measured_std"])), r["status"])
                for r in self.to_records()]
        return _AUDIT_COLUMNS, rows

    def to_json(self, *, indent: int | None = 2) -> str:
        """``{"findings": [...], "parameters": [...]}``: the records and the table's rows."""
        return json.dumps({"findings": [record.to_dict() for record in self],
                           "parameters": self.to_records()}, indent=indent)

    def __str__(self) -> str:
        head = (f"audit: {len(self)} finding(s)\n" + text_table(
            ("kind", "name", "message"), [(r.kind, r.name, r.message) for r in self])
            if self else "audit: nothing to report")
        if not self.plan:
            return head
        columns, rows = self.table()
        return f"{head}\n\n{text_table(columns, rows)}"

    __repr__ = list.__repr__


_AUDIT_COLUMNS = ("name", "module", "scheme", "fan_in", "fan_out", "std", "bound",
                  "measured", "status")
