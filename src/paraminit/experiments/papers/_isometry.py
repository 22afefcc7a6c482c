"""Pennington, Schoenholz & Ganguli 2017: dynamical isometry.

"Resurrecting the sigmoid in deep learning through dynamical isometry: theory and
practice", NeurIPS, §2-3: at chi = 1 the squared singular values of the input-output
Jacobian have variance/mean² growing with depth L like L (mu2/mu1² - 1 - s1), s1 = -1 for
Gaussian and 0 for orthogonal weights (:func:`paraminit.theory.isometry_moments`). Tanh
with orthogonal weights at small q* is nearly isometric (slope near 0); ReLU cannot be
(slope >= 1); and, their §4, networks closer to isometry learn faster.

Spectrum: J of the hidden stack (square layers) at an input with q^1 = q*, singular values
by ``torch.linalg.svdvals``. Speed: the ``compare`` loop on the digits.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ... import theory
from .._compare import run_all
from .._config import CompareConfig
from .._methods import Method
from ._base import Benchmark, Outcome, Progress, check, digits, hidden_stack, initialised

SIGMA_B2 = 0.0025  # small bias: the critical tanh network has a small q*
SLOPE_TOLERANCE = 0.15  # relative, plus 0.02 absolute (finite width, few seeds)
LOSS_CRITERION = 0.5


def _cases() -> list[dict]:
    point = theory.critical_point("tanh", SIGMA_B2)
    tanh = theory.isometry_moments("tanh", sigma_w2=point.sigma_w2, sigma_b2=SIGMA_B2)
    relu = theory.isometry_moments("relu", sigma_w2=2.0, sigma_b2=0.0, q=1.0)
    gain = math.sqrt(point.sigma_w2)
    return [
        {"label": "tanh, orthogonal", "activation": "tanh", "weights": "orthogonal",
         "method": Method("orthogonal", {"gain": gain}), "bias_std": math.sqrt(SIGMA_B2),
         "sigma_w2": point.sigma_w2, "q": point.q_star,
         "predicted": tanh.variance_slope_orthogonal},
        {"label": "tanh, Gaussian", "activation": "tanh", "weights": "gaussian",
         "method": Method("variance_scaling", {"scale": point.sigma_w2,
                                               "distribution": "normal"}),
         "bias_std": math.sqrt(SIGMA_B2), "sigma_w2": point.sigma_w2, "q": point.q_star,
         "predicted": tanh.variance_slope_gaussian},
        {"label": "ReLU, orthogonal", "activation": "relu", "weights": "orthogonal",
         "method": Method("orthogonal", {"gain": math.sqrt(2.0)}), "bias_std": 0.0,
         "sigma_w2": 2.0, "q": 1.0, "predicted": relu.variance_slope_orthogonal},
        {"label": "ReLU, Gaussian (He)", "activation": "relu", "weights": "gaussian",
         "method": Method("he_normal"), "bias_std": 0.0, "sigma_w2": 2.0, "q": 1.0,
         "predicted": relu.variance_slope_gaussian},
    ]


def _spread(case: dict, depth: int, width: int, seed: int) -> float:
    """variance / mean² of the eigenvalues of J J^T for one network."""
    model = initialised((width,), width, depth=depth + 1, width=width,
                        activation=case["activation"], method=case["method"], seed=seed,
                        bias_std=case["bias_std"])
    stack = hidden_stack(model)
    generator = torch.Generator().manual_seed(1_000_003 + seed)
    # h^1 = W x + b has variance sigma_w2 |x|²/N + sigma_b2 = q*
    scale = math.sqrt(max(case["q"] - case["bias_std"] ** 2, 0.0) / case["sigma_w2"])
    x = torch.randn(width, generator=generator) * scale
    jacobian = torch.autograd.functional.jacobian(stack, x).to(torch.float64)
    squared = torch.linalg.svdvals(jacobian) ** 2
    return float(squared.var(correction=0) / squared.mean() ** 2)


def _mean_loss(curve: list[float | None], steps: int, classes: int) -> float:
    """Mean training loss over the whole step budget; a step after a divergence (NaN loss,
    curve cut short) counts as the uniform guess's loss ln(classes), never as missing."""
    uniform = math.log(classes)
    values = [uniform if v is None else v for v in curve]
    return float(np.mean(values + [uniform] * (steps - len(values))))


def run(quick: bool, progress: Progress) -> Outcome:
    cases = _cases()
    width, depths, seeds = (128, (1, 2, 4, 8), (0, 1)) if quick else (
        256, (1, 2, 4, 8, 16), (0, 1, 2, 3))
    records, checks = [], []
    for number, case in enumerate(cases):
        progress({"event": "measure", "task": "Jacobian spectra", "done": number,
                  "total": len(cases)})
        spreads = [float(np.mean([_spread(case, depth, width, s) for s in seeds]))
                   for depth in depths]
        # theory: spread = L * slope exactly (no intercept): least squares through 0
        slope = float(np.dot(depths, spreads) / np.dot(depths, depths))
        allowed = SLOPE_TOLERANCE * case["predicted"] + 0.02
        records.append({"kind": "spectrum", "case": case["label"], "depths": list(depths),
                        "spread": spreads, "slope": slope, "predicted": case["predicted"],
                        "sigma_w2": case["sigma_w2"], "q_star": case["q"]})
        checks.append(check(f"{case['label']}: slope of Var/mean² of J J^T's spectrum vs depth",
                            f"{slope:.4f}", f"{case['predicted']:.4f} ± {allowed:.3f}",
                            abs(slope - case["predicted"]) <= allowed))
    progress({"event": "measure", "task": "Jacobian spectra", "done": len(cases),
              "total": len(cases)})
    data = digits()
    depth, steps, train_seeds = (30, 100, (0,)) if quick else (50, 200, (0, 1))
    configs = [CompareConfig(depth=depth, width=128, activation=case["activation"],
                             bias_std=case["bias_std"], steps=steps, seeds=train_seeds,
                             methods=(case["method"],)) for case in cases]
    runs = run_all(configs, data=data, progress=progress)
    speed = {}
    for case, config in zip(cases, configs, strict=True):
        mine = [r for r in runs if r["settings"]["activation"] == config.activation
                and r["method"] == case["method"].label]
        mean_loss = float(np.mean([_mean_loss(r["loss_curve"], steps, data.classes)
                                   for r in mine]))
        speed[case["label"]] = mean_loss
        records.append({"kind": "training", "case": case["label"], "depth": depth,
                        "seeds": list(train_seeds), "mean_train_loss": mean_loss,
                        "loss_curves": [r["loss_curve"] for r in mine],
                        "train_accuracy": [r["train_accuracy"] for r in mine]})
    ranking = sorted(speed, key=speed.get)
    relu_best = min(speed["ReLU, orthogonal"], speed["ReLU, Gaussian (He)"])
    checks.append(check(
        "training speed: orthogonal tanh < Gaussian tanh < ReLU (mean training loss)",
        " < ".join(f"{k} {speed[k]:.3f}" for k in ranking),
        "tanh, orthogonal first; tanh, Gaussian before both ReLU",
        speed["tanh, orthogonal"] < speed["tanh, Gaussian"] < relu_best))
    settings = {"sigma_b2_tanh": SIGMA_B2, "spectrum_width": width,
                "spectrum_depths": list(depths), "spectrum_seeds": list(seeds),
                "training": {**configs[0].resolved().settings(), "activation": "per case",
                             "methods": [c["method"].label for c in cases]}}
    return Outcome(settings=settings, records=records, checks=checks)


BENCHMARK = Benchmark(
    name="isometry",
    title="Dynamical isometry: Jacobian spectrum and training speed",
    cite="Pennington et al. 2017",
    paper="Pennington, Schoenholz & Ganguli 2017, NeurIPS, §2-3 (spectrum of J J^T via free "
          "probability) and §4 (learning speed)",
    claim="At criticality, Var/mean² of J J^T's spectrum grows with depth at the slope "
          "isometry_moments predicts (orthogonal tanh near 0, Gaussian tanh ≈ 1, ReLU 1 and "
          "2), and orthogonal tanh learns fastest, then Gaussian tanh, then ReLU.",
    run=run,
)
