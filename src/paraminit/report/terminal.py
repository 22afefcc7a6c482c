"""Terminal tables: rich when it is installed and the output is a terminal, plain otherwise."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

__all__ = ["render_table"]


def render_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    stream: TextIO | None = None,
) -> None:
    """Print a table with a title: a rich table on a terminal, aligned plain text elsewhere.

    Plain text keeps pipes and log files readable (no box characters, no colour codes).
    """
    stream = stream or sys.stdout
    cells = [[str(c) for c in row] for row in rows]
    if stream.isatty():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:  # rich is an optional extra
            pass
        else:
            table = Table(title=title, show_lines=False)
            for column in columns:
                table.add_column(column, overflow="fold")
            for row in cells:
                table.add_row(*row)
            Console(file=stream).print(table)
            return
    widths = [max(len(str(c)), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print(title, file=stream)
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(), file=stream)
    print("  ".join("-" * w for w in widths), file=stream)
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=stream)
