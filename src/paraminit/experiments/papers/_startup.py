"""He et al. 2015: a 30-layer ReLU network starts training only under a ReLU-aware init.

He, Zhang, Ren & Sun 2015, "Delving Deep into Rectifiers", ICCV, §2.2 (Eq. 10:
Var(w) = 2/n_l keeps the variance of ReLU activations) and its 22/30-layer experiments:
with Xavier's Var(w) = 1/n the signal halves at every ReLU layer and the 30-layer model
does not learn. LSUV (Mishkin & Matas 2016, Algorithm 1) reaches the same by measurement.
Orthogonal weights with gain 1 (Saxe et al. 2014) preserve norms of *linear* maps only:
on ReLU they halve the variance per layer like Xavier.

A stall is a plateau, not a wall: given enough steps, SGD can leave it (Xavier seed 1
does at step 150 of 300 here). The check is the paper's: a ReLU-aware init starts
learning at once, the others sit at the uniform guess for the first 100 steps.
"""

from __future__ import annotations

import math

from .._compare import run_all
from .._config import CompareConfig
from .._methods import Method
from ._base import Benchmark, Outcome, Progress, check, digits, leaves, plateau_text

STALLING = ("xavier_normal", "orthogonal")
STARTING = ("he_normal", "lsuv")
TARGET_ACCURACY = 0.98
STALL_TOLERANCE = 0.01  # 5-step mean train loss within 0.01 of ln 10: the uniform guess
STALL_STEPS = 100  # ... for at least the first 100 of the 300 steps, in every seed


def run(quick: bool, progress: Progress) -> Outcome:
    data = digits()
    config = CompareConfig(depth=30, width=128, activation="relu", steps=300,
                           methods=tuple(Method(m) for m in (*STALLING, *STARTING)),
                           seeds=(0,) if quick else (0, 1, 2))
    records = run_all([config], data=data, progress=progress)
    uniform_loss = math.log(data.classes)
    checks = []
    for method in STALLING:
        mine = [r for r in records if r["method"] == method]
        left = [leaves(r["loss_curve"], uniform_loss, STALL_TOLERANCE) for r in mine]
        checks.append(check(
            f"{method} stalls at the uniform guess",
            "; ".join(f"seed {r['seed']}: {plateau_text(step, config.steps)}, final loss "
                      + ("NaN" if r["final_loss"] is None else f"{r['final_loss']:.4f}")
                      for r, step in zip(mine, left, strict=True)),
            f"loss within {STALL_TOLERANCE} of ln {data.classes} = {uniform_loss:.4f} for the "
            f"first {STALL_STEPS} steps (every seed)",
            all(s is None or s > STALL_STEPS for s in left)))
    for method in STARTING:
        accuracy = [r["train_accuracy"] for r in records if r["method"] == method]
        checks.append(check(
            f"{method} trains",
            "train accuracy " + ", ".join(f"{v:.1%}" for v in accuracy),
            f">= {TARGET_ACCURACY:.0%} (every seed)",
            all(v >= TARGET_ACCURACY for v in accuracy)))
    return Outcome(settings=config.resolved().settings(), records=records, checks=checks)


BENCHMARK = Benchmark(
    name="he2015",
    title="Deep ReLU start-up",
    cite="He et al. 2015",
    paper="He et al. 2015, 'Delving Deep into Rectifiers', ICCV, §2.2 (Eq. 10) and the "
          "30-layer experiment; LSUV: Mishkin & Matas 2016, ICLR, Algorithm 1",
    claim="A 30-layer, 128-wide ReLU MLP on the digits: Xavier and plain orthogonal init "
          "stall at loss ln 10 (for at least the first 100 of 300 steps); He and LSUV reach "
          ">= 98 % train accuracy.",
    run=run,
)
