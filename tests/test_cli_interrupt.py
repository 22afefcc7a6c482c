"""Ctrl-C anywhere in ``compare`` and ``bench`` (start-up, imports, worker start, training,
drawing the report) exits 130 with one line saying what was kept; ``paraminit report DIR``
draws the table and report.html again from a results.json, partial ones included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cli_run import run_main

SRC = str(Path(__file__).resolve().parents[1] / "src")
TINY = ["compare", "--depth", "3", "--width", "8", "--steps", "5", "--workers", "1",
        "--seeds", "0", "--methods", "zeros,he_normal"]
# two workers and runs long enough to be interrupted while they train
POOLED = ["compare", "--quick", "--steps", "40", "--workers", "2"]


def _interrupt(argv: list[str], ready: Callable[[], bool], *, timeout: float = 180,
               ) -> tuple[int, str]:
    """Start ``paraminit ARGV`` in a session of its own, wait until ``ready()``, send SIGINT
    to its whole process group (as a terminal's Ctrl-C does, workers included); return
    (exit code, stderr)."""
    # SIGINT back to its default for the child: a shell may start this test with it ignored
    process = subprocess.Popen(
        [sys.executable, "-m", "paraminit", *argv], env={**os.environ, "PYTHONPATH": SRC},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the moment to interrupt never came"
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    return process.returncode, stderr


def _message(stderr: str) -> str:
    """The one line besides progress ("[k/N] ..." per finished run or benchmark)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line and not line.startswith("[")]
    assert len(lines) == 1 and lines[0].startswith("paraminit: interrupted; "), stderr
    return lines[0]


def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def _later(seconds: float) -> Callable[[], bool]:
    start = time.monotonic()
    return lambda: time.monotonic() - start >= seconds


@pytest.mark.parametrize("delay", [0.2, 0.35, 0.5, 0.7, 1.0, 1.5])  # numpy, scipy, torch …
def test_ctrl_c_while_importing(tmp_path, delay):
    """Also the case CPython's ``-m`` would end by SIGINT (-2): see paraminit.__main__."""
    out = tmp_path / "out"
    code, stderr = _interrupt([*POOLED, "--out", str(out)], _later(delay))
    assert code == 130
    assert _message(stderr) == "paraminit: interrupted; nothing was written"
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.5, 1.5])
def test_ctrl_c_while_workers_start(tmp_path, delay):
    """results.json (no runs) is written just before the pool is started: interrupting
    then hits the spawning and the workers' own imports, which must print nothing."""
    out = tmp_path / "out"
    written = out / "results.json"
    started: list[float] = []

    def ready() -> bool:
        if not started and written.exists():
            started.append(time.monotonic())
        return bool(started) and time.monotonic() - started[0] >= delay

    code, stderr = _interrupt([*POOLED, "--out", str(out)], ready)
    assert code == 130
    message = _message(stderr)
    doc = _results(out)
    assert not doc["complete"] and doc["runs_done"] == len(doc["records"])
    if not doc["records"]:
        assert "none of the 4 runs had finished" in message
    assert not [p.name for p in out.iterdir() if p.name != "results.json"]


@pytest.mark.slow
def test_ctrl_c_while_training_then_a_partial_report(tmp_path):
    out = tmp_path / "out"
    code, stderr = _interrupt([*POOLED, "--out", str(out)],
                              lambda: (out / "results.json").exists()
                              and bool(_results(out)["records"]))
    assert code == 130
    message = _message(stderr)
    doc = _results(out)
    done = len(doc["records"])
    assert not doc["complete"] and 1 <= done < 4
    assert f"kept the {done} of 4 runs that finished in {out / 'results.json'}" in message
    assert f"'paraminit report {out}' draws a partial report" in message
    assert not (out / "report.html").exists()

    code, stdout, _ = run_main(["report", str(out)])
    assert code == 0
    assert f"partial: {done} of 4 runs are in {out / 'results.json'}" in stdout
    assert "Incomplete:" in (out / "report.html").read_text()
    assert _results(out) == doc  # the report reads results.json, never rewrites it


@pytest.mark.slow  # trains two tiny runs in this process (importing torch)
def test_ctrl_c_while_drawing_the_compare_report(tmp_path, monkeypatch):
    import paraminit.report.html as html

    def interrupted(doc):
        raise KeyboardInterrupt

    draw = html.render_html
    monkeypatch.setattr(html, "render_html", interrupted)
    out = tmp_path / "out"
    code, stdout, stderr = run_main([*TINY, "--out", str(out)])
    assert code == 130 and not stdout
    assert _message(stderr) == (
        f"paraminit: interrupted; all 2 runs are in {out / 'results.json'}, but "
        f"{out / 'report.html'} was not written; 'paraminit report {out}' draws it")
    doc = _results(out)
    assert doc["complete"] and doc["runs_done"] == 2 and not (out / "report.html").exists()

    monkeypatch.setattr(html, "render_html", draw)
    code, stdout, _ = run_main(["report", str(out)])
    assert code == 0 and "he_normal" in stdout and "partial" not in stdout
    assert f"report: {out / 'report.html'}" in stdout
    assert "Incomplete" not in (out / "report.html").read_text()
    code, stdout, _ = run_main(["report", str(out / "results.json"), "--json"])
    assert code == 0 and json.loads(stdout) == doc


def _fake_bench(monkeypatch, passed: bool) -> None:
    """glorot2010 replaced by an instant benchmark with one check and one plot."""
    import paraminit.report.bench as bench
    from paraminit.experiments.papers import BENCHMARKS, Benchmark, Outcome, _base
    from paraminit.report.html import new_figure

    def plot(result):
        figure, (axis,) = new_figure(3, 2)
        axis.plot([0, 1], [0, 1])
        return [("line", "a line", figure)]

    monkeypatch.setitem(BENCHMARKS, "glorot2010", Benchmark(
        "glorot2010", "t", "x 2000", "p", "c", lambda quick, progress: Outcome(
            settings={}, records=[], checks=[_base.check("x", "1", "1", passed)])))
    monkeypatch.setitem(bench._FIGURES, "glorot2010", plot)


def test_ctrl_c_while_drawing_the_bench_report_then_report(tmp_path, monkeypatch):
    import paraminit.report.bench as bench

    _fake_bench(monkeypatch, passed=False)
    draw = bench.render_bench_html

    def interrupted(doc, *, pictures=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "render_bench_html", interrupted)
    code, _, stderr = run_main(["bench", "glorot2010", "--out", str(tmp_path)])
    assert code == 130
    assert _message(stderr).startswith(
        f"paraminit: interrupted; all 1 benchmarks are in {tmp_path / 'results.json'}, but ")
    assert "paraminit report" in stderr and not (tmp_path / "report.html").exists()

    monkeypatch.setattr(bench, "render_bench_html", draw)
    (tmp_path / "glorot2010_line.png").unlink()
    code, stdout, _ = run_main(["report", str(tmp_path)])
    assert code == 3 and "FAIL" in stdout  # as bench: a claim in it failed
    assert (tmp_path / "glorot2010_line.png").read_bytes().startswith(b"\x89PNG")
    assert "glorot2010" in (tmp_path / "report.html").read_text()


def test_ctrl_c_while_drawing_bench_plots(tmp_path, monkeypatch):
    import paraminit.report.bench as bench

    _fake_bench(monkeypatch, passed=True)

    def interrupted(result):
        raise KeyboardInterrupt

    monkeypatch.setitem(bench._FIGURES, "glorot2010", interrupted)
    code, _, stderr = run_main(["bench", "glorot2010", "--out", str(tmp_path)])
    assert code == 130
    assert "kept the 1 of 1 benchmarks that finished" in _message(stderr)
    assert _results(tmp_path)["complete"] and not (tmp_path / "report.html").exists()


@pytest.mark.slow
def test_report_of_a_real_bench(tmp_path):
    code, _, _ = run_main(["bench", "glorot2010", "--quick", "--out", str(tmp_path)])
    assert code == 0
    written = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for name in ("report.html", "glorot2010_gradients.png"):
        (tmp_path / name).unlink()
    code, stdout, _ = run_main(["report", str(tmp_path)])
    assert code == 0 and "paraminit bench (quick)" in stdout and "PASS" in stdout
    assert (tmp_path / "glorot2010_gradients.png").read_bytes() == (
        written["glorot2010_gradients.png"])  # the same plot, drawn from the results
    assert (tmp_path / "results.json").read_bytes() == written["results.json"]
    assert (tmp_path / "report.html").exists()


@pytest.mark.parametrize(("content", "says"), [
    (None, "does not exist: "),
    ("", "is not valid JSON (line 1, column 1"),
    ('{"command": "compare", "complete": tru', "is not valid JSON"),
    ("[1, 2]", 'no "command": "compare" or "bench"'),
    ('{"command": "explain"}', 'no "command": "compare" or "bench"'),
    ('{"command": "bench", "quick": true}', "lacks 'complete', 'benchmarks_expected'"),
])
def test_report_errors_name_the_path_and_the_fix(tmp_path, content, says):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    code, stdout, stderr = run_main(["report", str(tmp_path)])
    assert code == 2 and not stdout and not (tmp_path / "report.html").exists()
    assert stderr.startswith(f"paraminit: error: report: {str(path)!r} ") and says in stderr
    assert "pass the --out folder" in stderr or "rerun the command" in stderr


def test_report_of_a_missing_folder_or_a_malformed_document(tmp_path):
    code, _, stderr = run_main(["report", str(tmp_path / "nowhere")])
    assert code == 2 and f"{str(tmp_path / 'nowhere')!r} does not exist" in stderr
    doc = {"command": "bench", "quick": True, "complete": True, "benchmarks_expected": 1,
           "passed": True, "versions": {}, "results": [{"name": "glorot2010"}]}
    (tmp_path / "results.json").write_text(json.dumps(doc))
    code, _, stderr = run_main(["report", str(tmp_path)])
    assert code == 2 and "is not a well-formed bench results document (KeyError" in stderr
