"""Dynamical isometry: the spread of the input-output Jacobian's spectrum with depth.

Pennington, Schoenholz & Ganguli 2017, "Resurrecting the sigmoid in deep learning through
dynamical isometry: theory and practice", NeurIPS, §2-3. For a depth-L network
x^l = phi(W^l x^{l-1} + b^l) at the fixed point q*, the Jacobian is
J = D^L W^L ... D^1 W^1 with D^l = diag(phi'(h^l)), and J J^T's eigenvalues (the squared
singular values) have, as the width N -> infinity,

    mean      m1 = chi^L,                              chi = sigma_w2 mu1,
    variance  m2 - m1^2 = chi^(2L) L (mu2 / mu1^2 - 1 - s1),

with mu_k = E[phi'(sqrt(q*) z)^(2k)] and s1 = -1 for Gaussian W (Marchenko-Pastur), 0 for
orthogonal W. At chi = 1 the variance grows like L s: slope s = mu2/mu1^2 for Gaussian
weights, mu2/mu1^2 - 1 for orthogonal ones (0 only if phi' is constant: linear networks).

Derivation checked here (not taken on trust): the S-transform of a law with moments
m1, m2 is S(z) = (1/m1) (1 - (m2/m1^2 - 1) z + O(z^2)), and S-transforms multiply under
free multiplicative convolution (Voiculescu), so the normalised variance m2/m1^2 - 1 of a
free product is the sum of its factors'. J J^T has the moments of the free product of the
2L factors D_l^2 (normalised variance mu2/mu1^2 - 1 each) and W_l W_l^T (1 for a square
Gaussian matrix, whose Marchenko-Pastur law has m2 = 2 m1^2; 0 for an orthogonal one).
Hence m2/m1^2 - 1 = L (mu2/mu1^2 - 1) + L [Gaussian], exactly in the large-N limit and
for every L, not only at chi = 1. The tests confirm both slopes on NumPy networks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._errors import InitError
from ..core import validate
from ._activation import ActivationLike
from ._meanfield import _field, _q_or_fixed_point
from ._quadrature import gaussian_expectation

__all__ = ["IsometryMoments", "WeightDistribution", "isometry_moments"]

WeightDistribution = Literal["gaussian", "orthogonal"]
_WEIGHTS = ("gaussian", "orthogonal")


@dataclass(frozen=True)
class IsometryMoments:
    """mu1, mu2 of phi'(h)^2 at q* and the Jacobian-spectrum predictions they imply.

    ``variance_slope_gaussian`` = mu2/mu1^2 and ``variance_slope_orthogonal`` =
    mu2/mu1^2 - 1: per-layer growth of Var[eigenvalues of J J^T] / mean^2 (Pennington
    et al. 2017, §3, with s1 = -1 and 0).
    """

    mu1: float
    mu2: float
    chi: float
    sigma_w2: float
    sigma_b2: float
    q_star: float
    variance_slope_gaussian: float
    variance_slope_orthogonal: float

    def spectrum_mean(self, depth: int) -> float:
        """m1 = chi^L: mean squared singular value of the depth-L Jacobian."""
        return self.chi ** _depth(depth)

    def spectrum_variance(self, depth: int, *, weights: WeightDistribution) -> float:
        """m2 - m1^2 = chi^(2L) L s: variance of J J^T's eigenvalues at depth L."""
        validate.choice("weights", weights, _WEIGHTS)
        slope = (self.variance_slope_gaussian if weights == "gaussian"
                 else self.variance_slope_orthogonal)
        layers = _depth(depth)
        return self.chi ** (2 * layers) * layers * slope


def _depth(depth: object) -> int:
    return validate.integer("depth", depth, minimum=1, hint=" (the number of layers)")


def isometry_moments(
    activation: ActivationLike, *, sigma_w2: float, sigma_b2: float, q: float | None = None
) -> IsometryMoments:
    """mu_k = E[phi'(sqrt(q*) z)^(2k)], k = 1, 2, and the spectrum-variance slopes.

    Pennington, Schoenholz & Ganguli 2017, §2-3: with chi = sigma_w2 mu1 = 1 (the edge of
    chaos), Var[eigenvalues of J J^T] grows with depth L like L mu2/mu1^2 for Gaussian
    weights and L (mu2/mu1^2 - 1) for orthogonal weights. ``q`` defaults to q*.

    Example:
        >>> moments = isometry_moments("relu", sigma_w2=2.0, sigma_b2=0.0)
        >>> round(moments.variance_slope_gaussian, 12), round(moments.variance_slope_orthogonal, 12)
        (2.0, 1.0)
    """
    field = _field(activation, sigma_w2, sigma_b2)
    q_star = _q_or_fixed_point(field, q)
    act = field.act
    name = act.name
    mu1 = gaussian_expectation(lambda u: act.d1(u) ** 2, q_star,
                               what=f"E[phi'(sqrt(q) z)^2] for {name!r} at q = {q_star:.6g}")
    mu2 = gaussian_expectation(lambda u: act.d1(u) ** 4, q_star,
                               what=f"E[phi'(sqrt(q) z)^4] for {name!r} at q = {q_star:.6g}")
    if mu1 <= 0.0:
        raise InitError(
            f"activation {name!r} has phi' = 0 almost everywhere at q = {q_star:.6g} "
            "(mu1 = 0): the Jacobian vanishes and its spectrum has no shape"
        )
    ratio = mu2 / mu1**2
    return IsometryMoments(
        mu1=mu1,
        mu2=mu2,
        chi=field.sigma_w2 * mu1,
        sigma_w2=field.sigma_w2,
        sigma_b2=field.sigma_b2,
        q_star=q_star,
        variance_slope_gaussian=ratio,
        variance_slope_orthogonal=ratio - 1.0,
    )
