"""Gains: the factor a nonlinearity asks the weight std to be multiplied by.

A gain multiplies the *std*; a variance-scaling ``scale`` multiplies the *variance*
(scale = gain²). Two kinds live here:

* the table torch's ``calculate_gain`` defines (reproduced exactly, with its quirks), and
* second-moment gains 1/sqrt(E[phi(z)^2]), z ~ N(0, 1), which keep the pre-activation
  variance fixed layer to layer in a wide random network (the fixed point q* = 1 of the
  mean-field recursion q = sigma_w^2 E[phi(sqrt(q) z)^2], Poole et al. 2016 Eq. 3, with
  sigma_b = 0). For ReLU both give sqrt(2) (He et al. 2015 Eq. 10).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import special

from .._errors import InitError
from . import validate

__all__ = ["ACTIVATIONS", "ACTIVATION_NAMES", "GAINS", "Gain", "gain", "numeric_gain"]

SELU_ALPHA = 1.6732632423543772  # Klambauer et al. 2017, Eq. 14 (alpha_01)
SELU_LAMBDA = 1.0507009873554805  # Klambauer et al. 2017, Eq. 14 (lambda_01)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "sigmoid": special.expit,
    "selu": lambda x: SELU_LAMBDA * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "gelu": lambda x: x * special.ndtr(x),
    "silu": lambda x: x * special.expit(x),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "softplus": _softplus,
}
"""NumPy versions of the activations the library knows, shared by gains and theory."""


# Integration range in std units: the N(0,1) density is < 1e-31 beyond 12, so for any
# activation growing at most exponentially the tail is far below float64 resolution.
_HALF_RANGE = 12.0


@cache
def _half_line_rule(points: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes on [0, 12] with the N(0,1) density folded into the weights."""
    nodes, weights = np.polynomial.legendre.leggauss(points)
    x = (nodes + 1.0) * (_HALF_RANGE / 2.0)
    w = weights * (_HALF_RANGE / 2.0) * np.exp(-(x**2) / 2.0) / math.sqrt(2.0 * math.pi)
    return x, w


_DEFAULT_POINTS = 96
# Gauss-Legendre nodes come from a points x points eigenproblem: 1024 needs 8 MiB, far past
# where the result stops changing (96 is exact to ~1e-15).
_MAX_POINTS = 1024


def _evaluate(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    values = np.asarray(fn(x), np.float64)
    if values.shape != x.shape:
        raise ValueError(f"returned shape {values.shape} for an input of shape {x.shape}")
    return values


def numeric_gain(fn: Callable[[np.ndarray], np.ndarray] | str, *,
                 points: int = _DEFAULT_POINTS) -> float:
    """Second-moment gain 1/sqrt(E[fn(z)^2]) for z ~ N(0, 1), by Gaussian quadrature.

    E[fn(z)^2] = integral of fn(z)^2 phi(z) over z < 0 plus over z > 0, each half by
    ``points``-node Gauss-Legendre quadrature on [0, 12] (the density is folded into the
    weights). Splitting at 0 matters: every activation here has its kink there, and plain
    Gauss-Hermite over the whole line then converges only like 1/points^2 (measured error
    1.1e-5 for SELU with 200 nodes); split, each piece is smooth and the result is exact to
    ~1e-15 (E[relu(z)^2] = 1/2, gain sqrt(2)).

    Note:
        This differs from torch's table where torch chose another criterion:
        tanh 1.5925 here vs torch's 5/3 (an empirical choice); sigmoid 1.8462 vs torch's 1
        (torch ignores sigmoid's mean of 1/2); selu 1.0 vs torch's 3/4 (the SNN paper,
        Klambauer et al. 2017 §3, uses Var = 1/fan_in, gain 1). Linear, ReLU and leaky ReLU
        agree exactly.

    Example:
        >>> round(numeric_gain("relu"), 12)
        1.414213562373
    """
    if isinstance(fn, str):
        _check_name(fn, ACTIVATIONS)
        fn = ACTIVATIONS[fn]
    if not callable(fn):
        raise InitError(f"fn must be an activation name ({', '.join(sorted(ACTIVATIONS))}) or a "
                        f"callable on a NumPy array; received {validate.show(fn)}")
    points = validate.integer("points", points, minimum=2, maximum=_MAX_POINTS,
                              hint=f" (the default {_DEFAULT_POINTS} is already exact to "
                                   "~1e-15; the rule needs a points x points matrix)")
    x, w = _half_line_rule(points)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            values = np.concatenate([_evaluate(fn, x), _evaluate(fn, -x)])
    except Exception as error:  # the user's function: any failure is bad input
        raise InitError(
            f"fn failed on a float64 array of {points} quadrature nodes ({type(error).__name__}: "
            f"{error}); pass a function mapping a NumPy array to an array of the same shape, "
            "e.g. np.tanh") from None
    second_moment = float(np.sum(np.concatenate([w, w]) * values**2))
    if not math.isfinite(second_moment) or second_moment <= 0.0:
        raise InitError(
            f"fn has E[fn(z)^2] = {second_moment!r} under z ~ N(0, 1): its gain is undefined; "
            "pass an activation with a finite, non-zero second moment"
        )
    return 1.0 / math.sqrt(second_moment)


@dataclass(frozen=True)
class Gain:
    """One row of the gain table: how the value is defined and where it comes from."""

    name: str
    formula: str
    source: str
    compute: Callable[[float | None], float]
    param_name: str | None = None
    param_default: float | None = None

    def value(self, param: float | None = None) -> float:
        return self.compute(self.param_default if param is None else param)


def _constant(value: float) -> Callable[[float | None], float]:
    return lambda _param: value


@cache
def _second_moment_gain(name: str, alpha: float = 1.0) -> float:
    if name == "elu" and alpha != 1.0:
        return numeric_gain(lambda x: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))))
    return numeric_gain(name)


_TORCH = "torch.nn.init.calculate_gain"
_SECOND_MOMENT = (
    "1/sqrt(E[phi(z)^2]), z ~ N(0,1) (keeps q* = 1 at sigma_b = 0, Poole et al. 2016 Eq. 3)"
)

GAINS: dict[str, Gain] = {
    **{
        name: Gain(name, "1", f"{_TORCH} (identity map)", _constant(1.0))
        for name in (
            "linear", "conv1d", "conv2d", "conv3d",
            "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
        )
    },
    "sigmoid": Gain("sigmoid", "1", f"{_TORCH}; second-moment gain is 1.8462", _constant(1.0)),
    "tanh": Gain(
        "tanh", "5/3", f"{_TORCH} (empirical; second-moment gain is 1.5925)", _constant(5.0 / 3.0)
    ),
    "relu": Gain(
        "relu", "sqrt(2)", "He et al. 2015, Eq. 10: E[relu(z)^2] = 1/2", _constant(math.sqrt(2.0))
    ),
    "leaky_relu": Gain(
        "leaky_relu",
        "sqrt(2 / (1 + slope^2))",
        "He et al. 2015, Eq. 15 (PReLU): E[lrelu(z)^2] = (1 + a^2)/2",
        lambda slope: _leaky_relu_gain(slope),
        param_name="slope",
        param_default=0.01,  # torch's calculate_gain default (its kaiming_* use a=0)
    ),
    "selu": Gain(
        "selu",
        "3/4",
        f"{_TORCH} (chosen empirically, PyTorch PR #50664); the SNN init itself is "
        "LeCun normal, gain 1 (Klambauer et al. 2017, §3)",
        _constant(0.75),
    ),
    **{
        name: Gain(name, _SECOND_MOMENT, "paraminit (torch has no entry)",
                   lambda _p, name=name: _second_moment_gain(name))
        for name in ("gelu", "silu", "mish", "softplus")
    },
    "elu": Gain(
        "elu", _SECOND_MOMENT, "paraminit (torch has no entry); alpha = 1 by default",
        lambda alpha: _second_moment_gain("elu", float(alpha)),
        param_name="alpha", param_default=1.0,
    ),
}
GAINS["swish"] = GAINS["silu"]
# The names that are activations (compare's --activation), not the linear maps conv*.
ACTIVATION_NAMES: tuple[str, ...] = tuple(sorted(n for n in GAINS if not n.startswith("conv")))


def _check_name(name: object, table: dict) -> None:
    validate.choice("nonlinearity", name, sorted(table))


# Beyond this |slope| the slope's square overflows float64 (and the gain is below 1e-154).
_LEAKY_SLOPE_MAX = 1e154


def _leaky_relu_gain(slope: float) -> float:
    """torch's √(2/(1 + slope²)), exactly; InitError where slope² overflows float64."""
    if abs(slope) > _LEAKY_SLOPE_MAX:
        raise InitError(f"leaky_relu's slope must be at most {_LEAKY_SLOPE_MAX:g} in size "
                        f"(its square overflows float64); received {validate.show(slope)}. "
                        "A negative slope is a small number such as 0.01 or 0.2")
    return math.sqrt(2.0 / (1.0 + slope**2))


def _check_param(name: str, param: object) -> float | None:
    if param is None:
        return None
    try:
        return validate.real("param", param)
    except InitError:
        raise InitError(
            f"param for {name!r} must be a finite number ({GAINS[name].param_name}); "
            f"received {validate.show(param)}"
        ) from None


def gain(nonlinearity: str, param: float | None = None) -> float:
    """Recommended gain (std multiplier) for ``nonlinearity``.

    Exactly torch's ``calculate_gain`` for the names torch knows (linear, conv*,
    conv_transpose*, sigmoid 1, tanh 5/3, relu √2, leaky_relu √(2/(1+slope²)) with slope
    0.01 by default, selu 3/4); for gelu, silu/swish, elu(alpha), mish and softplus the
    second-moment gain 1/√E[φ(z)²].

    Example:
        >>> gain("leaky_relu", 0.2)
        1.3867504905630728
    """
    _check_name(nonlinearity, GAINS)
    entry = GAINS[nonlinearity]
    value = _check_param(nonlinearity, param)
    if value is not None and entry.param_name is None:
        raise InitError(
            f"nonlinearity {nonlinearity!r} takes no param; received param={param!r}. "
            "Only 'leaky_relu' (slope) and 'elu' (alpha) take one"
        )
    return entry.value(value)
