"""Terminal output: tables (rich on a terminal, aligned plain text elsewhere), the
comparison table, and progress for ``paraminit compare``. Nothing here computes results."""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from ._format import COLUMN_NOTE, SUMMARY_COLUMNS, summary_rows

__all__ = ["CompareProgress", "PLAIN_WIDTH", "render_compare", "render_table"]

_VERDICT_STYLE = {"trains": "bold green", "stalls": "yellow", "diverges": "bold red",
                  "symmetric": "magenta"}


PLAIN_WIDTH = 100
"""Width of plain (piped) tables: a pipe has no width, and 100 columns read well in a log,
``less`` or an editor. Long cells wrap in their column; a table whose longest words do
not fit side by side becomes one block per row."""


def render_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    stream: TextIO | None = None,
    styles: Sequence[str | None] | None = None,
    no_wrap: Sequence[int] = (0,),
) -> None:
    """Print a table with a title, never wider than the terminal (or :data:`PLAIN_WIDTH`
    when piped), never cutting a word: the names a user types stay whole.

    On a terminal it is a rich table whose long cells wrap at spaces; piped, plain aligned
    columns (no box characters, no colour codes). When the columns do not fit even with
    each cell wrapped down to its longest word, each row becomes a block instead: the
    first cell on a line of its own, then ``column: value`` lines wrapped to the width.
    ``styles`` gives a rich style per row (ignored in plain text); ``no_wrap`` the columns
    kept on one line (default: the first, which names the row).
    """
    stream = stream or sys.stdout
    cells = [[str(c) for c in row] for row in rows]
    if stream.isatty():
        try:
            from rich.console import Console
        except ImportError:  # rich is an optional extra
            pass
        else:
            _rich_table(Console(file=stream), title, columns, cells, styles, no_wrap)
            return
    width = _width(stream)
    widths = _fit(_natural_widths(columns, cells), _minimum_widths(columns, cells, no_wrap),
                  width - 2 * (len(columns) - 1))  # two spaces between columns
    lines = (_blocks(title, columns, cells, width) if widths is None
             else _plain_columns(title, columns, cells, widths, width))
    print("\n".join(lines), file=stream)


def _width(stream: TextIO) -> int:
    """The width to fill on ``stream``: the terminal's (as rich sees it), else PLAIN_WIDTH."""
    if not stream.isatty():
        return PLAIN_WIDTH
    try:
        from rich.console import Console
    except ImportError:  # rich is an optional extra
        return shutil.get_terminal_size((PLAIN_WIDTH, 24)).columns
    return int(Console(file=stream).width)


def _natural_widths(columns: Sequence[str], cells: Sequence[Sequence[str]]) -> list[int]:
    """Each column's width with no cell wrapped: its longest cell or header."""
    return [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]


def _longest_words(columns: Sequence[str], cells: Sequence[Sequence[str]]) -> list[int]:
    """Each column's narrowest width that wraps no word inside: its longest word."""
    return [max(len(w) for text in (c, *(r[i] for r in cells)) for w in [*text.split(), ""])
            for i, c in enumerate(columns)]


def _minimum_widths(columns: Sequence[str], cells: Sequence[Sequence[str]],
                    no_wrap: Sequence[int]) -> list[int]:
    """The narrowest width of each column: its longest cell in a ``no_wrap`` column, else
    its longest word (cells wrap only at spaces; headers, at spaces in every column)."""
    words = _longest_words(columns, cells)
    return [max(words[i], *(len(r[i]) for r in cells)) if i in no_wrap else words[i]
            for i in range(len(columns))]


def _plain_columns(title: str, columns: Sequence[str], cells: Sequence[Sequence[str]],
                   widths: Sequence[int], width: int) -> list[str]:
    """Aligned columns of the given widths, two spaces apart, under a header and a rule;
    a cell wider than its column wraps at spaces onto lines of its own, and then a blank
    line separates the rows."""
    def wrapped(row: Sequence[str]) -> list[str]:
        parts = [textwrap.wrap(c, w, break_long_words=False, break_on_hyphens=False) or [""]
                 for c, w in zip(row, widths, strict=True)]
        height = max(map(len, parts))
        return ["  ".join(p[k].ljust(w) if k < len(p) else " " * w
                          for p, w in zip(parts, widths, strict=True)).rstrip()
                for k in range(height)]

    body = [wrapped(row) for row in cells]
    gap = [""] if any(len(lines) > 1 for lines in body) else []
    lines = [_shorten(title, width), *wrapped(columns),
             "  ".join("-" * w for w in widths)]
    for i, row_lines in enumerate(body):
        lines += (gap if i else []) + row_lines
    return lines


def _fit(natural: Sequence[int], minimum: Sequence[int], available: int) -> list[int] | None:
    """Column widths from ``minimum`` up to ``natural`` that sum to at most ``available``,
    or None when even the minimums do not fit.

    A column no wider than an even share of the space is not wrapped at all (a short
    citation beside a long claim keeps its one line); the space left goes, one character
    at a time, to the column whose longest cell would wrap into the most lines.
    """
    if sum(minimum) > available:
        return None
    widths = [max(1, m) for m in minimum]
    open_ = set(range(len(widths)))
    while open_:
        share = (available - sum(w for i, w in enumerate(widths) if i not in open_)) / len(open_)
        short = {i for i in open_ if natural[i] <= share}
        if not short:
            break
        grown = [max(w, natural[i]) if i in short else w for i, w in enumerate(widths)]
        if sum(grown) > available:  # the wider columns' longest words need the room
            break
        widths = grown
        open_ -= short
    for _ in range(available - sum(widths)):
        growing = [i for i in open_ if widths[i] < natural[i]]
        if not growing:
            break
        widest = max(growing, key=lambda i: natural[i] / widths[i])
        widths[widest] += 1
    return widths


def _shorten(title: str, width: int) -> str:
    """``title`` wrapped to ``width`` (a title is prose: words stay whole)."""
    return "\n".join(textwrap.wrap(title, width, break_long_words=False,
                                    break_on_hyphens=False)) or title


def _block(columns: Sequence[str], row: Sequence[str], width: int) -> list[str]:
    """One row as a block, lines at most ``width`` wide (unless one word is wider): the
    first cell, then an indented ``column: value`` line for every other non-empty cell,
    wrapped at spaces."""
    label = max((len(c) for c in columns[1:]), default=0) + 1
    lines = [row[0]]
    for column, text in zip(columns[1:], row[1:], strict=True):
        if text:
            lines += textwrap.wrap(text, width, initial_indent=f"  {column + ':':<{label}} ",
                                   subsequent_indent=" " * (label + 3),
                                   break_long_words=False, break_on_hyphens=False)
    return lines


def _blocks(title: str, columns: Sequence[str], cells: Sequence[Sequence[str]],
            width: int) -> list[str]:
    """The table as the title and one :func:`_block` per row, a blank line before each."""
    lines = [_shorten(title, width)]
    for row in cells:
        lines += ["", *_block(columns, row, width)]
    return lines


def _rich_table(console: Any, title: str, columns: Sequence[str],
                cells: Sequence[Sequence[str]], styles: Sequence[str | None] | None,
                no_wrap: Sequence[int]) -> None:
    """:func:`render_table` on a terminal: widths chosen here (rich, left to itself,
    squeezes wrappable columns to nothing beside a long unwrappable one)."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    natural = _natural_widths(columns, cells)
    minimum = _minimum_widths(columns, cells, no_wrap)
    # a rich table's own width: a border and two spaces of padding per column, one border more
    widths = _fit(natural, minimum, console.width - 3 * len(columns) - 1)
    if widths is None:  # one block per row, the row's name in bold
        console.print(Text(_shorten(title, console.width), style="italic"), soft_wrap=True)
        for i, row in enumerate(cells):
            style = (styles[i] if styles else None) or ""
            name, *rest = _block(columns, row, console.width)
            console.print()
            console.print(Text(name, style=f"bold {style}".strip()), soft_wrap=True)
            for line in rest:
                console.print(Text(line, style=style), soft_wrap=True)
        return
    # every string may be user input (a module named "[/]"): shown, never markup
    table = Table(title=escape(title), show_lines=False)
    for column, width in zip(columns, widths, strict=True):
        # widths are at least each column's minimum: nothing is folded, no_wrap cells fit
        table.add_column(escape(column), width=width, overflow="fold")
    for i, row in enumerate(cells):
        table.add_row(*map(escape, row), style=styles[i] if styles else None)
    console.print(table)


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
    # a cell is one number ("2.303 ± 0.000"): never wrapped; the headers wrap
    render_table(title, SUMMARY_COLUMNS, summary_rows(summary), stream=stream, styles=styles,
                 no_wrap=range(len(SUMMARY_COLUMNS)))
    width = _width(stream)
    print(_shorten(f"{COLUMN_NOTE}. Chance (majority class) = "
                   f"{data['chance_accuracy']:.1%}.", width), file=stream)
    print("Verdict of a run, the first rule that holds:", file=stream)
    for rule in document["verdict_rules"]:
        print("\n".join(textwrap.wrap(f"{rule['verdict']}: {rule['rule']}", width,
                                      initial_indent="  ", subsequent_indent="    ",
                                      break_long_words=False, break_on_hyphens=False)),
              file=stream)


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
