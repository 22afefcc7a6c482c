"""Mean-field theory of initialisation: the edge of chaos and dynamical isometry.

Framework-free (NumPy/SciPy). For a wide fully connected network with weights
N(0, sigma_w2 / fan_in) and biases N(0, sigma_b2), an activation given by name
(``paraminit.ACTIVATIONS``) or as a NumPy callable:

* :func:`variance_map`, :func:`fixed_point` (q*), :func:`chi1` — Poole et al. 2016, Eq. 3, 7;
* :func:`correlation_map`, :func:`correlation_fixed_point` (c*) — Poole et al. 2016, Eq. 5;
* :func:`critical_point` — (sigma_w2, q*) with chi1 = 1 for a given sigma_b2;
* :func:`depth_scales` — xi_q, xi_c of Schoenholz et al. 2017, Eq. 8-9;
* :func:`isometry_moments` — mu1, mu2 and the Jacobian-spectrum variance slopes of
  Pennington, Schoenholz & Ganguli 2017;
* :func:`recommend` — variance-scaling options on the edge of chaos for a given depth.

Gaussian expectations use the split Gauss-Legendre rule of :mod:`paraminit.core.gains`.
Inputs without an answer (a diverging moment, no fixed point, no critical point) raise
:class:`paraminit.InitError` with the reason; no function returns NaN.

Example:
    >>> import paraminit.theory as theory
    >>> point = theory.critical_point("tanh", sigma_b2=0.05)
    >>> round(point.sigma_w2, 5), round(point.q_star, 5)
    (1.76095, 0.57005)
"""

from __future__ import annotations

from ._activation import ActivationLike
from ._isometry import IsometryMoments, WeightDistribution, isometry_moments
from ._meanfield import (
    CriticalPoint,
    DepthScales,
    chi1,
    correlation_fixed_point,
    correlation_map,
    critical_point,
    depth_scales,
    fixed_point,
    variance_map,
)
from ._recommend import Distribution, recommend

__all__ = [
    "ActivationLike",
    "CriticalPoint",
    "DepthScales",
    "Distribution",
    "IsometryMoments",
    "WeightDistribution",
    "chi1",
    "correlation_fixed_point",
    "correlation_map",
    "critical_point",
    "depth_scales",
    "fixed_point",
    "isometry_moments",
    "recommend",
    "variance_map",
]
