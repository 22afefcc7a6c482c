"""Statistical quality of stream v2 at scale: 10^8 draws per law, for every engine.

Every engine computes the same bits as the compiled engine (tested elsewhere, element for
element: ``tests/core/test_core_engines.py`` for the NumPy reference, the torch tests for
torch), so the statistics measured here on the compiled engine hold for every engine; they
run on the compiled engine only because it draws 3 x 10^8 values in seconds.

Laws: U(-1, 1), N(0, 1) and N(0, 1) truncated to [-2, 2], each 10^8 float64 values of one
tensor of shape (10^8,), drawn with ``sample_elements`` in chunks of 10^7 and accumulated
chunk by chunk (nothing holds the 10^8 values at once). Every test has level alpha = 1e-6
(or Z = 6 standard errors, two-sided p ~ 2e-9); the seeds are fixed, so a run is
reproducible, and each ``*_detects_*`` test feeds a deliberately wrong law, at 10^7 draws, to
the same statistic to show that it can fail.

* KS: the values are binned on a dyadic grid (bin width 2^-14 to 2^-16), and
  D_edges = max_j |F_n(e_j) - F(e_j)| over the 2^16+ bin edges e_j is compared with the
  asymptotic Kolmogorov critical value ``kstwobign.isf(alpha) / sqrt(n)``. The ECDF at an
  edge is exact (a count of the values below it), so D_edges is a lower bound of
  D_n = sup_x |F_n(x) - F(x)|: up to rounding, which moves a value across an edge only if it
  lies within 1 ulp(16) of it, i.e. D_edges <= D_n + 1e-14 (``EDGE_SLACK`` covers that), so
  the grid cannot fail the test by itself. Nor can it mask much: D_n exceeds D_edges by at
  most the largest bin probability (< 3e-5, a tenth of the critical value at 10^8).
* Moments: mean, variance, skewness and excess kurtosis, from power sums of x - E[x] (the
  exact mean), against the exact values, with standard errors from the law's moments up to
  the 8th (delta method; the laws here are symmetric, which the skewness and kurtosis
  formulas use).
* Tails of the normal: counts beyond 4, 5 and 6 sigma (each side and both) against Poisson
  intervals, and the hard bound sqrt(-2 ln 2^-53) of Box-Muller with u >= 2^-53.
* Correlation of neighbouring elements: lag 1 split into the two lanes of a Philox block
  (element 2k with 2k + 1) and across blocks (2k + 1 with 2k + 2), and lag 2;
  |r| < Z / sqrt(pairs).
* Bits of the uniform: its values are exactly u = (m + 1/2) 2^-52 mapped to 2u - 1; the top
  8 and the low 8 of the 52 mantissa bits m are chi-square tested on 256 cells.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest
from scipy import special, stats

pytest.importorskip("numba", reason="the statistics at 10^8 draws run on the compiled engine")
if os.environ.get("PARAMINIT_ENGINE", "compiled") != "compiled":
    pytest.skip("PARAMINIT_ENGINE selects the reference engine (50x slower at 10^8 draws)",
                allow_module_level=True)

import paraminit as pi
import paraminit.numpy as pn
from paraminit.core import engines
from paraminit.core.spec import InitSpec

N = 10**8
CHUNK = 10**7
POWER_N = 10**7  # draws of the deliberately wrong laws
ALPHA = 1e-6
Z = 6.0
SEED = 314159
EDGE_SLACK = 1e-12  # >= the rounding of values across bin edges (<= 1e-14 of F), see above
# Box-Muller's largest radius: u1 >= 2^-53, so r <= sqrt(-2 ln 2^-53) ~ 8.572 (plus ulps)
NORMAL_BOUND = math.sqrt(106.0 * math.log(2.0)) * (1.0 + 1e-12)
TAIL_SIGMAS = (4.0, 5.0, 6.0)


@dataclass(frozen=True)
class Law:
    """A spec, its exact law, and the histogram grid [lo, lo + nbins 2^-shift)."""

    name: str
    spec: InitSpec
    exact: Any  # a frozen scipy.stats law, mean 0
    lo: float
    shift: int
    nbins: int

    @property
    def edges(self) -> np.ndarray:
        # integers times a power of two, plus lo (a multiple of it): every edge is exact
        return self.lo + np.arange(self.nbins + 1) * 2.0**-self.shift


def _uniform() -> Law:
    spec = pi.resolve("uniform", (N,), low=-1.0, high=1.0)
    return Law("stats.uniform", spec, stats.uniform(-1.0, 2.0), -1.0, 16, 2**17)


def _normal() -> Law:
    spec = pi.resolve("normal", (N,), std=1.0)
    return Law("stats.normal", spec, stats.norm(), -9.0, 14, 18 * 2**14)


def _truncated(t: float = 2.0) -> Law:
    # std is the result's: the parent std is 1 up to an ulp; the exact law uses it
    spec = pi.resolve("truncated_normal", (N,), std=float(stats.truncnorm(-t, t).std()),
                      truncate=t)
    assert abs(spec.parent_std - 1.0) < 1e-12
    exact = stats.truncnorm(-t, t, scale=spec.parent_std)
    return Law("stats.truncated_normal", spec, exact, -2.0, 15, 2**17)


LAWS = {"uniform": _uniform, "normal": _normal, "truncated_normal": _truncated}


class Tally:
    """Running sums over chunks of one law's values, in element order from element 0."""

    def __init__(self, law: Law, *, tails: bool = False, bits: bool = False) -> None:
        self.law, self.tails, self.bits = law, tails, bits
        self.mean = float(law.exact.mean())
        self.n = 0
        self.counts = np.zeros(law.nbins + 1, dtype=np.int64)
        self.sums = [0.0] * 5  # sums of d^k, d = x - mean
        self.lane = self.block = self.lag2 = 0.0  # sums of d_2k d_2k+1, d_2k+1 d_2k+2, d_i d_i+2
        self.lane_pairs = self.block_pairs = self.lag2_pairs = 0
        self.above = dict.fromkeys(TAIL_SIGMAS, 0)
        self.below = dict.fromkeys(TAIL_SIGMAS, 0)
        self.max_abs = 0.0
        self.low_bits = np.zeros(256, dtype=np.int64)
        self.on_lattice = True
        self._last: np.ndarray | None = None  # the previous chunk's last two d
        self._scratch: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _buffers(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # reused scratch (two float64, one int64): no page faults from fresh temporaries
        if self._scratch is None or self._scratch[0].size != size:
            self._scratch = (np.empty(size), np.empty(size), np.empty(size, dtype=np.int64))
        return self._scratch

    def add(self, x: np.ndarray) -> Tally:
        x = np.ascontiguousarray(x, dtype=np.float64)
        assert x.size % 2 == 0 and self.n % 2 == 0  # chunk-local parity = element parity
        law = self.law
        f, g, i = self._buffers(x.size)
        self.max_abs = max(self.max_abs, float(x.max()), -float(x.min()))
        np.subtract(x, law.lo, out=f)
        f *= 2.0**law.shift  # exact
        if not f.min() >= 0.0:
            raise AssertionError(f"a value {x.min()!r} lies below the grid of {law.name}")
        np.copyto(i, f, casting="unsafe")  # floor: f >= 0
        if i.max() > law.nbins:
            raise AssertionError(f"a value {x.max()!r} lies above the grid of {law.name}")
        self.counts += np.bincount(i, minlength=law.nbins + 1)
        if self.bits:  # x = 2u - 1 = (2m + 1) 2^-52 - 1, so (x + 1) 2^51 = m + 1/2 exactly
            np.add(x, 1.0, out=f)
            f *= 2.0**51
            np.copyto(i, f, casting="unsafe")  # m
            np.subtract(f, i, out=f)
            self.on_lattice &= bool(np.all(f == 0.5))
            np.bitwise_and(i, 255, out=i)
            self.low_bits += np.bincount(i, minlength=256)
        if self.tails:
            for t in TAIL_SIGMAS:
                self.above[t] += int(np.count_nonzero(x > t))
                self.below[t] += int(np.count_nonzero(x < -t))
        d = np.subtract(x, self.mean, out=f)
        d2 = np.multiply(d, d, out=g)
        for k, value in enumerate((d.size, d.sum(), d2.sum(), d2 @ d, d2 @ d2)):
            self.sums[k] += float(value)
        self.lane += float(d[0::2] @ d[1::2])
        self.block += float(d[1:-1:2] @ d[2::2])
        self.lag2 += float(d[:-2] @ d[2:])
        self.lane_pairs += d.size // 2
        self.block_pairs += d.size // 2 - 1
        self.lag2_pairs += d.size - 2
        if self._last is not None:  # pairs across the chunk boundary
            self.block += float(self._last[1] * d[0])
            self.lag2 += float(self._last[0] * d[0] + self._last[1] * d[1])
            self.block_pairs += 1
            self.lag2_pairs += 2
        self._last = d[-2:].copy()
        self.n += x.size
        return self


def draw(law: Law, spec: InitSpec | None = None, *, n: int = N, name: str | None = None,
         **options: bool) -> Tally:
    """Tally the first n elements of ``spec`` (default: the law's own) in chunks."""
    spec = law.spec if spec is None else spec
    tally = Tally(law, **options)
    for start in range(0, n, CHUNK):
        tally.add(pn.sample_elements(spec, seed=SEED, name=name or law.name, start=start,
                                     stop=min(start + CHUNK, n), dtype="float64"))
    tally._scratch = None
    return tally


@cache
def full(kind: str) -> Tally:
    assert engines.engine_name() == "compiled"
    return draw(LAWS[kind](), tails=kind == "normal", bits=kind == "uniform")


# ---------------------------------------------------------------------------------------
# the statistics


def ks_at_edges(tally: Tally) -> tuple[float, float]:
    """(D_edges, critical value at ALPHA) for the tally's exact law."""
    below = np.concatenate(([0], np.cumsum(tally.counts)))[:tally.law.nbins + 1]
    cdf = tally.law.exact.cdf(tally.law.edges)
    d_edges = float(np.max(np.abs(below / tally.n - cdf)))
    return d_edges, float(stats.kstwobign.isf(ALPHA)) / math.sqrt(tally.n)


def moment_errors(tally: Tally, exact: Any = None) -> dict[str, float]:
    """Errors of mean, variance, skewness and excess kurtosis, in standard errors."""
    exact = tally.law.exact if exact is None else exact
    n = tally.n
    s1, s2, s3, s4 = (tally.sums[k] / n for k in (1, 2, 3, 4))
    m1 = s1 + tally.mean - float(exact.mean())
    m2 = s2 - s1**2
    m3 = s3 - 3 * s1 * s2 + 2 * s1**3
    m4 = s4 - 4 * s1 * s3 + 6 * s1**2 * s2 - 3 * s1**4
    mu2, mu4, mu6, mu8 = (float(exact.moment(k)) for k in (2, 4, 6, 8))  # central: mean 0
    skew_var = (mu6 - 6 * mu4 * mu2 + 9 * mu2**3) / mu2**3
    kurt_var = ((mu8 - mu4**2) / mu2**4 - 4 * mu4 * (mu6 - mu4 * mu2) / mu2**5
                + 4 * mu4**2 * (mu4 - mu2**2) / mu2**6)
    return {
        "mean": m1 / math.sqrt(mu2 / n),
        "variance": (m2 - mu2) / math.sqrt((mu4 - mu2**2) / n),
        "skewness": (m3 / m2**1.5) / math.sqrt(skew_var / n),
        "kurtosis": (m4 / m2**2 - mu4 / mu2**2) / math.sqrt(kurt_var / n),
    }


def correlations(tally: Tally) -> dict[str, tuple[float, float]]:
    """name: (r, threshold Z / sqrt(pairs)); r = mean product of d over the sample variance."""
    variance = tally.sums[2] / tally.n - (tally.sums[1] / tally.n) ** 2
    pairs = {
        "lanes (2k, 2k+1)": (tally.lane, tally.lane_pairs),
        "blocks (2k+1, 2k+2)": (tally.block, tally.block_pairs),
        "lag 1": (tally.lane + tally.block, tally.lane_pairs + tally.block_pairs),
        "lag 2": (tally.lag2, tally.lag2_pairs),
    }
    return {key: (total / count / variance, Z / math.sqrt(count))
            for key, (total, count) in pairs.items()}


def poisson_interval(expected: float) -> tuple[float, float]:
    """Counts outside [lo, hi] have probability < ALPHA under Poisson(expected)."""
    return (float(stats.poisson.ppf(ALPHA / 2, expected)),
            float(stats.poisson.isf(ALPHA / 2, expected)))


def tail_failures(tally: Tally) -> list[str]:
    """Tail counts outside their Poisson intervals (beyond 6 sigma: above the upper bound)."""
    failures = []
    for t in TAIL_SIGMAS:
        side = tally.n * float(special.ndtr(-t))
        counts = {"above": (tally.above[t], side), "below": (tally.below[t], side),
                  "both": (tally.above[t] + tally.below[t], 2 * side)}
        for where, (count, expected) in counts.items():
            if t >= 6.0:  # ~0.2 expected at 10^8: an upper bound only
                lo, hi = 0.0, float(stats.poisson.isf(ALPHA, expected))
            else:
                lo, hi = poisson_interval(expected)
            if not lo <= count <= hi:
                failures.append(f"{where} {t:g} sigma: {count} not in [{lo:g}, {hi:g}] "
                                f"(expected {expected:.4g})")
    return failures


def chi_square(counts: np.ndarray) -> tuple[float, float]:
    """(statistic, critical value at ALPHA) of equal cell probabilities."""
    expected = counts.sum() / counts.size
    statistic = float(np.sum((counts - expected) ** 2) / expected)
    return statistic, float(stats.chi2.isf(ALPHA, counts.size - 1))


def top_bits(tally: Tally) -> np.ndarray:
    """Counts of u's top 8 bits: bin j of [-1, 1) at width 2^-16 is u in [j, j+1) 2^-17."""
    assert tally.law.lo == -1.0 and tally.law.shift == 16 and tally.counts[-1] == 0
    return tally.counts[:-1].reshape(256, -1).sum(axis=1)


# ---------------------------------------------------------------------------------------
# 10^8 draws per law


def test_statistics_run_on_the_compiled_engine():
    assert engines.engine_name() == "compiled"


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(LAWS))
def test_ks_at_1e8_draws(kind):
    tally = full(kind)
    assert tally.n == N
    d_edges, critical = ks_at_edges(tally)
    print(f"KS {kind}: D_edges = {d_edges:.3g}, critical {critical:.3g}")
    assert d_edges <= critical + EDGE_SLACK, (kind, d_edges, critical)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(LAWS))
def test_moments_at_1e8_draws(kind):
    errors = moment_errors(full(kind))
    print(f"moments {kind} (standard errors): "
          + ", ".join(f"{key} {value:+.2f}" for key, value in errors.items()))
    assert all(abs(value) <= Z for value in errors.values()), (kind, errors)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(LAWS))
def test_adjacent_elements_are_uncorrelated(kind):
    result = correlations(full(kind))
    print(f"correlation {kind}: "
          + ", ".join(f"{key} {r:+.2e} (< {bound:.1e})" for key, (r, bound) in result.items()))
    assert all(abs(r) < bound for r, bound in result.values()), (kind, result)


@pytest.mark.slow
def test_normal_tails_and_hard_bound():
    tally = full("normal")
    print("tails normal: " + ", ".join(
        f">{t:g}: {tally.above[t]} + {tally.below[t]} (expected "
        f"{2 * N * float(special.ndtr(-t)):.4g})" for t in TAIL_SIGMAS)
        + f"; max |z| = {tally.max_abs:.4f} (bound {NORMAL_BOUND:.4f})")
    assert tail_failures(tally) == []
    assert tally.max_abs <= NORMAL_BOUND


@pytest.mark.slow
def test_bounded_laws_stay_in_their_support():
    uniform, truncated = full("uniform"), full("truncated_normal")
    assert uniform.max_abs < 1.0
    assert truncated.max_abs <= 2.0 * truncated.law.spec.parent_std


@pytest.mark.slow
def test_uniform_bits():
    tally = full("uniform")
    assert tally.on_lattice  # every value is (2m + 1) 2^-52 - 1
    top, critical = chi_square(top_bits(tally))
    low, _ = chi_square(tally.low_bits)
    print(f"bits uniform: chi2(255) top 8 = {top:.1f}, low 8 = {low:.1f}, "
          f"critical {critical:.1f}")
    assert top <= critical and low <= critical


# ---------------------------------------------------------------------------------------
# power: the same statistics reject wrong laws (10^7 draws each)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "scheme", "options"), [
    ("normal", "normal", {"std": 1.01}),
    ("normal", "normal", {"std": 1.0, "mean": 0.005}),
    ("uniform", "uniform", {"low": -1.0, "high": 0.995}),
    ("truncated_normal", "truncated_normal",
     {"std": float(stats.truncnorm(-1.95, 1.95).std()), "truncate": 1.95}),
])
def test_ks_detects_wrong_laws(kind, scheme, options):
    wrong = pi.resolve(scheme, (POWER_N,), **options)
    d_edges, critical = ks_at_edges(draw(LAWS[kind](), wrong, n=POWER_N, name="power.ks"))
    assert d_edges > critical + EDGE_SLACK, (d_edges, critical)


def _normal_values(n: int = POWER_N, **options: float) -> np.ndarray:
    spec = pi.resolve("normal", (n,), **{"std": 1.0, **options})
    return pn.sample_elements(spec, seed=SEED, name="power.values", dtype="float64")


@pytest.mark.slow
def test_moments_detect_wrong_laws():
    normal = _normal()
    flagged = {key for key, value in moment_errors(Tally(normal).add(
        _normal_values(std=1.01))).items() if abs(value) > Z}
    assert "variance" in flagged
    flagged = {key for key, value in moment_errors(Tally(normal).add(
        _normal_values(mean=0.003))).items() if abs(value) > Z}
    assert "mean" in flagged
    z = _normal_values()
    flagged = {key for key, value in moment_errors(Tally(normal).add(
        z + 0.01 * (z * z - 1.0))).items() if abs(value) > Z}
    assert "skewness" in flagged
    # a unit-variance normal cut at 3 sigma: right mean, variance and skewness; kurtosis -0.17
    cut = draw(normal, pi.resolve("truncated_normal", (POWER_N,), std=1.0, truncate=3.0),
               n=POWER_N, name="power.kurtosis")
    flagged = {key for key, value in moment_errors(cut).items() if abs(value) > Z}
    assert flagged == {"kurtosis"}


@pytest.mark.slow
@pytest.mark.parametrize("dependence", ["lanes", "blocks", "lag 2"])
def test_correlation_detects_dependent_neighbours(dependence):
    x = _normal_values(POWER_N + 2)
    y = x[:-2].copy()
    if dependence == "lanes":
        y[1::2] += 0.02 * y[0::2]
        key = "lanes (2k, 2k+1)"
    elif dependence == "blocks":
        y[2::2] += 0.02 * y[1:-1:2]
        key = "blocks (2k+1, 2k+2)"
    else:
        y += 0.02 * x[2:]
        key = "lag 2"
    result = correlations(Tally(_normal()).add(y))
    r, bound = result[key]
    assert abs(r) > bound
    if dependence != "lag 2":
        r, bound = result["lag 1"]
        assert abs(r) > bound


@pytest.mark.slow
def test_tails_detect_wrong_tails():
    heavy = Tally(_normal(), tails=True).add(_normal_values(std=1.25))
    failures = tail_failures(heavy)
    assert any(f.startswith("both 5 sigma") for f in failures)
    assert any(f.startswith("both 6 sigma") for f in failures)
    light = Tally(_normal(), tails=True).add(_normal_values(std=0.95))
    assert any(f.startswith("both 4 sigma") for f in tail_failures(light))


@pytest.mark.slow
def test_bits_detect_defects():
    uniform = _uniform()
    # a uniform short by 0.05% at the top fails the top bits
    short = draw(uniform, pi.resolve("uniform", (POWER_N,), low=-1.0, high=0.999),
                 n=POWER_N, name="power.bits", bits=True)
    top, critical = chi_square(top_bits(short))
    assert top > critical
    # a 24-bit mantissa (float32 values) fails the low bits
    single = pn.sample_elements(pi.resolve("uniform", (POWER_N,), low=-1.0, high=1.0),
                                seed=SEED, name="power.bits", dtype="float32")
    coarse = Tally(uniform, bits=True).add(single)
    low, critical = chi_square(coarse.low_bits)
    assert low > critical and not coarse.on_lattice
