"""Terminal output: tables (rich on a terminal, aligned plain text elsewhere), the
comparison table, and progress for ``paraminit compare``. Nothing here computes results."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from ._format import COLUMN_NOTE, SUMMARY_COLUMNS, summary_rows

__all__ = ["CompareProgress", "render_compare", "render_table"]

_VERDICT_STYLE = {"trains": "bold green", "stalls": "yellow", "diverges": "bold red",
                  "symmetric": "magenta"}


def render_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    stream: TextIO | None = None,
    styles: Sequence[str | None] | None = None,
    no_wrap: Sequence[int] | None = None,
) -> None:
    """Print a table with a title: a rich table on a terminal, aligned plain text elsewhere.

    Plain text keeps pipes and log files readable (no box characters, no colour codes).
    ``styles`` gives a rich style per row (ignored in plain text); ``no_wrap`` the columns
    a narrow terminal must not wrap (default: the first and the last).
    """
    stream = stream or sys.stdout
    cells = [[str(c) for c in row] for row in rows]
    if stream.isatty():
        try:
            from rich.console import Console
            from rich.markup import escape
            from rich.table import Table
        except ImportError:  # rich is an optional extra
            pass
        else:
            # every string may be user input (a module named "[/]"): shown, never markup
            table = Table(title=escape(title), show_lines=False)
            keep = (0, len(columns) - 1) if no_wrap is None else tuple(no_wrap)
            for i, column in enumerate(columns):
                table.add_column(escape(column), overflow="fold", no_wrap=i in keep)
            for i, row in enumerate(cells):
                table.add_row(*map(escape, row), style=styles[i] if styles else None)
            Console(file=stream).print(table)
            return
    widths = [max(len(str(c)), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print(title, file=stream)
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(), file=stream)
    print("  ".join("-" * w for w in widths), file=stream)
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=stream)


def render_compare(document: Mapping[str, Any], *, stream: TextIO | None = None) -> None:
    """The comparison table of a ``compare`` results document, then the verdict rules.

    One row per method: activation std of the last layer and the gradient-norm ratio
    ‖∂L/∂W‖ last/first layer at init, final train loss, train and test accuracy (mean ± sd
    over the seeds) and the verdict (majority over seeds).
    """
    stream = stream or sys.stdout
    settings, data = document["settings"], document["dataset"]
    seeds = ", ".join(str(s) for s in settings["seeds"])
    title = (f"paraminit compare: {settings['arch']} depth {settings['depth']} x width "
             f"{settings['width']}, {settings['activation']}, {data['name']} "
             f"({data['n_train']} train / {data['n_test']} test), {settings['optimizer']} "
             f"lr {settings['lr']:g}, {settings['steps']} steps, seeds {seeds}")
    summary = document["summary"]
    styles = [_VERDICT_STYLE.get(row["verdict"]) for row in summary]
    render_table(title, SUMMARY_COLUMNS, summary_rows(summary), stream=stream, styles=styles)
    print(f"{COLUMN_NOTE}. Chance (majority class) = {data['chance_accuracy']:.1%}.",
          file=stream)
    print("Verdict of a run, the first rule that holds:", file=stream)
    for rule in document["verdict_rules"]:
        print(f"  {rule['verdict']}: {rule['rule']}", file=stream)


def _run_name(event: Mapping[str, Any]) -> str:
    """"method seed S", and the grid cell (e.g. "depth 60") when the run is part of one."""
    where = f" ({event['where']})" if "where" in event else ""
    return f"{event['method']} seed {event['seed']}{where}"


def _markup_free(text: object) -> str:
    """``text`` for a rich progress column (which reads markup), shown literally."""
    from rich.markup import escape

    return escape(str(text))


class CompareProgress:
    """Progress of ``paraminit compare`` on ``stream`` (stderr by default).

    A rich progress bar (all runs, and each running (method, seed)) when the stream is a
    terminal; otherwise one plain line per finished run when ``plain`` is True, else
    nothing. Use as a context manager and pass the instance as ``progress=``. Besides the
    run events of :func:`paraminit.experiments.compare` it draws ``{"event": "measure",
    "task", "done", "total"}`` (the benchmarks' measurements at init) as a bar of its own.
    """

    def __init__(self, *, stream: TextIO | None = None, plain: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.plain = plain
        self._progress: Any = None
        self._overall: Any = None
        self._tasks: dict[int | str, Any] = {}

    def __enter__(self) -> CompareProgress:
        if self.stream.isatty():
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                )
            except ImportError:  # rich is an optional extra
                return self
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                console=Console(file=self.stream), transient=True)
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, event: Mapping[str, Any]) -> None:
        kind = event["event"]
        if self._progress is None:
            if kind == "run_end" and self.plain:
                record = event["record"]
                print(f"[{event['run']}/{event['runs']}] {_run_name(event)}: "
                      f"{record['verdict']}, train acc {record['train_accuracy']:.1%}, test acc "
                      f"{record['test_accuracy']:.1%} ({record['seconds']:.1f} s)",
                      file=self.stream, flush=True)
            return
        bars = self._progress
        if kind == "measure":  # a measurement that trains nothing: its own bar
            key = f"measure:{event['task']}"
            if key not in self._tasks:
                self._tasks[key] = bars.add_task(_markup_free(event["task"]),
                                                 total=event["total"], info="")
            bars.update(self._tasks[key], completed=event["done"])
            if event["done"] >= event["total"]:
                bars.remove_task(self._tasks.pop(key))
            return
        if self._overall is None:
            self._overall = bars.add_task("all runs", total=event["runs"], info="")
        run = event["run"]
        if kind == "run_start":
            self._tasks[run] = bars.add_task(_markup_free(_run_name(event)),
                                             total=event["steps"], info="")
        elif kind == "step" and run in self._tasks:
            bars.update(self._tasks[run], completed=event["step"],
                        info=f"loss {event['loss']:.3f}")
        elif kind == "run_end":
            if run in self._tasks:
                bars.remove_task(self._tasks.pop(run))
            record = event["record"]
            bars.update(self._overall, advance=1,
                        info=_markup_free(f"last: {event['method']} {record['verdict']}"))
