"""Saxe, McClelland & Ganguli 2014: deep linear networks with orthogonal init learn in
depth-independent time; scaled Gaussian init slows down with depth.

"Exact solutions to the nonlinear dynamics of learning in deep linear neural networks",
ICLR, §3 and Fig. 6A: with random orthogonal weights the time to a training criterion is
flat in depth, with scaled i.i.d. weights (variance 1/N) it grows. The learning rate was
tuned per depth and came out scaling like 1/N_l (their Fig. 4): here lr = 0.2 / depth for
both inits, no gradient clipping, no warm-up. Trained by the ``compare`` loop on the
digits (cross-entropy on a linear network, softmax at the end).
"""

from __future__ import annotations

import numpy as np

from .._compare import run_all
from .._config import CompareConfig
from .._methods import Method
from ._base import Benchmark, Outcome, Progress, check, digits, steps_to

METHODS = {"orthogonal": Method("orthogonal"), "scaled Gaussian": Method("lecun_normal")}
LR_TIMES_DEPTH = 0.2
CRITERION = 0.3  # train loss (5-step moving average)
FLAT = 1.5  # orthogonal: deepest / shallowest time at most this
SLOWER = 3.0  # Gaussian: deepest / shallowest time at least this


def run(quick: bool, progress: Progress) -> Outcome:
    depths, seeds, steps = ((2, 40), (0,), 150) if quick else ((2, 5, 10, 20, 40), (0, 1, 2), 200)
    configs = [CompareConfig(depth=depth, width=128, activation="linear", steps=steps,
                             lr=LR_TIMES_DEPTH / depth, clip=None, warmup=0.0, seeds=seeds,
                             methods=tuple(METHODS.values())) for depth in depths]
    runs = run_all(configs, data=digits(), progress=progress)
    label = {m.label: name for name, m in METHODS.items()}
    records = []
    for r in runs:
        reached = steps_to(r["loss_curve"], CRITERION)
        records.append({"method": label[r["method"]], "depth": r["settings"]["depth"],
                        "seed": r["seed"], "lr": r["settings"]["lr"],
                        "steps_to_criterion": reached,
                        # never reached: the whole budget, a lower bound on the time
                        "learning_time": steps if reached is None else reached,
                        "final_loss": r["final_loss"], "loss_curve": r["loss_curve"]})

    def time_at(name: str, depth: int) -> float:
        return float(np.mean([r["learning_time"] for r in records
                              if r["method"] == name and r["depth"] == depth]))

    def unreached(name: str) -> str:
        """The runs that never met the criterion, counted as the whole budget."""
        missed = sorted({r["depth"] for r in records
                         if r["method"] == name and r["steps_to_criterion"] is None})
        if not missed:
            return ""
        return (f" (depth {', '.join(map(str, missed))}: did not reach it within {steps} "
                f"steps, counted as {steps})")

    shallow, deep = depths[0], depths[-1]
    checks = []
    for name, bound, relation in (("orthogonal", FLAT, "<="), ("scaled Gaussian", SLOWER, ">=")):
        first, last = time_at(name, shallow), time_at(name, deep)
        ratio = last / first
        passed = ratio <= bound if relation == "<=" else ratio >= bound
        checks.append(check(
            f"{name}: steps to train loss < {CRITERION} at depth {deep} over depth {shallow}",
            f"{last:.1f} / {first:.1f} = {ratio:.2f}{unreached(name)}", f"{relation} {bound:g}",
            passed))
    settings = {**configs[0].resolved().settings(), "depth": list(depths),
                "lr": f"{LR_TIMES_DEPTH:g} / depth", "criterion": CRITERION}
    return Outcome(settings=settings, records=records, checks=checks)


BENCHMARK = Benchmark(
    name="saxe2014",
    title="Deep linear networks: learning time vs depth",
    cite="Saxe et al. 2014",
    paper="Saxe, McClelland & Ganguli 2014, ICLR, §3, Fig. 6A (and Fig. 4: optimal lr ~ 1/N_l)",
    claim="Deep linear MLPs on the digits, lr ∝ 1/depth: orthogonal init reaches the loss "
          "criterion in depth-independent time; scaled Gaussian N(0, 1/N) slows with depth.",
    run=run,
)
