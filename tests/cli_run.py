"""Running ``paraminit.cli.main`` in-process with its output captured (for the CLI tests)."""

from __future__ import annotations

import contextlib
import io

from paraminit.cli import main


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``paraminit ARGV``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()
