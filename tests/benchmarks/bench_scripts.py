"""Running and importing benchmarks/bench_*.py from their tests."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def script(name: str) -> Path:
    return ROOT / "benchmarks" / f"{name}.py"


def load(name: str) -> ModuleType:
    """benchmarks/NAME.py as a module (for its CASES and TARGETS)."""
    spec = importlib.util.spec_from_file_location(name, script(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name: str, arguments: list[str], timeout: float) -> subprocess.CompletedProcess:
    """``python benchmarks/NAME.py ARGUMENTS`` on this source tree, output captured."""
    return subprocess.run([sys.executable, str(script(name)), *arguments],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
