"""Running the CLI in tests: in-process with output captured, or as a process to interrupt."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from paraminit.cli import main


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``paraminit ARGV``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def interrupt_when(command: list[str], results: Path, ready: Callable[[dict], bool], *,
                   env: dict[str, str], timeout: float = 240) -> tuple[int, str]:
    """Start ``command``, send it SIGINT (a terminal's Ctrl-C) once ``results`` exists and
    ``ready(its JSON)`` holds; return (exit code, stderr)."""
    # A shell starts background jobs with SIGINT ignored, and Python then never raises
    # KeyboardInterrupt; give the child the default disposition, as a terminal's Ctrl-C sees.
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if results.exists() and ready(json.loads(results.read_text())):
                break
            assert process.poll() is None, process.communicate()
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, stderr
