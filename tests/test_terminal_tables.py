"""Tables on a real terminal (a pseudo-terminal of 80 and 200 columns) and piped: no line
wider than the terminal (or PLAIN_WIDTH), and the names a user types shown whole."""

from __future__ import annotations

import fcntl
import io
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from paraminit import schemes
from paraminit.experiments.papers import describe
from paraminit.report.terminal import PLAIN_WIDTH, render_compare, render_table

SRC = Path(__file__).resolve().parents[1] / "src"
FACTORIES = Path(__file__).resolve().parent / "torch_model"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TIMEOUT = 120.0  # seconds for one CLI call; the machine may be shared and loaded


def _env(*extra: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (SRC, *extra))
    env["TERM"] = "xterm-256color"
    return env


def run_in_terminal(argv: list[str], columns: int, *extra_path: Path) -> list[str]:
    """The lines ``python -m paraminit ARGV`` writes to a pseudo-terminal ``columns`` wide
    (colour codes removed)."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "paraminit", *argv], stdin=follower,
                               stdout=follower, stderr=follower, env=_env(*extra_path),
                               close_fds=True)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        else:
            pytest.fail(f"paraminit {' '.join(argv)} ran longer than {TIMEOUT} s")
        assert process.wait(timeout=TIMEOUT) == 0, b"".join(chunks).decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    text = ANSI.sub("", b"".join(chunks).decode())
    return text.replace("\r\n", "\n").split("\n")


def run_piped(argv: list[str], *extra_path: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "paraminit", *argv], capture_output=True,
                          text=True, env=_env(*extra_path), timeout=TIMEOUT, check=True)
    return done.stdout.splitlines()


def assert_whole(names: list[str], lines: list[str]) -> None:
    """Each name appears as a word of its own on some line (not cut, not wrapped)."""
    text = "\n".join(lines)
    missing = [n for n in names if not re.search(rf"(?<![\w.]){re.escape(n)}(?![\w])", text)]
    assert not missing, f"cut or missing: {missing}\n{text}"


def assert_width(lines: list[str], width: int) -> None:
    wide = [line for line in lines if len(line) > width]
    assert not wide, f"{len(wide)} lines wider than {width}: {wide[:3]}"


SCHEME_WORDS = sorted({word for s in schemes()
                       for word in (s.name, *s.aliases, *s.defaults)})
BENCHMARK_NAMES = [d["name"] for d in describe()]


@pytest.mark.parametrize("columns", [80, 200])
def test_schemes_on_a_terminal(columns):
    lines = run_in_terminal(["schemes"], columns)
    assert_width(lines, columns)
    assert_whole(SCHEME_WORDS, lines)  # names, aliases and option keys
    assert any("Glorot & Bengio 2010" in line for line in lines)  # the paper is wrapped, not lost


@pytest.mark.parametrize("columns", [80, 200])
def test_bench_list_on_a_terminal(columns):
    lines = run_in_terminal(["bench", "--list"], columns)
    assert_width(lines, columns)
    assert_whole(BENCHMARK_NAMES, lines)


def test_wide_terminal_draws_a_table():
    """200 columns hold the schemes table with every column readable (no squeezed column)."""
    lines = run_in_terminal(["schemes"], 200)
    header = next(line for line in lines if "scheme" in line and "paper" in line)
    assert all(word in header for word in ("aliases", "options", "formula"))


@pytest.mark.parametrize("argv", [["schemes"], ["bench", "--list"]])
def test_piped_output_is_bounded(argv):
    lines = run_piped(argv)
    assert_width(lines, PLAIN_WIDTH)
    assert_whole(SCHEME_WORDS if argv == ["schemes"] else BENCHMARK_NAMES, lines)
    assert not any("\x1b" in line or "┃" in line for line in lines)  # plain text


@pytest.mark.parametrize("columns", [80, 200])
def test_explain_model_on_a_terminal(columns):
    pytest.importorskip("torch")
    lines = run_in_terminal(["explain", "--model", "model_factories:small"], columns, FACTORIES)
    assert_width(lines, columns)
    assert_whole(["0.weight", "0.bias", "2.gain", "2.proj.weight", "2.proj.bias",
                  "he_normal(mode='fan_in')", "uncovered"], lines)


def test_explain_model_piped():
    pytest.importorskip("torch")
    lines = run_piped(["explain", "--model", "model_factories:small"], FACTORIES)
    assert_width(lines, PLAIN_WIDTH)
    assert_whole(["0.weight", "2.proj.weight", "he_normal(mode='fan_in')"], lines)


# ---------------------------------------------------------------------------------------
# render_table itself


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _rendered(columns: int, monkeypatch, render) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(columns))  # rich's width for a stream without a size
    stream = _Terminal()
    render(stream)
    return ANSI.sub("", stream.getvalue()).splitlines()


def _compare_document() -> dict:
    methods = ["xavier_normal", "he_normal(mode='fan_out')", "fixed_variance_normal", "lsuv"]
    stat = {"mean": 0.5, "sd": 0.01}
    return {
        "settings": {"seeds": [0, 1, 2], "arch": "mlp", "depth": 30, "width": 128,
                     "activation": "relu", "optimizer": "sgd", "lr": 0.05, "steps": 300},
        "dataset": {"name": "digits", "n_train": 1437, "n_test": 360,
                    "chance_accuracy": 0.1},
        "summary": [{"method": m, "act_std_last": {"mean": 0.123}, "grad_ratio": {"mean": 4.56},
                     "final_loss": stat, "train_accuracy": stat, "test_accuracy": stat,
                     "verdict": "trains", "verdict_count": 2, "runs": 3} for m in methods],
        "verdict_rules": [{"verdict": "trains", "rule": "final loss below 0.5 ln 10"}],
    }


@pytest.mark.parametrize("columns", [80, 200])
def test_compare_summary_on_a_terminal(columns, monkeypatch):
    document = _compare_document()
    lines = _rendered(columns, monkeypatch, lambda s: render_compare(document, stream=s))
    assert_width(lines, columns)
    assert_whole([row["method"] for row in document["summary"]], lines)


def test_compare_summary_piped():
    document = _compare_document()
    stream = io.StringIO()
    render_compare(document, stream=stream)
    lines = stream.getvalue().splitlines()
    assert_width(lines, PLAIN_WIDTH)
    assert_whole([row["method"] for row in document["summary"]], lines)


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_a_name_column_is_never_cut(columns, monkeypatch):
    rows = [("delta_orthogonal", "long prose " * 30), ("fixed_variance_uniform", "short")]
    lines = _rendered(columns, monkeypatch,
                      lambda s: render_table("t", ("scheme", "notes"), rows, stream=s))
    assert_width(lines, columns)
    assert_whole(["delta_orthogonal", "fixed_variance_uniform"], lines)


def test_too_narrow_for_columns_gives_one_block_per_row(monkeypatch):
    rows = [("he_normal", "mode='fan_in', nonlinearity='relu'", "std = gain / sqrt(fan)")]
    lines = _rendered(40, monkeypatch, lambda s: render_table(
        "schemes", ("scheme", "options", "formula"), rows, stream=s))
    assert lines[0] == "schemes" and "he_normal" in lines
    assert any(line.startswith("  options:") for line in lines)


def test_plain_table_that_fits_is_one_line_per_row():
    stream = io.StringIO()
    render_table("t", ("name", "value"), [("a", "1"), ("bb", "22")], stream=stream)
    assert stream.getvalue().splitlines() == ["t", "name  value", "----  -----",
                                              "a     1", "bb    22"]


def test_plain_wraps_long_cells_in_their_column():
    stream = io.StringIO()
    render_table("t", ("name", "claim"), [("he2015", "word " * 60), ("x", "y")], stream=stream)
    lines = stream.getvalue().splitlines()
    assert_width(lines, PLAIN_WIDTH)
    assert lines[3].startswith("he2015  word") and lines[4].startswith(" " * 8 + "word")
    assert "" in lines and lines[-1] == "x       y"  # a blank line between wrapped rows


def _bench_document() -> dict:
    check = {"claim": "the critical column (sigma_w2 = 1.7610) trains at depth 60",
             "measured": "trains, train accuracy 98.9%", "expected": "trains", "passed": True}
    return {"quick": True, "results": [
        {"name": name, "cite": "Schoenholz et al. 2017", "passed": True, "seconds": 12.5,
         "claim": "Tanh MLPs (sigma_b2 = 0.05) on the digits: the critical column trains at "
                  "depth 60; columns whose 6 xi_c is far below 60 fail.", "checks": [check]}
        for name in BENCHMARK_NAMES]}


@pytest.mark.parametrize("columns", [80, 200, None])
def test_bench_results_fit(columns, monkeypatch):
    from paraminit.report.bench import render_bench

    document = _bench_document()
    if columns is None:  # piped
        stream = io.StringIO()
        render_bench(document, stream=stream)
        lines, columns = stream.getvalue().splitlines(), PLAIN_WIDTH
    else:
        lines = _rendered(columns, monkeypatch, lambda s: render_bench(document, stream=s))
    assert_width(lines, columns)
    assert_whole(BENCHMARK_NAMES, lines)


def test_a_reader_that_leaves_early_is_no_error():
    """``paraminit schemes | head -1``: the closed pipe ends the command quietly. The pipe is
    closed before the command (still importing) writes, so its first write fails."""
    process = subprocess.Popen([sys.executable, "-m", "paraminit", "schemes"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        process.stdout.close()
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 0 and stderr == b""
