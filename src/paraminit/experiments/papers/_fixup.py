"""Zhang et al. 2019, De & Smith 2020, Bachlechner et al. 2020: a 64-block residual MLP
without normalisation trains from Fixup, SkipInit and ReZero; from plain He it diverges.

Zhang, Dauphin & Ma 2019, "Fixup Initialization: Residual Learning Without Normalization",
ICLR, §2 (with a standard init the output variance of a residual net grows exponentially
with the number of blocks) and §3 (Fixup). With He-initialised Linear-ReLU-Linear branches,
each block x + F(x) multiplies the signal's second moment by about 1 + 2 = 3 (the branch
keeps it, He's 2/n undoing the ReLU's halving, twice), so 64 blocks give logits of
order 3^32 ≈ 2e15 and the first step's gradient overflows. Fixup (branch layers scaled by
L^(-1/(2m-2)) = 64^(-1/2), last layers and classifier 0) and a residual scalar at 0
(SkipInit, De & Smith 2020, §4; ReZero, Bachlechner et al. 2020, §3) start every block at
the identity. The ``compare`` loop's SGD with momentum and gradient-norm clipping at 1: without
clipping He's loss is NaN at step 2, with it the loss stays near 1e10 (both divergence); but
without clipping SkipInit/ReZero at width 32 diverged too (step 15: at init all 64 scalars
get the same gradient, so the first steps move the 64 blocks together). ``quick`` runs 16
blocks for 80 steps (He's logits of order 3^8 still give a loss far above ln 10).

ZerO (Zhao et al. 2022) is run and recorded, not judged (the papers above make no claim
about it; skipped in ``quick``). In the pilot without clipping it diverged (NaN by step 37);
with clipping it trained (100 % train accuracy, seeds 0 and 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ...torch import init
from ...torch.recipes import ResidualScale, fixup, rezero, skipinit, zer_o
from .._config import CompareConfig
from .._training import Tensors, _evaluate, train
from ._base import Benchmark, Outcome, Progress, check, digits

BLOCKS = 64
TARGET_ACCURACY = 0.98
LR = 0.05
CLIP = 1.0  # compare's default gradient-norm clipping


class _Residual(nn.Module):
    """x + branch(x): a residual block without a scalar."""

    def __init__(self, branch: nn.Module) -> None:
        super().__init__()
        self.branch = branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


def residual_mlp(inputs: int, classes: int, *, width: int, blocks: int,
                 gated: bool) -> nn.Sequential:
    """Flatten, Linear(inputs, width), ``blocks`` residual blocks of Linear-ReLU-Linear
    (wrapped in :class:`ResidualScale` when ``gated``), Linear(width, classes); no norms."""
    wrap: Callable[[nn.Module], nn.Module] = ResidualScale if gated else _Residual
    body = [wrap(nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width)))
            for _ in range(blocks)]
    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, width), nn.Sequential(*body),
                         nn.Linear(width, classes))


# label -> (recipe, gated blocks, judged)
CASES: dict[str, tuple[Any, bool, bool]] = {
    "he": ("he", False, True), "fixup": (fixup(), False, True),
    "skipinit": (skipinit(), True, True), "rezero": (rezero(), True, True),
    "zer_o": (zer_o(), False, False),
}


def _clean(value: float) -> float | None:
    return value if math.isfinite(value) else None


def run(quick: bool, progress: Progress) -> Outcome:
    data = digits()
    tensors = Tensors.of(data)
    width, blocks, steps, seeds = (64, 16, 80, (0,)) if quick else (64, BLOCKS, 150, (0, 1))
    config = CompareConfig(steps=steps, lr=LR, clip=CLIP, seeds=seeds).resolved()
    inputs = int(np.prod(data.input_shape))
    records = []
    for label, (recipe, gated, judged) in CASES.items():
        if quick and not judged:
            continue
        for seed in seeds:
            torch.manual_seed(seed)  # construction only; init() sets every value
            model = residual_mlp(inputs, data.classes, width=width, blocks=blocks,
                                 gated=gated)
            plan = init(model, recipe, seed=seed)
            initial_loss, _ = _evaluate(model, tensors.x_train, tensors.y_train)
            curve, finite = train(model, config, tensors, seed,
                                  lambda e, label=label: progress({**e, "method": label}))
            final_loss, accuracy = _evaluate(model, tensors.x_train, tensors.y_train)
            records.append({"method": label, "preset": plan.preset, "seed": seed,
                            "initial_loss": _clean(initial_loss),
                            "final_loss": _clean(final_loss), "train_accuracy": accuracy,
                            "finite": finite, "steps_run": len(curve),
                            "loss_curve": [_clean(v) for v in curve]})
    checks = []
    uniform = math.log(data.classes)
    he = [r for r in records if r["method"] == "he"]
    checks.append(check(
        f"He init: {blocks} residual blocks without normalisation diverge",
        "; ".join(f"initial loss {r['initial_loss']:.3g}, "
                  + (f"NaN/inf at step {r['steps_run']}" if not r["finite"]
                     else f"final loss {r['final_loss']:.3g}") for r in he),
        f"a non-finite loss, or a final loss above ln {data.classes} = {uniform:.4f} "
        "(every seed)",
        all(not r["finite"] or r["final_loss"] is None or r["final_loss"] > uniform
            for r in he)))
    for label in ("fixup", "skipinit", "rezero"):
        accuracy = [r["train_accuracy"] for r in records if r["method"] == label]
        checks.append(check(f"{label} trains the {blocks}-block net",
                            "train accuracy " + ", ".join(f"{v:.1%}" for v in accuracy),
                            f">= {TARGET_ACCURACY:.0%} (every seed)",
                            all(v >= TARGET_ACCURACY for v in accuracy)))
    curves = {label: [r["loss_curve"] for r in records if r["method"] == label]
              for label in ("skipinit", "rezero")}
    same = curves["skipinit"] == curves["rezero"]
    checks.append(check("SkipInit and ReZero are one parametrisation without norms",
                        "loss curves " + ("identical" if same else "differ"),
                        "identical, step by step", same))
    settings = {"dataset": data.name, "arch": f"residual mlp: Linear(64, {width}), {blocks} x "
                f"[x + Linear-ReLU-Linear({width})], Linear({width}, {data.classes})",
                "width": width, "blocks": blocks, "steps": steps, "lr": LR,
                "optimizer": f"sgd, momentum {config.momentum}", "batch": config.batch_size,
                "schedule": f"warm-up {config.warmup:.0%}, cosine", "clip": CLIP,
                "seeds": list(seeds), "judged": [k for k, v in CASES.items() if v[2]],
                "recorded": [k for k, v in CASES.items() if not v[2]]}
    return Outcome(settings=settings, records=records, checks=checks)


BENCHMARK = Benchmark(
    name="fixup2019",
    title="Deep residual nets without normalisation",
    cite="Zhang et al. 2019",
    paper="Zhang, Dauphin & Ma 2019, 'Fixup Initialization: Residual Learning Without "
          "Normalization', ICLR, §2-3; De & Smith 2020, NeurIPS, §4 (SkipInit); Bachlechner "
          "et al. 2020, 'ReZero is All You Need', §3",
    claim=f"A {BLOCKS}-block residual MLP (Linear-ReLU-Linear branches, no normalisation) on "
          "the digits: under He init the loss diverges; Fixup, SkipInit and ReZero reach >= "
          "98 % train accuracy.",
    run=run,
)
