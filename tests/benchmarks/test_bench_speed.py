"""benchmarks/bench_speed.py on tiny sizes: the JSON has every section's rows, finite
positive times and ratios, and every target evaluated. Timings themselves are never
asserted (they depend on the machine)."""

from __future__ import annotations

import json
import math

import pytest
from bench_scripts import load, run

pytest.importorskip("torch")


def _positive(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    out = tmp_path_factory.mktemp("speed") / "speed.json"
    done = run("bench_speed", ["--sizes", "64", "--thread-size", "64", "--dirac-shape", "4",
                               "4", "3", "3", "--repeat", "1", "--no-gpt2", "--no-first-call",
                               "--no-sharded", "--out", str(out)], timeout=120)
    assert done.returncode == 0, done.stderr
    assert "targets of issue 10" in done.stdout and "[dropin] uniform_ 64x64" in done.stderr
    return json.loads(out.read_text())


@pytest.mark.slow
def test_structure(document):
    assert {"machine", "engine", "settings", "targets", "records"} <= set(document)
    assert document["engine"]["engine"] in ("compiled", "reference")
    assert document["engine"]["numba"]
    bench = load("bench_speed")
    dropin = [r for r in document["records"] if r["section"] == "dropin"]
    assert [(r["function"], r["shape"]) for r in dropin] == (
        [(name, [64, 64]) for name, _ in bench.CASES] + [("dirac_", [4, 4, 3, 3])])
    threads = [r for r in document["records"] if r["section"] == "threads"]
    assert [r["function"] for r in threads] == [n for n, _ in bench.CASES if n in bench.THREADED]
    assert {r["section"] for r in document["records"]} == {"dropin", "threads"}


@pytest.mark.slow
def test_times_and_ratios_are_finite_and_positive(document):
    for record in document["records"]:
        numbers = {k: v for k, v in record.items() if k.endswith("_s") or "speedup" in k}
        assert numbers and all(_positive(v) for v in numbers.values()), record
        assert set(record["repeats"].values()) == {1}


@pytest.mark.slow
def test_every_target_is_reported(document):
    targets = document["targets"]
    bench = load("bench_speed")
    assert {t["target"] for t in targets} == set(bench.TARGETS)
    for t in targets:
        if t["target"].startswith(("gpt2", "first call")):
            assert t["measured"] is None and t["met"] is None  # skipped by the flags
        else:
            assert _positive(t["measured"]) and isinstance(t["met"], bool), t
            wanted = t["measured"] >= t["threshold"] if t["op"] == ">=" else (
                t["measured"] <= t["threshold"])
            assert t["met"] == wanted


def test_gpt2_and_first_call_rows_feed_their_targets():
    bench = load("bench_speed")
    records = [
        {"section": "gpt2", "variant": "baseline"},
        {"section": "gpt2", "variant": "meta", "speedup": 2.5, "peak_per_model": 1.2},
        {"section": "first_call", "cache": "warm (first process)", "over_s": 3.0},
        {"section": "first_call", "cache": "warm", "over_s": 0.2},
        {"section": "first_call", "cache": "cold", "over_s": 6.0},
    ]
    judged = {t["target"]: t for t in bench.evaluate(records)}
    assert judged["gpt2 meta+init speedup over construction"]["met"] is True
    assert judged["gpt2 meta+init peak RSS / parameter bytes"]["met"] is False
    first = judged["first call over warm, warm cache (s)"]
    assert first["measured"] == 0.2 and first["met"] is True
    assert judged["uniform_ speedup"]["met"] is None


@pytest.mark.slow
def test_sharded_section_measures_each_rank(tmp_path):
    out = tmp_path / "speed.json"
    done = run("bench_speed", ["--sizes", "64", "--dirac-shape", "4", "4", "3", "3", "--repeat",
                               "1", "--quick", "--no-threads", "--no-gpt2", "--no-first-call",
                               "--layers", "2", "--d", "64", "--vocab", "101", "--context", "8",
                               "--out", str(out)], timeout=300)
    assert done.returncode == 0, done.stderr
    sharded = [r for r in json.loads(out.read_text())["records"] if r["section"] == "sharded"]
    assert [r["rank"] for r in sharded] == [0, 1]
    # 101 embedding rows on 2 ranks: 51 + 50, so the shards differ and sum to the model
    assert sharded[0]["shard_mb"] > sharded[1]["shard_mb"]
    assert sum(r["shard_mb"] for r in sharded) == pytest.approx(sharded[0]["model_mb"])
    assert all(_positive(r["init_s"]) and r["peak_over_before_mb"] >= 0 for r in sharded)
    assert "FSDP2 over 2 gloo processes" in done.stdout
