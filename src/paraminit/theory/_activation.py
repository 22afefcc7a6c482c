"""Activations for the mean-field theory: phi, phi' and phi'' as NumPy functions.

A name from :data:`paraminit.ACTIVATIONS` gets closed-form first and second derivatives
(written out below and checked against finite differences in the tests); any other
callable gets one-sided finite differences that never step across 0, where the known
activations have their kinks (so ReLU's step derivative is exact on each half line).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from .._errors import InitError
from ..core.gains import ACTIVATIONS, SELU_ALPHA, SELU_LAMBDA

__all__ = ["Activation", "ActivationLike", "resolve_activation"]

Array = np.ndarray
ArrayFn = Callable[[Array], Array]
ActivationLike = str | Callable[[np.ndarray], np.ndarray]
"""An activation: a name from ``paraminit.ACTIVATIONS`` or a callable on NumPy arrays."""

# One-sided difference steps. For f'(x) ~ (-3f(x) + 4f(x+h) - f(x+2h)) / 2h the truncation
# error is h^2 |f'''| / 3 and the rounding error ~ 4 eps |f| / h; h = eps^(1/3) ~ 6.1e-6
# balances them at ~1e-11 relative. For f''(x) ~ (2f(x) - 5f(x+h) + 4f(x+2h) - f(x+3h))/h^2
# the truncation error is 11 h^2 |f''''| / 12 and the rounding error ~ 12 eps |f| / h^2;
# h = (12 eps)^(1/4) ~ 2.3e-4 balances them at ~5e-8 relative.
_EPS = float(np.finfo(np.float64).eps)
_STEP_1 = _EPS ** (1.0 / 3.0)
_STEP_2 = (12.0 * _EPS) ** 0.25


def _sigmoid(x: Array) -> Array:
    return special.expit(x)


def _tanh_d1(x: Array) -> Array:
    t = np.tanh(x)
    return 1.0 - t * t


def _tanh_d2(x: Array) -> Array:
    t = np.tanh(x)
    return -2.0 * t * (1.0 - t * t)


def _sigmoid_d1(x: Array) -> Array:
    s = _sigmoid(x)
    return s * (1.0 - s)


def _sigmoid_d2(x: Array) -> Array:
    s = _sigmoid(x)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def _gelu_d1(x: Array) -> Array:
    # d/dx [x Phi(x)] = Phi(x) + x pdf(x)
    return special.ndtr(x) + x * _pdf(x)


def _gelu_d2(x: Array) -> Array:
    # d/dx [Phi + x pdf] = pdf + pdf - x^2 pdf  (pdf' = -x pdf)
    return _pdf(x) * (2.0 - x * x)


def _silu_d1(x: Array) -> Array:
    s = _sigmoid(x)
    return s + x * s * (1.0 - s)


def _silu_d2(x: Array) -> Array:
    # d/dx [s + x s(1-s)] = 2 s(1-s) + x s(1-s)(1-2s)
    s = _sigmoid(x)
    return s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s))


def _mish_d1(x: Array) -> Array:
    # mish = x t, t = tanh(softplus(x)), t' = (1 - t^2) s with s = sigmoid(x)
    t = np.tanh(np.logaddexp(0.0, x))
    return t + x * (1.0 - t * t) * _sigmoid(x)


def _mish_d2(x: Array) -> Array:
    # d/dx [t + x (1-t^2) s] = 2 (1-t^2) s + x (1-t^2) s [(1-s) - 2 t s]
    t = np.tanh(np.logaddexp(0.0, x))
    s = _sigmoid(x)
    return (1.0 - t * t) * s * (2.0 + x * ((1.0 - s) - 2.0 * t * s))


def _pdf(x: Array) -> Array:
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _negative_exp(scale: float) -> ArrayFn:
    """x -> scale * e^x on x <= 0 and 0 on x > 0 (the ELU/SELU negative branch's derivative)."""
    return lambda x: np.where(x > 0, 0.0, scale * np.exp(np.minimum(x, 0.0)))


# (phi', phi'') in closed form. At the kink x = 0 (relu, selu) phi' jumps and phi'' has a
# Dirac delta; the expectations evaluate each half line separately and add the delta's
# contribution explicitly (see _quadrature.py), so only the one-sided values are needed.
_DERIVATIVES: dict[str, tuple[ArrayFn, ArrayFn]] = {
    "linear": (np.ones_like, np.zeros_like),
    "relu": (lambda x: np.where(x > 0, 1.0, 0.0), np.zeros_like),
    "tanh": (_tanh_d1, _tanh_d2),
    "sigmoid": (_sigmoid_d1, _sigmoid_d2),
    "selu": (
        lambda x: np.where(x > 0, SELU_LAMBDA, SELU_LAMBDA * SELU_ALPHA * np.exp(np.minimum(x, 0))),
        _negative_exp(SELU_LAMBDA * SELU_ALPHA),
    ),
    "elu": (lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0))), _negative_exp(1.0)),
    "gelu": (_gelu_d1, _gelu_d2),
    "silu": (_silu_d1, _silu_d2),
    "mish": (_mish_d1, _mish_d2),
    "softplus": (_sigmoid, _sigmoid_d1),
}


@dataclass(frozen=True)
class Activation:
    """phi with its derivatives, evaluated on either side of 0 but never at 0 itself.

    Numeric derivatives step away from 0 (forward for x > 0, backward for x < 0), so a kink
    at 0 is never straddled; the quadrature never evaluates at exactly 0 (see
    ``_quadrature.ZERO_VARIANCE_STD``), so the one-sided limits there are what is seen.
    """

    name: str
    fn: ArrayFn
    d1_fn: ArrayFn | None
    d2_fn: ArrayFn | None

    def value(self, x: Array) -> Array:
        return np.asarray(self.fn(x), dtype=np.float64) * np.ones_like(x)

    def d1(self, x: Array) -> Array:
        if self.d1_fn is not None:
            return np.asarray(self.d1_fn(x), dtype=np.float64) * np.ones_like(x)
        h = _away_from_zero(x, _STEP_1)
        f0, f1, f2 = (self.value(x + k * h) for k in range(3))
        return (-3.0 * f0 + 4.0 * f1 - f2) / (2.0 * h)

    def d2(self, x: Array) -> Array:
        if self.d2_fn is not None:
            return np.asarray(self.d2_fn(x), dtype=np.float64) * np.ones_like(x)
        h = _away_from_zero(x, _STEP_2)
        f0, f1, f2, f3 = (self.value(x + k * h) for k in range(4))
        return (2.0 * f0 - 5.0 * f1 + 4.0 * f2 - f3) / (h * h)


def _away_from_zero(x: Array, step: float) -> Array:
    """A signed step pointing away from 0, relative to |x| where |x| > 1."""
    return np.where(x < 0, -step, step) * np.maximum(1.0, np.abs(x))


def _vectorised(fn: Callable) -> ArrayFn:
    """fn itself if it maps arrays elementwise, else an np.vectorize wrapper (math.tanh)."""
    probe = np.array([-1.0, 0.0, 0.5, 2.0])
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(fn(probe), dtype=np.float64)
        if out.shape == probe.shape:
            return fn
    except (TypeError, ValueError):
        pass
    scalar = np.vectorize(lambda x: float(fn(float(x))), otypes=[np.float64])
    try:
        with np.errstate(all="ignore"):
            scalar(probe)
    except Exception as error:
        raise InitError(
            f"activation {fn!r} could not be evaluated on numbers ({error}); pass a function "
            "of a NumPy array (elementwise) or of a float"
        ) from None
    return scalar


def resolve_activation(activation: ActivationLike) -> Activation:
    """An :class:`Activation` for a name in ``paraminit.ACTIVATIONS`` or a callable."""
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            choices = ", ".join(repr(k) for k in sorted(ACTIVATIONS))
            raise InitError(
                f"activation must be one of {choices} or a callable; received {activation!r}"
            )
        d1, d2 = _DERIVATIVES.get(activation, (None, None))
        return Activation(activation, ACTIVATIONS[activation], d1, d2)
    if isinstance(activation, Activation):
        return activation
    if not callable(activation):
        raise InitError(
            "activation must be a name from paraminit.ACTIVATIONS or a callable; "
            f"received {activation!r}"
        )
    name = getattr(activation, "__name__", None) or repr(activation)
    return Activation(name, _vectorised(activation), None, None)
