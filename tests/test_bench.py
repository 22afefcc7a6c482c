"""``paraminit bench``: the quick benchmarks pass with fixed seeds, and the frame around
them (selection, results file, report, exit codes) behaves."""

from __future__ import annotations

import io
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from browser import images_drawn
from cli_run import interrupt_when, run_main
from paraminit import InitError
from paraminit.experiments.papers import BENCHMARKS, Benchmark, Outcome, select
from paraminit.experiments.papers._base import leaves, plateau_text, steps_to
from paraminit.experiments.papers._hanin import log_ratio_moments

NAMES = ["he2015", "edge_of_chaos", "glorot2010", "isometry", "saxe2014", "selu2017",
         "hanin2018", "fixup2019", "mup2022", "deep_transformer"]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """``paraminit bench --quick``: every benchmark, small, in one run of the CLI."""
    out = tmp_path_factory.mktemp("bench")
    code, stdout, stderr = run_main(["bench", "--quick", "--out", str(out)])
    return code, stdout, stderr, out, json.loads((out / "results.json").read_text())


def test_suite_holds_the_papers():
    assert list(BENCHMARKS) == NAMES
    for benchmark in BENCHMARKS.values():
        assert benchmark.paper and benchmark.claim and benchmark.title
        author, year = benchmark.cite.split()[0], benchmark.cite[-4:]
        assert f"{author}" in benchmark.paper and year in benchmark.paper


@pytest.mark.slow
def test_every_quick_benchmark_passes(quick):
    code, stdout, stderr, _, doc = quick
    failed = [(r["name"], c) for r in doc["results"] for c in r["checks"] if not c["passed"]]
    assert failed == [], failed
    assert code == 0 and doc["complete"] and doc["passed"] and doc["quick"]
    assert [r["name"] for r in doc["results"]] == NAMES
    assert all(len(r["checks"]) >= 2 for r in doc["results"])
    assert "paraminit bench (quick)" in stdout and "PASS" in stdout
    assert f"[{len(NAMES)}/{len(NAMES)}] {NAMES[-1]}: PASS" in stderr


@pytest.mark.slow
def test_quick_results_carry_the_measurements(quick):
    results = {r["name"]: r for r in quick[4]["results"]}
    he = results["he2015"]["records"]
    assert {r["method"] for r in he} == {"xavier_normal", "orthogonal", "he_normal", "lsuv"}
    assert all(len(r["loss_curve"]) == 300 for r in he)  # compare records, whole curves
    chaos = results["edge_of_chaos"]
    assert chaos["extra"]["critical_sigma_w2"] == pytest.approx(1.7609546, abs=1e-6)
    line = chaos["extra"]["six_xi_c_line"]
    assert all(p["six_xi_c"] is None or math.isfinite(p["six_xi_c"]) for p in line)
    critical = [r for r in chaos["records"] if r["sigma_w2"] == pytest.approx(1.7609546)]
    assert critical and all(r["six_xi_c"] is None or r["six_xi_c"] > 1e3 for r in critical)
    spectrum = [r for r in results["isometry"]["records"] if r["kind"] == "spectrum"]
    assert [r["predicted"] for r in spectrum][2:] == pytest.approx([1.0, 2.0])  # ReLU
    hanin = results["hanin2018"]["records"]
    assert [r["beta"] for r in hanin] == [0.625, 0.3125]
    stalls = [c["measured"] for c in results["he2015"]["checks"] if "stalls" in c["claim"]]
    assert stalls and all(m.startswith("seed 0: ") for m in stalls)
    assert all("did not leave the plateau within 300 steps" in m
               or "left the plateau at step " in m for m in stalls)
    assert not any("never" in m for m in stalls)
    assert [c["passed"] for c in results["hanin2018"]["checks"]] == [True, True, True]


@pytest.mark.slow
def test_report_and_plots_are_written(quick):
    _, _, _, out, doc = quick
    html = (out / "report.html").read_text()
    for name in NAMES:
        assert f'id="{name}"' in html
    # he2015 draws two figures; quick edge_of_chaos (one depth) draws none, and hanin2018
    # one panel: both say so; fixup2019 draws none, mup2022 and deep_transformer one each
    assert html.count("data:image/png;base64,") == 9
    assert "The trainability map is left out: this run trained one depth (60) only" in html
    assert "The histograms of log M for networks of equal β are left out" in html
    assert "http://" not in html and "https://" not in html  # opens offline
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 9 and "edge_of_chaos_map.png" not in pngs
    assert all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert doc["versions"]["torch"]


@pytest.mark.slow
def test_report_renders_in_a_real_browser(quick, tmp_path):
    html = (quick[3] / "report.html").read_text()
    assert images_drawn(html, tmp_path) == "images 9/9"


def test_measurements_show_progress_on_a_terminal():
    from paraminit.report.terminal import CompareProgress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    with CompareProgress(stream=stream, plain=False) as progress:
        for done in (0, 25, 50):
            progress({"event": "measure", "task": "width 16 x 10 layers", "done": done,
                      "total": 50})
        assert progress._tasks == {}  # a finished measurement's bar is removed
    assert "width 16 x 10 layers" in stream.getvalue()


def test_select_and_bad_names(tmp_path):
    assert [b.name for b in select(["saxe2014", "he2015"])] == ["saxe2014", "he2015"]
    assert [b.name for b in select()] == NAMES
    with pytest.raises(InitError, match="unknown benchmark 'he2016'; choose from he2015"):
        select(["he2016"])
    with pytest.raises(InitError, match="named twice"):
        select(["he2015", "he2015"])
    out = tmp_path / "o"
    code, _, stderr = run_main(["bench", "nope", "--out", str(out)])
    assert code == 2 and "unknown benchmark 'nope'" in stderr and not out.exists()


@pytest.mark.slow
def test_list_json_and_one_benchmark(tmp_path):
    code, stdout, _ = run_main(["bench", "--list", "--json"])
    assert code == 0 and [d["name"] for d in json.loads(stdout)] == NAMES
    code, stdout, _ = run_main(["bench", "glorot2010", "--quick", "--json",
                                 "--out", str(tmp_path)])
    doc = json.loads(stdout)
    assert code == 0 and [r["name"] for r in doc["results"]] == ["glorot2010"]


def test_a_failed_claim_exits_3(tmp_path, monkeypatch):
    from paraminit.experiments.papers import _base

    failing = Benchmark("glorot2010", "t", "x 2000", "p", "c", lambda quick, progress: Outcome(
        settings={}, records=[], checks=[_base.check("x", "1", "2", False)]))
    monkeypatch.setitem(BENCHMARKS, "glorot2010", failing)
    monkeypatch.setitem(__import__("paraminit.report.bench", fromlist=["_FIGURES"])._FIGURES,
                        "glorot2010", lambda result: [])
    code, stdout, _ = run_main(["bench", "glorot2010", "--out", str(tmp_path)])
    assert code == 3 and "FAIL" in stdout
    assert json.loads((tmp_path / "results.json").read_text())["passed"] is False


@pytest.mark.slow
def test_ctrl_c_keeps_finished_benchmarks(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for stale in ("report.html", "he2015_loss.png"):  # an earlier run's: must not outlive it
        (out / stale).write_text("old")
    src = str(Path(__file__).resolve().parents[1] / "src")
    command = [sys.executable, "-m", "paraminit", "bench", "glorot2010", "selu2017", "he2015",
               "--quick", "--out", str(out)]
    code, stderr = interrupt_when(command, out / "results.json",
                                  lambda doc: len(doc["results"]) == 2,
                                  env={**os.environ, "PYTHONPATH": src})
    assert code == 130 and "kept the 2 of 3 benchmarks" in stderr, stderr
    assert "Traceback" not in stderr
    doc = json.loads((out / "results.json").read_text())
    assert not doc["complete"] and not doc["passed"] and len(doc["results"]) == 2
    assert not (out / "report.html").exists() and not (out / "he2015_loss.png").exists()
    assert (out / "glorot2010_gradients.png").exists()


def test_a_benchmark_without_checks_is_an_error():
    empty = Benchmark("x", "t", "x 2000", "p", "c", lambda quick, progress: Outcome({}, [], []))
    with pytest.raises(RuntimeError, match="made no check"):
        empty.execute()


def test_steps_to_and_leaves():
    curve = [2.3] * 10 + [1.0] * 10
    assert steps_to(curve, 1.5) == 14  # 5-step means: 1.52 at step 13, 1.26 at step 14
    assert steps_to(curve, 0.5) is None
    assert leaves(curve, 2.3, 0.01) == 11
    assert leaves([2.3] * 20, 2.3, 0.01) is None
    assert leaves([2.3, None, 2.3, 2.3, 2.3, 2.3], 2.3, 0.01) == 5  # NaN: left the plateau
    # a curve cut short by a NaN loss, shorter than the window: it left, it did not stall
    assert leaves([2.3, 2.3, None], 2.3, 0.01) == 5
    assert steps_to([2.3, None], 0.5) is None


def test_plateau_in_words():
    assert plateau_text(None, 300) == "did not leave the plateau within 300 steps"
    assert plateau_text(150, 300) == "left the plateau at step 150"


def _result(name, records, **extra):
    """A benchmark result as the report reads it, with made-up records."""
    return {"name": name, "title": name, "claim": "c", "paper": "p", "passed": True,
            "quick": True, "seconds": 1.0, "settings": {"depth": [60]}, "records": records,
            "checks": [{"claim": "x", "measured": "1", "expected": "1", "passed": True}],
            "extra": extra}


def _chaos(depths):
    records = [{"sigma_w2": s, "depth": d, "train_accuracy": 0.5}
               for d in depths for s in (1.0, 1.7609546, 8.0)]
    return _result("edge_of_chaos", records, critical_sigma_w2=1.7609546,
                   six_xi_c_line=[{"sigma_w2": 1.0, "six_xi_c": 20.0},
                                  {"sigma_w2": 1.7609546, "six_xi_c": None}])


def test_a_one_row_trainability_map_is_left_out_with_a_reason():
    from paraminit.report.bench import figures, omissions, render_bench_html

    one = _chaos([60])
    assert figures(one) == []
    [sentence] = omissions(one)
    assert sentence.startswith("The trainability map is left out: this run trained one "
                               "depth (60) only")
    html = render_bench_html({"results": [one], "complete": True, "quick": True,
                              "benchmarks_expected": 1, "versions": {},
                              "paraminit": "0"})
    assert "data:image/png" not in html and "The trainability map is left out" in html
    several = _chaos([10, 60])
    assert [stem for stem, _, _ in figures(several)] == ["map"] and omissions(several) == []


def test_a_single_histogram_is_left_out_with_a_reason():
    from paraminit.report.bench import figures, omissions

    def network(width, layers):
        return {"width": width, "hidden_layers": layers, "beta": layers / width,
                "variance": 5 * layers / width, "variance_se": 0.1,
                "variance_exact": 5 * layers / width, "log_ratio_input0": [0.0, 1.0, -1.0]}

    quick = _result("hanin2018", [network(16, 10), network(32, 10)])
    [(_, caption, figure)] = figures(quick)
    assert len(figure.axes) == 1 and "Right:" not in caption
    assert omissions(quick)[0].startswith("The histograms of log M for networks of equal β "
                                          "are left out: this run measured one network per β")
    full = _result("hanin2018", [network(16, 10), network(32, 20), network(32, 10)])
    [(_, caption, figure)] = figures(full)
    assert len(figure.axes) == 2 and "Right: log M" in caption and omissions(full) == []


def test_log_ratio_moments_exact_and_asymptotic():
    # large width: 5/n per layer (Hanin & Rolnick 2018's 5β), and a mean of O(1/n)
    mean, variance = log_ratio_moments(2000, 1)
    assert variance * 2000 == pytest.approx(5.0, rel=2e-3)
    assert abs(mean) < 5e-3
    # exact at small width against a direct simulation of the chi-square/binomial model
    rng = np.random.default_rng(0)
    width, draws = 8, 400_000
    k = rng.binomial(width, 0.5, size=draws)
    k = k[k > 0]
    samples = np.log(rng.chisquare(k) * 2.0 / width)
    mean, variance = log_ratio_moments(width, 1)
    centred = samples - samples.mean()
    # standard errors of the sample mean and variance, from the sample's own moments
    mean_se = samples.std() / math.sqrt(len(samples))
    variance_se = math.sqrt((np.mean(centred**4) - samples.var() ** 2) / len(samples))
    assert abs(samples.mean() - mean) < 4 * mean_se
    assert abs(samples.var() - variance) < 4 * variance_se
    # layers add
    assert log_ratio_moments(8, 3) == pytest.approx((3 * mean, 3 * variance))
