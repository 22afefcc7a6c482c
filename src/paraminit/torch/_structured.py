"""Torch drop-ins for the dynamical-isometry inits: delta- and conv-orthogonal, random walk.

Thin skins over the registry (``paraminit.resolve`` + :func:`write_spec`): the values
are those of ``init_(tensor, scheme, seed=s)`` for the seed ``s`` drawn, with one
``torch.randint`` call, from ``generator`` (torch's default generator when None), so
``torch.manual_seed`` reproduces as with ``torch.nn.init``. Weights are read in torch's
layout, (out, in, *kernel).
"""

from __future__ import annotations

from typing import Literal

import torch

from ._dropin import check_call
from ._generic import _fan_scheme

__all__ = ["conv_orthogonal_", "delta_orthogonal_", "random_walk_"]


def delta_orthogonal_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    *,
    center: Literal["jax", "torch"] = "jax",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Delta-orthogonal: ``gain·H`` at the kernel's centre tap, zeros at every other tap.

    H is a Haar-random (out × in) matrix with orthonormal columns (needs out ≥ in), so
    the convolution maps the centre pixel of each receptive field isometrically (times
    ``gain``, which multiplies the std): Xiao et al. 2018, "Dynamical Isometry and a Mean
    Field Theory of CNNs", ICML, §2.3, Algorithm 2.

    Args:
        tensor: a (out, in, *k) conv weight with 0 to 3 kernel dims (2-D: plain orthogonal).
        gain: multiplies H (the std); scale = gain².
        center: ``"jax"`` puts the tap at (k−1)//2 in every kernel dim, as JAX's
            ``delta_orthogonal`` and TF; ``"torch"`` at k//2, as ``torch.nn.init.dirac_``.
            They differ for even k only (k = 4: index 1 vs 2).
        generator: the torch generator the stream's seed is drawn from.

    Example:
        >>> w = delta_orthogonal_(torch.empty(64, 32, 3, 3))
        >>> bool((w[:, :, 1, 1].T @ w[:, :, 1, 1] - torch.eye(32)).abs().max() < 1e-5)
        True
    """
    check_call("delta_orthogonal_", tensor, generator)
    return _fan_scheme(tensor, "delta_orthogonal", generator, "delta_orthogonal_", gain=gain,
                  center=center)


def conv_orthogonal_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """An orthogonal convolution kernel: with circular padding the conv is gain × an isometry.

    K(z) = H·∏ⱼ (Pⱼ + (I − Pⱼ) z) built from random symmetric projections Pⱼ, k − 1 factors
    per kernel dim (Xiao et al. 2018, "Dynamical Isometry and a Mean Field Theory of
    CNNs", ICML, Algorithm 1; TF's ``ConvolutionOrthogonal1D/2D/3D``). Every singular
    value of the circularly padded convolution equals ``gain`` (which multiplies the std);
    zero padding breaks this at the border only. Needs out ≥ in.

    Example:
        >>> conv = torch.nn.Conv2d(16, 16, 3, padding=1, padding_mode="circular", bias=False)
        >>> _ = conv_orthogonal_(conv.weight)
        >>> x = torch.randn(1, 16, 8, 8)
        >>> with torch.no_grad():
        ...     ratio = float(conv(x).norm() / x.norm())
        >>> abs(ratio - 1) < 1e-5
        True
    """
    check_call("conv_orthogonal_", tensor, generator)
    return _fan_scheme(tensor, "conv_orthogonal", generator, "conv_orthogonal_", gain=gain)


def random_walk_(
    tensor: torch.Tensor,
    nonlinearity: Literal["linear", "relu"] = "linear",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random-walk init: w ~ N(0, g²/N), N = fan_in, with Sussillo & Abbott's gain g.

    g = exp(1/(2N)) for a linear network, √2·exp(1.2/(max(N, 6) − 2.4)) for ReLU, which
    makes log‖activations‖ a zero-drift random walk through depth (Sussillo & Abbott 2014,
    "Random Walk Initialization for Training Very Deep Feedforward Networks",
    arXiv:1412.6558; ``paraminit.core.schemes.random_walk_gain``).

    Example:
        >>> w = random_walk_(torch.empty(100, 100), "relu")  # std 1.4317 / 10
    """
    check_call("random_walk_", tensor, generator)
    return _fan_scheme(tensor, "random_walk", generator, "random_walk_", nonlinearity=nonlinearity)
