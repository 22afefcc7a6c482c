"""Theory against wide random NumPy networks (fixed seeds).

A layer is h^{l+1} = W x^l + b, x^l = phi(h^l), W_ij ~ N(0, sigma_w2 / N), b_i ~ N(0, sigma_b2).

One-step checks (the sharpest): given layer l, the next layer's pre-activations are exactly
Gaussian with covariance K^{l+1} = sigma_w2 x^T x / N + sigma_b2, computable from the data.
Its entries are means over N i.i.d. units of a function of h^l, whose law given the past is
N(0, K^l); so each observed K^{l+1} minus the theory's prediction from K^l (variance_map,
correlation_map, chi1 at q = K^l) has mean 0 and a standard deviation sd_unit / sqrt(N),
estimated from the same N units (the delta method for the correlation). These residuals are
martingale differences, independent across layers and seeds: standardised, each is
approximately N(0, 1) by the CLT over N = 1000 units. Each |z| must be < Z_MAX = 5 (two-sided
p = 6e-7; over the ~500 residuals here, a false alarm has probability < 3e-4), and the mean
of n = 24 of them (8 layers x 3 seeds) must be within 4 / sqrt(n) of 0. A systematic
error e in a map moves every z by e * value * sqrt(N) / sd_unit: measured, a 1% error in
the q map, chi1 or the c map moves the pooled statistic by 1-2.5, so errors of ~3% and more
fail, the "few per cent" resolution of N = 1000 networks. Over 12 further seeds the z's
have standard deviation 0.94-1.06, as the derivation says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from scipy import special, stats

import paraminit.theory as th

Z_MAX = 5.0
Z_MEAN = 4.0
WIDTH = 1000
DEPTH = 8
SEEDS = (0, 1, 2)


@dataclass
class Residuals:
    q: list[float] = field(default_factory=list)
    c: list[float] = field(default_factory=list)
    chi: list[float] = field(default_factory=list)


def _weights(rng: np.random.Generator, width: int, sigma_w2: float) -> np.ndarray:
    return rng.standard_normal((width, width)) * math.sqrt(sigma_w2 / width)


def _correlation(K: np.ndarray) -> float:
    return float(K[0, 1] / math.sqrt(K[0, 0] * K[1, 1]))


def one_step_residuals(activation, phi, dphi, sigma_w2, sigma_b2, *, q0, c0) -> Residuals:
    """Standardised one-step residuals of the q map, the c map and chi1 (module docstring)."""
    kwargs = {"sigma_w2": sigma_w2, "sigma_b2": sigma_b2}
    out = Residuals()
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((WIDTH, 2))
        # layer 0: two inputs with variance q0 and correlation c0, so K^0 is known exactly
        h = math.sqrt(q0) * np.column_stack(
            [z[:, 0], c0 * z[:, 0] + math.sqrt(1 - c0**2) * z[:, 1]])
        K = np.array([[q0, q0 * c0], [q0 * c0, q0]])
        for _ in range(DEPTH):
            x = phi(h)
            W = _weights(rng, WIDTH, sigma_w2)
            # chi1: mean squared singular value of this layer's Jacobian W diag(phi'(h))
            per_unit = dphi(h[:, 0]) ** 2 * np.sum(W**2, axis=0)
            theory = th.chi1(activation, q=K[0, 0], **kwargs)
            out.chi.append((per_unit.mean() - theory) / (per_unit.std() / math.sqrt(WIDTH)))
            # q map: K^{l+1}_aa = mean of sigma_w2 x_a^2 + sigma_b2 over units
            terms = sigma_w2 * x**2 + sigma_b2
            K_next = sigma_w2 * x.T @ x / WIDTH + sigma_b2
            theory = th.variance_map(activation, K[0, 0], **kwargs)
            out.q.append((K_next[0, 0] - theory) / (terms[:, 0].std() / math.sqrt(WIDTH)))
            # c map, in its equal-length form at the geometric-mean length: by symmetry in
            # the two inputs the error of that is second order in K_aa - K_bb = O(N^-1/2)
            c_next = _correlation(K_next)
            theory = th.correlation_map(activation, _correlation(K),
                                        q=math.sqrt(K[0, 0] * K[1, 1]), **kwargs)
            cross = sigma_w2 * x[:, 0] * x[:, 1] + sigma_b2
            linearised = (cross / math.sqrt(K_next[0, 0] * K_next[1, 1])
                          - 0.5 * c_next * (terms[:, 0] / K_next[0, 0]
                                            + terms[:, 1] / K_next[1, 1]))
            out.c.append((c_next - theory) / (linearised.std() / math.sqrt(WIDTH)))
            h = W @ x + rng.standard_normal(WIDTH)[:, None] * math.sqrt(sigma_b2)
            K = K_next
    return out


def _tanh_prime(h):
    return 1.0 - np.tanh(h) ** 2


def _erf_prime(h):
    return 2.0 / math.sqrt(math.pi) * np.exp(-(h**2))


SELU_ALPHA, SELU_LAMBDA = 1.6732632423543772, 1.0507009873554805  # Klambauer et al. 2017


def _selu(h):
    return SELU_LAMBDA * np.where(h > 0, h, SELU_ALPHA * np.expm1(np.minimum(h, 0.0)))


def _selu_prime(h):
    return SELU_LAMBDA * np.where(h > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(h, 0.0)))


NETWORKS = {
    # name: (activation for the theory, phi, phi', sigma_w2, sigma_b2, q0, c0)
    "tanh-ordered": ("tanh", np.tanh, _tanh_prime, 1.0, 0.05, 1.0, 0.5),
    "tanh-critical": ("tanh", np.tanh, _tanh_prime, 1.76095, 0.05, 1.0, 0.5),
    "tanh-chaotic": ("tanh", np.tanh, _tanh_prime, 4.0, 0.05, 1.0, 0.9),
    "relu": ("relu", lambda h: np.maximum(h, 0.0), lambda h: (h > 0).astype(float),
             1.5, 0.1, 1.0, 0.5),
    "selu-lecun": ("selu", _selu, _selu_prime, 1.0, 0.0, 1.0, 0.5),
    # a callable the library does not know: numeric derivatives on the theory side
    "erf-callable": (special.erf, special.erf, _erf_prime, 2.0, 0.1, 1.0, 0.5),
}


# Monte-Carlo over random networks, seconds each: one in the fast loop, the rest marked slow
@pytest.mark.parametrize("network", [
    name if name == "relu" else pytest.param(name, marks=pytest.mark.slow)
    for name in sorted(NETWORKS)])
def test_one_step_maps_match_random_networks(network):
    activation, phi, dphi, sigma_w2, sigma_b2, q0, c0 = NETWORKS[network]
    residuals = one_step_residuals(activation, phi, dphi, sigma_w2, sigma_b2, q0=q0, c0=c0)
    for quantity in ("q", "c", "chi"):
        z = np.asarray(getattr(residuals, quantity))
        assert np.all(np.isfinite(z)), quantity
        assert np.max(np.abs(z)) < Z_MAX, (quantity, z)
        assert abs(z.mean()) * math.sqrt(z.size) < Z_MEAN, (quantity, z.mean(), z)


# ---------------------------------------------------------------------------------------
# End to end: a deep network follows the q map to q* with chi1 as predicted (REFERENCE.md).
#
# The measured q is K^L = sigma_w2 mean(x^{L-1}^2) + sigma_b2, the variance of layer L's
# pre-activations given the realised layer L-1 (mean(h^2) adds only one more chi^2_N draw),
# compared with the theory's q^L = V(V(...V(q^0))); chi1 is the mean squared singular value of
# layer L's Jacobian, compared with chi1(q^L). Finite width makes K^l a noisy AR(1) around
# q^l: K^{l+1} - q^{l+1} ~ V'(q^l) (K^l - q^l) + eps_l, sd(eps) = sigma_w2 sd(phi(h)^2)/sqrt(N),
# so var(K^L - q^L) <= var(eps) / (1 - V'^2) with V' <= V'(q*) = e^{-1/xi_q} on the way down
# from q^0 = 1 (tanh's V' grows as q falls); chi1 measured at layer L adds its sampling
# sd(per unit) / sqrt(N) and the drift dchi1/dq (K^L - q^L). All are estimated per seed from
# the data, and the mean over seeds must be within Z_MEAN standard errors.

END_TO_END_SEEDS = tuple(range(10, 22))
END_TO_END_DEPTH = 10


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sigma_w2", "sigma_b2", "q_star", "chi1"),
    [(1.0, 0.05, 0.1936, 0.7590), (1.76095, 0.05, 0.57005, 1.0)],
)
def test_deep_tanh_network_follows_the_q_map_to_q_star(sigma_w2, sigma_b2, q_star, chi1):
    kwargs = {"sigma_w2": sigma_w2, "sigma_b2": sigma_b2}
    scales = th.depth_scales("tanh", **kwargs)
    assert scales.q_star == pytest.approx(q_star, abs=5e-5)
    assert scales.chi1 == pytest.approx(chi1, abs=5e-5)
    q_theory = 1.0
    for _ in range(END_TO_END_DEPTH):
        q_theory = th.variance_map("tanh", q_theory, **kwargs)
    # after 10 layers the theory itself is within 0.5% of q* (the transient ~ V'^L)
    assert q_theory == pytest.approx(scales.q_star, rel=5e-3)
    chi_theory = th.chi1("tanh", q=q_theory, **kwargs)
    slope = math.exp(-1.0 / scales.xi_q)  # V'(q*)
    h_q = 1e-4
    chi1_slope = (th.chi1("tanh", q=q_theory + h_q, **kwargs)
                  - th.chi1("tanh", q=q_theory - h_q, **kwargs)) / (2 * h_q)
    q_seen, chi_seen, q_var, chi_var = [], [], [], []
    for seed in END_TO_END_SEEDS:
        rng = np.random.default_rng(seed)
        h = rng.standard_normal(WIDTH)  # q^0 = 1, away from q*
        for _ in range(END_TO_END_DEPTH):
            x = np.tanh(h)
            h = _weights(rng, WIDTH, sigma_w2) @ x + rng.standard_normal(WIDTH) * math.sqrt(
                sigma_b2)
        q_seen.append(sigma_w2 * np.mean(x**2) + sigma_b2)
        drift = (sigma_w2 * np.std(x**2)) ** 2 / WIDTH / (1 - slope**2)
        per_unit = _tanh_prime(h) ** 2 * np.sum(_weights(rng, WIDTH, sigma_w2) ** 2, axis=0)
        chi_seen.append(per_unit.mean())
        q_var.append(drift)
        chi_var.append(per_unit.var() / WIDTH + chi1_slope**2 * drift)
    seeds = len(END_TO_END_SEEDS)
    q_tol = Z_MEAN * math.sqrt(np.mean(q_var) / seeds)
    chi_tol = Z_MEAN * math.sqrt(np.mean(chi_var) / seeds)
    # the tolerances are "a few per cent" (N = 1000, 12 seeds), and the data meet them
    assert q_tol < 0.05 * q_theory and chi_tol < 0.05 * chi_theory
    assert np.mean(q_seen) == pytest.approx(q_theory, abs=q_tol)
    assert np.mean(chi_seen) == pytest.approx(chi_theory, abs=chi_tol)


# ---------------------------------------------------------------------------------------
# Dynamical isometry (Pennington, Schoenholz & Ganguli 2017): at chi = 1 the eigenvalues of
# J J^T, J = D^L W^L ... D^1 W^1 the input-output Jacobian, have mean 1 and variance L s,
# s = mu2/mu1^2 for Gaussian W, mu2/mu1^2 - 1 for orthogonal W (derivation in _isometry.py).
#
# Per network we measure the normalised variance m2/m1^2 - 1 (m1 = |J|_F^2 / N,
# m2 = |J J^T|_F^2 / N), whose large-N limit is L s at any chi. Tolerance: a Student-t
# interval from the spread over ISO_SEEDS seeds (t_{9} two-sided 1e-4 quantile = 6.0), plus
# a finite-width allowance of 2 L / N relative: the estimate is a ratio of spectral moments
# whose fluctuations grow like L / N; at N = 400 and 800, L = 4..16, the measured bias is
# <= 1.3 L / N for linear, tanh and ReLU networks.

ISO_WIDTH = 256
ISO_DEPTHS = (4, 8)
ISO_SEEDS = tuple(range(10))
ISO_T = stats.t.ppf(1 - 0.5e-4, len(ISO_SEEDS) - 1)


def _haar_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))  # Mezzadri 2007: the sign fix makes Q Haar-distributed


def jacobian_spread(phi, dphi, sigma_w2, sigma_b2, q0, weights, seed) -> dict[int, float]:
    rng = np.random.default_rng(seed)
    h = rng.standard_normal(ISO_WIDTH) * math.sqrt(q0)
    J = np.eye(ISO_WIDTH)
    spread = {}
    for layer in range(1, max(ISO_DEPTHS) + 1):
        if weights == "orthogonal":
            W = _haar_orthogonal(rng, ISO_WIDTH) * math.sqrt(sigma_w2)
        else:
            W = _weights(rng, ISO_WIDTH, sigma_w2)
        h = W @ phi(h) + rng.standard_normal(ISO_WIDTH) * math.sqrt(sigma_b2)
        J = dphi(h)[:, None] * (W @ J)
        if layer in ISO_DEPTHS:
            m1 = np.sum(J**2) / ISO_WIDTH
            m2 = np.sum((J @ J.T) ** 2) / ISO_WIDTH
            spread[layer] = m2 / m1**2 - 1.0
    return spread


def _tanh_critical_05():
    point = th.critical_point("tanh", 0.5)
    return ("tanh", np.tanh, _tanh_prime, point.sigma_w2, 0.5, point.q_star)


ISOMETRY_NETWORKS = {
    # q0: inputs on the fixed point (ReLU and linear are scale-free, so any q works)
    "tanh": _tanh_critical_05,
    "relu": lambda: ("relu", lambda h: np.maximum(h, 0.0), lambda h: (h > 0).astype(float),
                     2.0, 0.0, 1.0),
    "linear": lambda: ("linear", lambda h: h, np.ones_like, 1.0, 0.0, 1.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("weights", ["gaussian", "orthogonal"])
@pytest.mark.parametrize("network", sorted(ISOMETRY_NETWORKS))
def test_jacobian_spectrum_variance_slopes(network, weights):
    name, phi, dphi, sigma_w2, sigma_b2, q0 = ISOMETRY_NETWORKS[network]()
    moments = th.isometry_moments(name, sigma_w2=sigma_w2, sigma_b2=sigma_b2, q=q0)
    assert moments.chi == pytest.approx(1.0, abs=1e-9)
    runs = [jacobian_spread(phi, dphi, sigma_w2, sigma_b2, q0, weights, seed)
            for seed in ISO_SEEDS]
    for depth in ISO_DEPTHS:
        measured = np.array([run[depth] for run in runs])
        predicted = moments.spectrum_variance(depth, weights=weights)
        spread = ISO_T * measured.std(ddof=1) / math.sqrt(measured.size)
        tolerance = spread + 2.0 * depth / ISO_WIDTH * predicted + 1e-9
        assert measured.mean() == pytest.approx(predicted, abs=tolerance), (depth, measured)
        # the other weight law's prediction differs by exactly `depth`: it must be excluded
        other = "orthogonal" if weights == "gaussian" else "gaussian"
        assert abs(measured.mean() - moments.spectrum_variance(depth, weights=other)) > (
            2 * tolerance)
