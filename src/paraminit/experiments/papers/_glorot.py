"""Glorot & Bengio 2010: the "standard" init shrinks back-propagated gradients by √(1/3)
per layer; the normalized (Xavier) init keeps them.

Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural
networks", AISTATS, §4.2: in the linear regime Var[∂L/∂s^i] = Var[∂L/∂s^{i+1}]·n Var[W]
(Eq. 6-7), and the standard init W ~ U[-1/√n, 1/√n] (Eq. 1) has n Var[W] = 1/3, so the
gradient std shrinks by √(1/3) per layer going down; the normalized init (Eq. 16) has
n Var[W] = 1 for square layers. PyTorch's default ``nn.Linear`` init is that standard
init: kaiming_uniform(a=√5) gives bound 1/√fan_in (here ``he_uniform`` with
nonlinearity="leaky_relu", slope=√5).

Measured at init, on a batch of digits, in a deep linear network (exactly the linear
regime) and, for the plot, in the same network with tanh.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...torch import probe
from .._methods import Method
from ._base import Benchmark, Outcome, Progress, check, digits, initialised

TORCH_DEFAULT = Method("he_uniform", {"nonlinearity": "leaky_relu", "slope": math.sqrt(5.0)})
XAVIER = Method("xavier_uniform")
METHODS = {"torch_default": (TORCH_DEFAULT, math.sqrt(1.0 / 3.0)), "xavier_uniform": (XAVIER, 1.0)}


def _ratios(values: list[float]) -> list[float]:
    """Layer-to-layer ratios going down: value[l] / value[l+1]."""
    return [values[i] / values[i + 1] for i in range(len(values) - 1)]


def run(quick: bool, progress: Progress) -> Outcome:
    data = digits()
    depth, width = (8, 128) if quick else (11, 256)
    seeds = (0,) if quick else (0, 1, 2)
    batch = 256
    x = torch.from_numpy(data.x_train[:batch])
    y = torch.from_numpy(data.y_train[:batch])
    records = []
    for activation in ("linear", "tanh"):
        for label, (method, _) in METHODS.items():
            for seed in seeds:
                model = initialised(data.input_shape, data.classes, depth=depth, width=width,
                                    activation=activation, method=method, seed=seed)
                layers = [p for p in probe(model, x, y) if p.name != "out"]
                grads = [p.grad_norm for p in layers]
                stds = [p.act_std for p in layers]
                records.append({
                    "activation": activation, "method": label, "seed": seed,
                    "layers": [p.name for p in layers], "act_std": stds, "grad_norm": grads,
                    # consecutive hidden layers: each ratio is through one square weight
                    "grad_ratio": float(np.exp(np.mean(np.log(_ratios(grads))))),
                    "act_ratio": float(np.exp(np.mean(np.log(
                        [1.0 / r for r in _ratios(stds)])))),
                })
    transitions = depth - 2  # hidden-to-hidden weight matrices below the top hidden layer
    # ‖W^T v‖/‖v‖ has relative sd ~ 1/sqrt(2 width) per direction; the back-propagated
    # batch gradient of a softmax cross-entropy spans at most classes - 1 directions (its
    # rows sum to 0); geometric mean over layers and seeds.
    tolerance = 5.0 / math.sqrt(2.0 * width * (data.classes - 1) * transitions * len(seeds))
    checks = []
    for label, (_, expected) in METHODS.items():
        ratios = [r["grad_ratio"] for r in records
                  if r["method"] == label and r["activation"] == "linear"]
        measured = float(np.exp(np.mean(np.log(ratios))))
        checks.append(check(
            f"{label}: back-propagated gradient rms ratio per layer (linear regime)",
            f"{measured:.4f}", f"{expected:.4f} ± {tolerance:.1%}",
            abs(measured / expected - 1.0) <= tolerance))
    settings = {"dataset": data.name, "arch": "mlp", "depth": depth, "width": width,
                "activations": ["linear", "tanh"], "batch": batch, "seeds": list(seeds),
                "methods": {k: m.label for k, (m, _) in METHODS.items()},
                "biases": "zeros", "relative_tolerance": tolerance,
                "measured": "probe at init: ‖∂L/∂(layer output)‖ per hidden layer, "
                            "cross-entropy on the batch"}
    return Outcome(settings=settings, records=records, checks=checks)


BENCHMARK = Benchmark(
    name="glorot2010",
    title="Glorot 2010: gradient std through depth at init",
    cite="Glorot & Bengio 2010",
    paper="Glorot & Bengio 2010, AISTATS, §4.2 (Eq. 1 'standard' init, Eq. 6-7, Eq. 16 "
          "normalized init)",
    claim="In the linear regime, PyTorch's default Linear init (U[-1/√n, 1/√n], n Var W = "
          "1/3) shrinks back-propagated gradients by √(1/3) ≈ 0.577 per layer; Xavier keeps ≈ 1.",
    run=run,
)
