"""InitSpec: everything a sampler needs, computed once, printable and serialisable."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Literal

import numpy as np

from .._errors import InitError
from . import validate
from .fans import Fans

__all__ = ["Distribution", "InitSpec", "truncated_std_factor"]

Distribution = Literal[
    "constant", "uniform", "normal", "truncated_normal", "orthogonal", "identity", "dirac",
    "sparse", "delta_orthogonal", "conv_orthogonal", "identity_hadamard",
]

# Beyond this many parent stds a truncation removes < 2e-9 of the mass: report it as none.
_NO_EFFECT_SIGMAS = 6.0


# Gauss-Legendre rule on [0, 1]. The densities it integrates, exp(-s u - u^2/2) over at most
# 40 e-folds (below), are entire; 64 nodes (exact to degree 127) put the quadrature error
# below 1e-30 of the mass, far under double rounding.
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(64)
_UNIT_NODES = (_GL_NODES + 1.0) / 2.0
_UNIT_WEIGHTS = _GL_WEIGHTS / 2.0
# Mass beyond the point where the density fell by e^-40 (~4e-18) is below double rounding.
_TAIL_EFOLDS = 40.0


def _piece(start: float, width: float) -> tuple[float, float, float, float]:
    """N(0, 1) on [start, start + width], start >= 0, in the shifted variable u = x - start.

    The density of u is exp(-start u - u^2/2) (times exp(-start^2/2), dropped: only the
    pieces' ratios matter). It is integrated over [0, top], top = min(width, reach), where
    start u + u^2/2 = 40 at u = reach; rescaled to s = u / top in [0, 1], so that a far-tail
    piece (top ~ 1/start) neither underflows nor cancels. Returns (top, mass, mean, variance)
    with mass, mean and variance those of s.
    """
    reach = 2.0 * _TAIL_EFOLDS / (start + math.hypot(start, math.sqrt(2.0 * _TAIL_EFOLDS)))
    top = min(width, reach)
    u = top * _UNIT_NODES
    weights = _UNIT_WEIGHTS * np.exp(-start * u - u * u / 2.0)
    mass = float(weights.sum())
    mean = float(weights @ _UNIT_NODES) / mass
    variance = float(weights @ (_UNIT_NODES - mean) ** 2) / mass
    return top, mass, mean, variance


@cache
def truncated_std_factor(low: float, high: float) -> float:
    """Std of N(0, 1) truncated to [low, high]: 0.87962566103423978 for (-2, 2).

    Keras/JAX divide by it so that the *result* has the requested std (REFERENCE.md).
    Accurate to ~1e-14 relative on every interval: narrow ones ((-1e-6, 1e-6): 1e-6/sqrt(3)),
    far tails ((1000, 2000): ~1/1000) and infinite bounds ((-inf, inf): 1). The law's
    variance is computed directly as a centred second moment of the density shifted to the
    interval's end nearest 0 and rescaled to [0, 1] (:func:`_piece`), by Gauss-Legendre
    quadrature; an interval across 0 is two such pieces, combined by the parallel-axis rule.

    Note:
        ``scipy.stats.truncnorm.std`` is NaN for narrow and far-tail intervals (the closed
        form 1 + (a phi(a) - b phi(b))/Z - mu^2 cancels: mu^2 ~ 1e6 against a variance of
        1e-6 at (1000, 2000)) and already 2.8 % off at (-1e-5, 1e-5).

    Raises:
        InitError: for NaN bounds or low >= high (no law to take the std of).

    Example:
        >>> round(truncated_std_factor(-2.0, 2.0), 15)
        0.87962566103424
    """
    low, high = float(low), float(high)
    if math.isnan(low) or math.isnan(high) or not low < high:
        raise InitError(
            f"the truncation interval needs low < high (in parent stds); received "
            f"low={low!r}, high={high!r}. Give two distinct, ordered, non-NaN bounds"
        )
    if high <= 0.0:  # the law is symmetric: mirror into x >= 0
        low, high = -high, -low
    if low >= 0.0:
        top, _, _, variance = _piece(low, high - low)
        return top * math.sqrt(variance)
    # Across 0: the pieces [0, high] and (mirrored) [0, -low], in units of the wider one.
    right, left = _piece(0.0, high), _piece(0.0, -low)
    scale = max(right[0], left[0])
    masses, means, variances = [], [], []
    for sign, (top, mass, mean, variance) in ((1.0, right), (-1.0, left)):
        ratio = top / scale
        masses.append(ratio * mass)
        means.append(sign * ratio * mean)
        variances.append(ratio * ratio * variance)
    total = masses[0] + masses[1]
    mean = (masses[0] * means[0] + masses[1] * means[1]) / total
    variance = sum(m * (v + (mu - mean) ** 2)
                   for m, mu, v in zip(masses, means, variances, strict=True)) / total
    return scale * math.sqrt(variance)


@dataclass(frozen=True)
class InitSpec:
    """One parameter's initialization, resolved: distribution and its numbers.

    ``mean`` and ``std`` are always those of the *result*: of the law's elements for
    random inits (a Haar orthogonal matrix has E[w] = 0, E[w²] = gain²/max(rows, cols)),
    over the tensor's elements for the deterministic identity and dirac. One exception:
    an *asymmetric* truncation (torch's ``trunc_normal_`` with bounds off-centre) keeps
    ``mean`` as the parent normal's centre, as torch's signature means it.

    ``truncation`` is (low, high) in units of the *parent* std, the σ of the normal before
    truncation; ``parent_std`` gives it. ``bound`` is a uniform's half-width.
    """

    scheme: str
    shape: tuple[int, ...]
    layout: str
    distribution: Distribution
    mean: float
    std: float
    formula: str
    paper: str
    bound: float | None = None
    truncation: tuple[float, float] | None = None
    fans: Fans | None = None
    gain: float | None = None
    scale: float | None = None
    mode: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    notes: tuple[str, ...] = ()
    # The storage axes in the canonical element order (torch's arrangement, whose C-order
    # index keys the stream: paraminit.core.fans.canonical_axes); None when that is the
    # storage order itself (the torch layout, 0-D and 1-D tensors).
    element_order: tuple[int, ...] | None = None

    @property
    def parent_std(self) -> float:
        """σ of the normal before truncation (equal to ``std`` when not truncated)."""
        if self.truncation is None:
            return self.std
        return self.std / truncated_std_factor(*self.truncation)

    @property
    def bounds(self) -> tuple[float, float] | None:
        """Absolute [low, high] the values lie in (uniform or truncated normal), else None."""
        if self.bound is not None:
            return (self.mean - self.bound, self.mean + self.bound)
        if self.truncation is not None:
            sigma = self.parent_std
            return (self.mean + self.truncation[0] * sigma, self.mean + self.truncation[1] * sigma)
        return None

    def scaled(self, factor: float, reason: str = "") -> InitSpec:
        """The same law with its spread multiplied by ``factor`` (a rule's ``std_scale``).

        Random laws scale about their mean: a normal's std, a uniform's half-width, a
        truncated normal's parent std (its bounds move with it, the truncation in parent
        stds stays), a structured law's gain (orthogonal, identity, delta/conv orthogonal) or
        a sparse law's value std. Zeros stay zeros. A non-zero constant and dirac have no
        spread to scale: give them ``value=`` or another scheme.
        """
        factor = validate.real("std_scale", factor, positive=True)
        if self.distribution in ("dirac", "constant") and (self.distribution == "dirac"
                                                           or self.mean != 0.0):
            raise InitError(
                f"std_scale={factor:g} cannot scale {self.scheme} ({self.describe()}): its "
                "values are fixed, with no spread to multiply. Set the value itself "
                "(constant's value=) or drop std_scale from this rule")
        if not math.isfinite(self.std * factor) or not math.isfinite(abs(self.mean) * factor):
            raise InitError(
                f"std_scale={factor:g} on {self.scheme} ({self.describe()}) gives a std beyond "
                "float64's range (about 1.8e308); use a smaller std or std_scale")
        params = dict(self.params)
        for key in ("gain", "value_std"):
            if key in params:
                params[key] = params[key] * factor
        mean = (self.mean * factor if self.distribution in ("identity", "identity_hadamard")
                else self.mean)
        why = f" ({reason})" if reason else ""
        return replace(
            self, std=self.std * factor, mean=mean, params=params,
            bound=self.bound * factor if self.bound is not None else None,
            gain=self.gain * factor if self.gain is not None else None,
            formula=f"{self.formula}, x {factor:.6g}{why}",
            notes=(*self.notes, f"std x {factor:.6g}{why}"))

    def explain(self) -> str:
        """Human-readable account: what was read, the formula with numbers, the paper."""
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        lines = [f"{self.scheme}({options}) on shape {self.shape}, layout {self.layout!r}"]
        if self.fans is not None:
            lines += ["  " + line for line in self.fans.explain().splitlines()]
        lines.append(f"  formula: {self.formula}")
        lines.append(f"  distribution: {self.describe()}")
        lines.append(f"  result std: {self.std:.7g}")
        lines.append(f"  paper: {self.paper}")
        if self.truncation is not None and min(map(abs, self.truncation)) > _NO_EFFECT_SIGMAS:
            lines.append(
                f"  note: the bounds sit at {self.truncation[0]:.4g} and {self.truncation[1]:.4g} "
                "parent stds: practically nothing is truncated, this is a plain normal"
            )
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def describe(self) -> str:
        """The distribution in one line, e.g. ``normal(mean=0, std=0.0416667)``."""
        if self.distribution == "constant":
            return f"constant({self.mean:.7g})"
        if self.distribution == "uniform":
            low, high = self.bounds  # type: ignore[misc]
            return f"uniform({low:.7g}, {high:.7g}), bound {self.bound:.7g}"
        if self.distribution == "normal":
            return f"normal(mean={self.mean:.7g}, std={self.std:.7g})"
        if self.distribution == "truncated_normal":
            low, high = self.bounds  # type: ignore[misc]
            t_low, t_high = self.truncation  # type: ignore[misc]
            return (
                f"truncated normal(mean={self.mean:.7g}, parent std={self.parent_std:.7g}) "
                f"cut to [{low:.7g}, {high:.7g}] ({t_low:.4g}..{t_high:.4g} parent stds)"
            )
        details = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.distribution}({details})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field (fans flattened)."""
        fans = self.fans
        return {
            "scheme": self.scheme,
            "shape": list(self.shape),
            "layout": self.layout,
            "distribution": self.distribution,
            "mean": self.mean,
            "std": self.std,
            "parent_std": self.parent_std,
            "bound": self.bound,
            "truncation": list(self.truncation) if self.truncation else None,
            "fan_in": fans.fan_in if fans else None,
            "fan_out": fans.fan_out if fans else None,
            "receptive": fans.receptive if fans else None,
            "groups": fans.groups if fans else None,
            "gain": self.gain,
            "scale": self.scale,
            "mode": self.mode,
            "options": _jsonable(self.options),
            "params": _jsonable(self.params),
            "formula": self.formula,
            "paper": self.paper,
            "notes": list(self.notes),
        }


def _jsonable(mapping: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out
