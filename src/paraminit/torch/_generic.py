"""paraminit's additions to the ``torch.nn.init`` surface: any registry scheme, in place.

Unlike the drop-ins, these read *correct* per-group fans (``fan_convention="paraminit"``)
from torch's layout: (out, in/groups, *k), or (in, out/groups, *k) with ``transposed=True``.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from .._errors import InitError
from ..core import validate as _validate
from ..core.schemes import resolve, validate
from ._dropin import check_call
from ._write import empty_noop, write_spec

__all__ = ["init_", "lecun_normal_", "lecun_uniform_", "msra_", "variance_scaling_"]


def init_(
    tensor: torch.Tensor,
    scheme: str,
    *,
    seed: int | None = None,
    name: str = "",
    layout: str = "torch",
    generator: torch.Generator | None = None,
    **options: Any,
) -> torch.Tensor:
    """Fill ``tensor`` in place with any registered scheme (``paraminit.schemes()``).

    The spec is ``paraminit.resolve(scheme, tensor.shape, layout=layout, **options)``
    (options: the scheme's own and the fan options ``groups``, ``transposed``,
    ``in_axis``/``out_axis``, ``stride``, ``fan_convention``); the values are drawn from
    the counter-based stream ``Stream(seed, name)``.

    Args:
        tensor: the tensor to fill (any device; written on its own device).
        scheme: a registry name or alias, e.g. ``"he_normal"``, ``"glorot_uniform"``.
        seed: int in [0, 2**64 - 1]. With a seed the values equal, bit for bit,
            ``paraminit.numpy.sample(scheme, tensor.shape, seed=seed, name=name,
            dtype=..., layout=layout, **options)`` for float32/float64 tensors.
            None draws one seed from ``generator`` (one ``torch.randint(0, 2**63 - 1, (1,))``
            call), so ``torch.manual_seed`` reproduces.
        name: the parameter's name, keying its own stream (e.g. ``"encoder.0.weight"``).
        layout: how to read fans from the shape: ``"torch"``, ``"jax"``, ``"keras"``.
        generator: the torch generator the seed is drawn from; not with ``seed``.

    Returns:
        ``tensor``. Meta tensors are returned untouched; zero-element tensors warn
        ``"Initializing zero-element tensors is a no-op"`` (as torch's kaiming_*).

    Note:
        Fans follow paraminit's convention by default (per-group fan_out for grouped
        convolutions); pass ``fan_convention="torch"`` for torch's literal reading.

    Example:
        >>> w = torch.empty(256, 128, 3, 3)
        >>> _ = init_(w, "he_normal", seed=0, name="conv1.weight")
        >>> round(float(w.std()), 3)
        0.042
    """
    check_call("init_", tensor, generator)
    _validate.text("name", name)
    if seed is not None and generator is not None:
        raise InitError(
            f"init_: pass seed or generator, not both; received seed={seed!r} and a "
            "generator. An explicit seed fixes the values; drop one of them"
        )
    if tensor.numel() == 0:
        # bad names and option values fail even on an empty tensor; its shape is not checked
        validate(scheme, {"layout": layout, **options})
        empty_noop(tensor)
        return tensor
    spec = resolve(scheme, tuple(tensor.shape), layout=layout, **options)
    return write_spec(tensor, spec, seed=seed, generator=generator, name=name, function="init_")


def _fan_scheme(
    tensor: torch.Tensor, scheme: str, generator: torch.Generator | None, function: str,
    **options: Any,
) -> torch.Tensor:
    if empty_noop(tensor, stacklevel=4):
        return tensor
    spec = resolve(scheme, tuple(tensor.shape), layout="torch", **options)
    return write_spec(tensor, spec, generator=generator, function=function)


def lecun_normal_(
    tensor: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    groups: int = 1,
    transposed: bool = False,
) -> torch.Tensor:
    """LeCun normal: w ~ N(0, 1/fan_in), fan_in = in/groups · receptive field.

    LeCun, Bottou, Orr & Müller 1998, "Efficient BackProp", §4.6 (Var = 1/fan_in); the
    init of self-normalizing networks (Klambauer et al. 2017, §3).

    Note:
        torch has no lecun_*; ``kaiming_normal_(w, nonlinearity="linear")`` is the same law
        for ungrouped weights. Flax's ``lecun_normal`` is a *truncated* normal (±2 parent
        std, result std 1/√fan_in): ``variance_scaling_(w, 1.0, "fan_in",
        "truncated_normal")``.

    Example:
        >>> w = lecun_normal_(torch.empty(256, 512))  # std 1/sqrt(512) = 0.0442
    """
    check_call("lecun_normal_", tensor, generator)
    return _fan_scheme(tensor, "lecun_normal", generator, "lecun_normal_", groups=groups,
                       transposed=transposed)


def lecun_uniform_(
    tensor: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    groups: int = 1,
    transposed: bool = False,
) -> torch.Tensor:
    """LeCun uniform: w ~ U(-r, r), r = √(3/fan_in) (std 1/√fan_in).

    LeCun et al. 1998, "Efficient BackProp", §4.6.

    Note:
        torch's default Linear/Conv init, ``kaiming_uniform_(a=√5)``, is U(±1/√fan_in):
        one third of this variance.

    Example:
        >>> w = lecun_uniform_(torch.empty(256, 512))  # bound sqrt(3/512) = 0.0765
    """
    check_call("lecun_uniform_", tensor, generator)
    return _fan_scheme(tensor, "lecun_uniform", generator, "lecun_uniform_", groups=groups,
                       transposed=transposed)


def variance_scaling_(
    tensor: torch.Tensor,
    scale: float = 1.0,
    mode: Literal["fan_in", "fan_out", "fan_avg", "fan_geo_avg"] = "fan_in",
    distribution: Literal["truncated_normal", "normal", "uniform"] = "truncated_normal",
    generator: torch.Generator | None = None,
    *,
    groups: int = 1,
    transposed: bool = False,
) -> torch.Tensor:
    """Keras' VarianceScaling: Var = scale / fan(mode); ``scale`` multiplies the variance.

    fan(mode) is fan_in, fan_out, (fan_in + fan_out)/2 or √(fan_in·fan_out);
    ``"truncated_normal"`` cuts at ±2 parent stds and divides the parent std by
    0.87962566103423978 so the *result* has std √(scale/fan); ``"uniform"`` has bound
    √3·std. Glorot = (1, fan_avg), He = (2, fan_in), LeCun = (1, fan_in): Glorot & Bengio
    2010 §4.2 Eq. 16; He et al. 2015 §2.2 Eq. 10; LeCun et al. 1998 §4.6.

    Note:
        Keras reads (in, out) kernels; here the weight is torch's (out, in/groups, *k).
        A gain g corresponds to scale = g².

    Example:
        >>> w = variance_scaling_(torch.empty(256, 128, 3, 3), 2.0)  # result std 0.0417
    """
    check_call("variance_scaling_", tensor, generator)
    return _fan_scheme(tensor, "variance_scaling", generator, "variance_scaling_",
                       scale=scale, mode=mode, distribution=distribution, groups=groups,
                       transposed=transposed)


def msra_(
    tensor: torch.Tensor,
    variance_norm: Literal["fan_in", "fan_out", "average"] = "fan_in",
    generator: torch.Generator | None = None,
    *,
    groups: int = 1,
    transposed: bool = False,
) -> torch.Tensor:
    """MSRA (He et al. 2015) as Caffe's ``MSRAFiller``: w ~ N(0, 2/n).

    n = fan_in (``"fan_in"``, default), fan_out, or (fan_in + fan_out)/2 (``"average"``,
    Var = 4/(fan_in + fan_out)). He, Zhang, Ren & Sun 2015, "Delving Deep into
    Rectifiers", §2.2, Eq. 10 and Eq. 14.

    Note:
        The formula 2/(n_in + n_out) found in some collections is half of Caffe's AVERAGE
        and not He et al.'s; use ``"average"`` for the faithful form.

    Example:
        >>> w = msra_(torch.empty(256, 128, 3, 3))  # std sqrt(2/1152) = 0.0417
    """
    check_call("msra_", tensor, generator)
    return _fan_scheme(tensor, "msra", generator, "msra_", variance_norm=variance_norm,
                       groups=groups, transposed=transposed)
