"""Klambauer et al. 2017: SELU with LeCun-normal weights is self-normalizing.

Klambauer, Unterthiner, Mayr & Hochreiter 2017, "Self-Normalizing Neural Networks",
NeurIPS, §3: with weights of mean 0 and variance 1/n (LeCun normal) and the constants
lambda_01 ≈ 1.0507, alpha_01 ≈ 1.6733, the map of (mean, variance) from layer to layer has
the stable, attracting fixed point (0, 1). Measured at init on a batch of digits: the mean
and variance of every hidden layer's activations (all units and examples) over 32 layers,
against ReLU + He (variance kept, mean not 0) and SELU + He (variance not kept).
"""

from __future__ import annotations

import numpy as np
import torch

from ...torch import probe
from .._methods import Method
from ._base import Benchmark, Outcome, Progress, check, digits, initialised

CASES = {"SELU + LeCun normal": ("selu", Method("lecun_normal")),
         "ReLU + He normal": ("relu", Method("he_normal")),
         "SELU + He normal": ("selu", Method("he_normal"))}
HIDDEN = 32
# |mean| and |variance - 1| at every hidden layer. Not 0.1: 3 of the 64 digits pixels are
# constant (standardized to 0), so the first layer starts at variance ~0.95 x 0.95 and the
# map needs a few layers to pull it back to 1 (the attraction is the claim).
TOLERANCE = 0.15
SETTLED = 0.03  # |mean| and |variance - 1| averaged over the last 8 layers and the seeds
RUNAWAY = 2.0  # SELU + He: variance at the last layer at least this (no fixed point at 1)


def run(quick: bool, progress: Progress) -> Outcome:
    data = digits()
    width, seeds = (128, (0,)) if quick else (256, (0, 1, 2))
    x = torch.from_numpy(data.x_train[:512])
    records = []
    for label, (activation, method) in CASES.items():
        for seed in seeds:
            model = initialised(data.input_shape, data.classes, depth=HIDDEN + 1, width=width,
                                activation=activation, method=method, seed=seed)
            layers = [p for p in probe(model, x) if p.name != "out"]
            records.append({"case": label, "seed": seed, "layers": [p.name for p in layers],
                            "mean": [p.act_mean for p in layers],
                            "variance": [p.act_std ** 2 for p in layers]})
    selu = [r for r in records if r["case"] == "SELU + LeCun normal"]
    worst_mean = max(abs(v) for r in selu for v in r["mean"])
    worst_var = max(abs(v - 1.0) for r in selu for v in r["variance"])
    # the fixed point is a statement about expectations: average over the last 8 layers
    # (each layer's statistic fluctuates by a few per cent at this width) and the seeds
    settled = max(abs(float(np.mean([r["mean"][-8:] for r in selu]))),
                  abs(float(np.mean([r["variance"][-8:] for r in selu])) - 1.0))
    he = [r for r in records if r["case"] == "SELU + He normal"]
    he_variance = min(r["variance"][-1] for r in he)
    checks = [
        check(f"SELU + LeCun: mean of every one of {HIDDEN} hidden layers near 0",
              f"max |mean| = {worst_mean:.4f}", f"<= {TOLERANCE}", worst_mean <= TOLERANCE),
        check(f"SELU + LeCun: variance of every one of {HIDDEN} hidden layers near 1",
              f"max |variance - 1| = {worst_var:.4f}", f"<= {TOLERANCE}",
              worst_var <= TOLERANCE),
        check("SELU + LeCun: the last 8 layers sit at the fixed point (0, 1)",
              f"max(|mean|, |variance - 1|) of their average = {settled:.4f}", f"<= {SETTLED}",
              settled <= SETTLED),
        check(f"SELU needs Var(w) = 1/n: with He's 2/n the variance runs away "
              f"(smallest over seeds at layer {HIDDEN})",
              f"variance {he_variance:.3g}", f"> {RUNAWAY:g}", he_variance > RUNAWAY),
    ]
    settings = {"dataset": data.name, "arch": "mlp", "hidden_layers": HIDDEN, "width": width,
                "batch": int(x.shape[0]), "seeds": list(seeds), "biases": "zeros",
                "cases": {k: f"{a}, {m.label}" for k, (a, m) in CASES.items()},
                "measured": "probe at init: mean and variance of each hidden layer's "
                            "activations over all units and examples"}
    return Outcome(settings=settings, records=records, checks=checks)


BENCHMARK = Benchmark(
    name="selu2017",
    title="Self-normalization: SELU + LeCun normal",
    cite="Klambauer et al. 2017",
    paper="Klambauer et al. 2017, 'Self-Normalizing Neural Networks', NeurIPS, §3 (fixed "
          "point (0, 1) of the mean/variance map; lambda_01, alpha_01)",
    claim="SELU with LeCun-normal weights keeps the activations' mean ≈ 0 and variance ≈ 1 "
          "through 32 layers at init.",
    run=run,
)
