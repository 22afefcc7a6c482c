"""Sampling speed of the NumPy reference backend against NumPy's own generator.

Times ``paraminit.numpy.sample`` (counter-based Philox4x32-10 in vectorised NumPy, computed
in float64 and cast once) against what a user would otherwise write with
``np.random.default_rng()`` -- and ``scipy.stats.truncnorm.rvs`` for the truncated normal,
``np.linalg.qr`` plus the sign fix for orthogonal -- in the same run, best of N repeats.

Usage::

    python benchmarks/bench_sampling.py [--size 4096] [--ortho-size 1024] [--repeat 3]
                                        [--out benchmarks/results/sampling.json]

Prints a table (rich if installed, plain text otherwise) and saves JSON with the machine,
library versions, every timing and the ratio paraminit / numpy (> 1: paraminit is slower).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, report

import paraminit as pi
import paraminit.numpy as pn

DTYPE = np.float32


def _numpy_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.sign(np.diag(r))).astype(DTYPE)


def cases(size: int, ortho_size: int) -> list[dict[str, Any]]:
    """Each case: a paraminit call and the NumPy/SciPy baseline drawing the same law."""
    shape = (size, size)
    rng = np.random.default_rng(0)
    uniform = pi.resolve("uniform", shape, low=-0.05, high=0.05)
    normal = pi.resolve("normal", shape, std=0.02)
    truncated = pi.resolve("truncated_normal", shape, std=0.02)
    he = pi.resolve("he_normal", shape)
    ortho_shape = (ortho_size, ortho_size)
    orthogonal = pi.resolve("orthogonal", ortho_shape)
    low, high = truncated.truncation

    def ours(spec: pi.InitSpec) -> Callable[[], np.ndarray]:
        return lambda: pn.sample(spec, seed=0, name="bench.weight", dtype=DTYPE)

    return [
        {"law": "uniform", "shape": shape, "paraminit": ours(uniform),
         "baseline": "rng.uniform(-b, b) -> float32",
         "numpy": lambda: rng.uniform(-0.05, 0.05, size=shape).astype(DTYPE)},
        {"law": "normal", "shape": shape, "paraminit": ours(normal),
         "baseline": "rng.standard_normal(float32) * std",
         "numpy": lambda: rng.standard_normal(shape, dtype=DTYPE) * DTYPE(0.02)},
        {"law": "truncated_normal", "shape": shape, "paraminit": ours(truncated),
         "baseline": "scipy truncnorm.rvs -> float32",
         "numpy": lambda: stats.truncnorm.rvs(low, high, scale=truncated.parent_std,
                                              size=shape, random_state=rng).astype(DTYPE)},
        {"law": "he_normal", "shape": shape, "paraminit": ours(he),
         "baseline": "rng.standard_normal(float32) * std",
         "numpy": lambda: rng.standard_normal(shape, dtype=DTYPE) * DTYPE(he.std)},
        {"law": "orthogonal", "shape": ortho_shape, "paraminit": ours(orthogonal),
         "baseline": "np.linalg.qr + sign fix",
         "numpy": lambda: _numpy_orthogonal(rng, ortho_size)},
    ]


def run(size: int, ortho_size: int, repeat: int) -> list[dict[str, Any]]:
    records = []
    for case in cases(size, ortho_size):
        ours = best_of(case["paraminit"], repeat)
        theirs = best_of(case["numpy"], repeat)
        elements = math.prod(case["shape"])
        records.append({
            "law": case["law"],
            "shape": list(case["shape"]),
            "dtype": np.dtype(DTYPE).name,
            "baseline": case["baseline"],
            "paraminit_s": ours,
            "numpy_s": theirs,
            "ratio": ours / theirs if theirs > 0 else math.inf,
            "paraminit_melem_per_s": elements / ours / 1e6,
            "numpy_melem_per_s": elements / theirs / 1e6,
        })
    return records


COLUMNS = ("law", "shape", "paraminit s", "numpy s", "ratio", "baseline")


def _rows(records: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (r["law"], "x".join(map(str, r["shape"])), f"{r['paraminit_s']:.3f}",
         f"{r['numpy_s']:.3f}", f"{r['ratio']:.2f}", r["baseline"])
        for r in records
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="side of the square tensor")
    parser.add_argument("--ortho-size", type=int, default=1024,
                        help="side of the orthogonal matrix (QR is O(n^3))")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "sampling.json")
    args = parser.parse_args(argv)
    records = run(args.size, args.ortho_size, args.repeat)
    report(f"paraminit.numpy.sample vs NumPy/SciPy, float32, best of {args.repeat} "
           "(ratio = paraminit / numpy)", COLUMNS, _rows(records), records, args.out,
           benchmark="sampling",
           parameters={"size": args.size, "ortho_size": args.ortho_size,
                       "repeat": args.repeat})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
