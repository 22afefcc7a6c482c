"""Hanin & Rolnick 2018: the log squared-norm ratio of a deep He/ReLU network fluctuates
with the sum of reciprocal widths.

Hanin & Rolnick 2018, "How to Start Training: The Effect of Initialization and
Architecture", NeurIPS: with Var(W) = 2/fan_in the mean of the normalized squared
activation norm M = (|a^L|²/n_L) / (|x|²/n_0) is 1 at any depth, but log M fluctuates with
variance ≈ 5 β, β = Σ_l 1/n_l: a deep narrow network can start far from 1 (their
"failure mode 2"); to first order, equal β means equal spread.

The finite-width formula used here is derived exactly (our derivation, for Gaussian
weights and zero biases): given the layer below, the n_l pre-activations are i.i.d.
N(0, 2 |a^{l-1}|²/n_{l-1}), so |a^l|²/n_l = (|a^{l-1}|²/n_{l-1}) (2/n_l) χ²_K with K ~
Binomial(n_l, 1/2) active units, independently per layer. Hence
log M = Σ_l [log χ²_{K_l} + log(2/n_l)] with
    Var[log χ²_K] = E_K[ψ'(K/2)] + Var_K[ψ(K/2)],   E[log χ²_K] = E_K[ψ(K/2)] + ln 2
(ψ digamma, ψ' trigamma; K = 0 has probability 2^-n and is excluded), which is 5/n_l +
O(1/n_l²) per layer: the paper's 5 β.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special, stats

from .._methods import Method
from ._base import Benchmark, Outcome, Progress, check, digits, hidden_stack, initialised

HE = Method("he_normal")
SIGMAS = 4.0  # tolerance in standard errors of the sample variance
NARROW = 16  # at this width the exact law and its limit 5β differ by ~5 standard errors
BELOW = 3.0  # ... so 5β must fall at least this many standard errors below the measurement
INPUTS = 8  # digits examples pushed through every network


def log_ratio_moments(width: int, layers: int) -> tuple[float, float]:
    """Exact (mean, variance) of log M for ``layers`` ReLU layers of ``width`` units."""
    k = np.arange(1, width + 1)
    weights = stats.binom.pmf(k, width, 0.5)
    weights /= weights.sum()
    psi = special.digamma(k / 2.0)
    mean_psi = float(np.dot(weights, psi))
    variance = float(np.dot(weights, special.polygamma(1, k / 2.0))
                     + np.dot(weights, (psi - mean_psi) ** 2))
    mean = mean_psi + math.log(2.0) + math.log(2.0 / width)
    return layers * mean, layers * variance


def _variance_se(samples: np.ndarray) -> np.ndarray:
    """Standard error of the sample variance per column, from the sample's own fourth
    moment (log M is heavier-tailed than a Gaussian): sqrt((m4 - s^4) / n)."""
    centred = samples - samples.mean(axis=0)
    m4 = np.mean(centred ** 4, axis=0)
    return np.sqrt((m4 - samples.var(axis=0) ** 2) / len(samples))


def run(quick: bool, progress: Progress) -> Outcome:
    data = digits()
    archs = ((16, 10), (32, 10)) if quick else ((16, 10), (32, 20), (64, 40), (32, 10), (16, 20))
    seeds = range(800 if quick else 1000)
    x = torch.from_numpy(data.x_train[:INPUTS]).flatten(1)
    input_norm = (x.double() ** 2).sum(dim=1) / x.shape[1]
    records, checks = [], []
    for width, layers in archs:
        logs = np.empty((len(seeds), INPUTS))
        task = f"width {width} x {layers} layers: weight draws"
        for i, seed in enumerate(seeds):
            if i % 25 == 0:
                progress({"event": "measure", "task": task, "done": i, "total": len(seeds)})
            model = initialised(data.input_shape, data.classes, depth=layers + 1,
                                width=width, activation="relu", method=HE, seed=seed)
            with torch.no_grad():
                out = hidden_stack(model)(x).double()
            logs[i] = torch.log((out ** 2).sum(dim=1) / width / input_norm).numpy()
        progress({"event": "measure", "task": task, "done": len(seeds), "total": len(seeds)})
        # A layer with no active unit (probability 2^-width) zeroes everything above it:
        # log M = -inf. The formula conditions on K >= 1 at every layer; so do these draws.
        alive = np.all(np.isfinite(logs), axis=1)
        logs = logs[alive]
        exact_mean, exact_var = log_ratio_moments(width, layers)
        beta = layers / width
        variance = float(np.mean(logs.var(axis=0, ddof=1)))  # per input, over weights
        error = float(np.mean(_variance_se(logs)))
        records.append({
            "width": width, "hidden_layers": layers, "beta": beta,
            "samples": int(alive.sum()), "dead_networks": int((~alive).sum()),
            "variance": variance, "variance_exact": exact_var, "variance_5beta": 5 * beta,
            "variance_se": error, "mean": float(logs.mean()), "mean_exact": exact_mean,
            "mean_M": float(np.exp(logs).mean()),
            "log_ratio_input0": logs[:, 0].tolist(),
        })
        checks.append(check(
            f"width {width}, {layers} layers (β = {beta:.3g}): Var[log M] matches the "
            "finite-width formula",
            f"{variance:.4f}", f"{exact_var:.4f} ± {SIGMAS:g} SE ({SIGMAS * error:.4f}); "
            f"5β = {5 * beta:.4f}", abs(variance - exact_var) <= SIGMAS * error))
        if width == NARROW:
            checks.append(check(
                f"width {width}, {layers} layers: the large-width limit 5β is too low",
                f"(measured - 5β) / SE = {(variance - 5 * beta) / error:.1f}",
                f"> {BELOW:g}", variance - 5 * beta > BELOW * error))
    settings = {"dataset": data.name, "inputs": INPUTS, "samples_per_arch": len(seeds),
                "archs": [{"width": w, "hidden_layers": n} for w, n in archs],
                "method": HE.label, "biases": "zeros",
                "measured": "log((|a^L|²/n_L) / (|x|²/n_0)) at the last hidden layer, "
                            "variance over weight draws per input, averaged over inputs; "
                            "draws with a dead layer (log M = -inf) are left out, as the "
                            "formula conditions on every layer having an active unit"}
    return Outcome(settings=settings, records=records, checks=checks)


BENCHMARK = Benchmark(
    name="hanin2018",
    title="Hanin & Rolnick 2018: spread of the log norm ratio",
    cite="Hanin & Rolnick 2018",
    paper="Hanin & Rolnick 2018, 'How to Start Training', NeurIPS (failure mode 2: "
          "Var[log M] ≈ 5 Σ 1/n_l)",
    claim="For He-initialised ReLU MLPs, the variance over weight draws of log(|a^L|²/n_L "
          "/ |x|²/n_0) equals its exact finite-width value, a sum over layers that tends to "
          "5 β (β = Σ 1/n_l) as the widths grow; at width 16 it is measurably above 5 β.",
    run=run,
)
