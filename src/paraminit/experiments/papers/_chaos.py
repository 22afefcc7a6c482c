"""Schoenholz et al. 2017: deep tanh networks train only within ~6 xi_c of the edge of chaos.

Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, "Deep Information Propagation", ICLR,
§3-5: the correlation of two inputs reaches its fixed point over xi_c layers (Eq. 9);
a network trains when its depth is below about 6 xi_c, and xi_c diverges on the
order-to-chaos line chi1 = 1 (Poole et al. 2016). Here: tanh MLPs with weights
N(0, sigma_w2 / fan_in) and biases N(0, 0.05) on the digits, one cell per
(sigma_w2, depth), against the 6 xi_c line computed by :func:`paraminit.theory.depth_scales`.
"""

from __future__ import annotations

import math

import numpy as np

from ... import theory
from .._compare import run_all
from .._config import CompareConfig
from .._methods import Method
from ._base import Benchmark, Outcome, Progress, check, digits

SIGMA_B2 = 0.05
DEPTH = 60  # the depth at which the claim is checked
FAR = 30.0  # a column is "far" from criticality when 6 xi_c < FAR (half of DEPTH)


def _json(depth_scale: float) -> float | None:
    """6 xi_c for JSON: None where it is infinite (on the edge of chaos)."""
    return depth_scale if math.isfinite(depth_scale) else None


def _method(sigma_w2: float) -> Method:
    return Method("variance_scaling", {"scale": sigma_w2, "mode": "fan_in",
                                       "distribution": "normal"})


def run(quick: bool, progress: Progress) -> Outcome:
    critical = theory.critical_point("tanh", SIGMA_B2).sigma_w2
    if quick:
        columns, depths = (1.0, critical, 8.0), (DEPTH,)
    else:
        columns, depths = (0.5, 1.0, 1.4, critical, 2.4, 4.0, 8.0), (10, 20, 40, DEPTH, 90)
    data = digits()
    configs = [CompareConfig(depth=depth, width=128, activation="tanh",
                             bias_std=math.sqrt(SIGMA_B2), steps=150, seeds=(0,),
                             methods=tuple(_method(s) for s in columns)) for depth in depths]
    runs = run_all(configs, data=data, progress=progress)
    six_xi = {s: 6.0 * theory.depth_scales("tanh", sigma_w2=s, sigma_b2=SIGMA_B2).xi_c
              for s in columns}
    records = [{"sigma_w2": r["options"]["scale"], "depth": r["settings"]["depth"],
                "seed": r["seed"], "six_xi_c": _json(six_xi[r["options"]["scale"]]),
                "verdict": r["verdict"], "train_accuracy": r["train_accuracy"],
                "test_accuracy": r["test_accuracy"], "final_loss": r["final_loss"]}
               for r in runs]
    at_depth = {r["sigma_w2"]: r for r in records if r["depth"] == DEPTH}
    far = [s for s in columns if six_xi[s] < FAR]
    checks = [
        check(f"the critical column (σ_w² = {critical:.4f}) trains at depth {DEPTH}",
              f"{at_depth[critical]['verdict']}, train accuracy "
              f"{at_depth[critical]['train_accuracy']:.1%}", "trains",
              at_depth[critical]["verdict"] == "trains"),
        check(f"far columns (6 ξ_c < {FAR:g}: σ_w² = "
              f"{', '.join(f'{s:g}' for s in far)}) fail at depth {DEPTH}",
              ", ".join(f"{s:g}: {at_depth[s]['verdict']} {at_depth[s]['train_accuracy']:.1%}"
                        for s in far), "stalls or diverges",
              all(at_depth[s]["verdict"] != "trains" for s in far)),
    ]
    agree = [(r["depth"] <= six_xi[r["sigma_w2"]]) == (r["verdict"] == "trains")
             for r in records]
    grid = np.geomspace(0.4, 10.0, 121)
    line = [{"sigma_w2": float(s), "six_xi_c": _json(
        6.0 * theory.depth_scales("tanh", sigma_w2=float(s), sigma_b2=SIGMA_B2).xi_c)}
        for s in grid]
    settings = {**configs[0].resolved().settings(), "depth": list(depths),
                "sigma_w2": list(columns), "sigma_b2": SIGMA_B2,
                "methods": "variance_scaling:scale=sigma_w2,mode=fan_in,distribution=normal"}
    return Outcome(settings=settings, records=records, checks=checks,
                   extra={"six_xi_c_line": line, "critical_sigma_w2": critical,
                          "agreement_with_line": float(np.mean(agree))})


BENCHMARK = Benchmark(
    name="edge_of_chaos",
    title="Edge of chaos: trainability vs σ_w² and depth",
    cite="Schoenholz et al. 2017",
    paper="Schoenholz et al. 2017, 'Deep Information Propagation', ICLR, §3-5 (Eq. 9 for "
          "ξ_c; trainable while depth ≲ 6 ξ_c); Poole et al. 2016 for χ₁ = 1",
    claim="Tanh MLPs (σ_b² = 0.05) on the digits: the critical column "
          "(σ_w² = 1.7610) trains at depth 60; columns whose 6 ξ_c is far below 60 fail.",
    run=run,
)
