"""benchmarks/bench_jax.py on a tiny size: the JSON has a row per shared name and call
(compile, jit, eager) with finite times and ratios, and the table is printed. Timings
themselves are never asserted (they depend on the machine)."""

from __future__ import annotations

import json
import math

import pytest
from bench_scripts import load, run

pytest.importorskip("jax")


@pytest.mark.slow
def test_a_row_per_name_and_call_with_finite_times(tmp_path):
    out = tmp_path / "jax.json"
    done = run("bench_jax", ["--sizes", "16", "--repeat", "1", "--out", str(out)], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "paraminit.jax vs jax.nn.initializers" in done.stdout
    document = json.loads(out.read_text())
    assert {"machine", "jax", "backend", "settings", "records"} <= set(document)
    bench = load("bench_jax")
    assert [(r["name"], r["flavour"]) for r in document["records"]] == [
        (name, flavour) for name, _ in bench.CASES for flavour in ("compile", *bench.FLAVOURS)]
    for record in document["records"]:
        times = (record["paraminit_s"], record["jax_s"])
        assert all(math.isfinite(t) and t >= 0 for t in times), record
        if record["flavour"] != "compile":  # a compile can be as fast as the warm call
            assert min(times) > 0 and record["speedup"] == pytest.approx(
                record["jax_s"] / record["paraminit_s"]), record
    assert document["records"][-1]["shape"] == [16, 16]
    kernels = {tuple(r["shape"]) for r in document["records"] if r["name"] == "delta_orthogonal"}
    assert kernels == {(3, 3, 2, 2)}
