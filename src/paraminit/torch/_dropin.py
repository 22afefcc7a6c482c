"""The ``torch.nn.init`` surface: same names, signatures, defaults and meaning.

Every random function builds a paraminit :class:`~paraminit.core.spec.InitSpec` with
torch's meaning of its arguments and samples it from the counter-based stream
``Stream(seed, "")``, where ``seed`` is one draw ``torch.randint(0, 2**63 - 1, (1,),
generator=generator)`` from the given generator (torch's default one when None): so
``torch.manual_seed`` reproduces and successive calls differ, but the numbers are not
torch's. Values are computed in float64, cast to float32 (float64 stays float64) and then
once to the tensor's dtype; bounded laws never leave their bounds in any dtype.

Errors torch raises as ``ValueError`` raise :class:`paraminit.InitError`, a ValueError.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any, Literal, TypeVar, get_args

import torch
from torch import Tensor

from .._errors import InitError
from ..core import validate as _validate
from ..core.engines.cast import check_magnitude
from ..core.engines.law import NORMAL_REACH
from ..core.gains import gain as _gain
from ..core.schemes import parent_truncated_normal, resolve
from ..core.spec import InitSpec
from ._write import check_dtype, empty_noop, write_spec

__all__ = [
    "calculate_gain",
    "constant",
    "constant_",
    "dirac",
    "dirac_",
    "eye",
    "eye_",
    "kaiming_normal",
    "kaiming_normal_",
    "kaiming_uniform",
    "kaiming_uniform_",
    "normal",
    "normal_",
    "ones_",
    "orthogonal",
    "orthogonal_",
    "sparse",
    "sparse_",
    "trunc_normal_",
    "uniform",
    "uniform_",
    "xavier_normal",
    "xavier_normal_",
    "xavier_uniform",
    "xavier_uniform_",
    "zeros_",
]

_R = TypeVar("_R")

_NonlinearityType = Literal[
    "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu",
]
_FanMode = Literal["fan_in", "fan_out"]
_NONLINEARITIES: tuple[str, ...] = get_args(_NonlinearityType)
_DEFAULT_LEAKY_SLOPE = 0.01  # torch's calculate_gain('leaky_relu') default


# ---------------------------------------------------------------------------------------
# validation: messages name the argument, the value and the fix


def check_call(function: str, tensor: Any, generator: Any = None) -> None:
    """``tensor`` is a tensor and ``generator`` a torch.Generator or None: an InitError
    naming ``function`` instead of an AttributeError deep inside."""
    if not isinstance(tensor, Tensor) and not torch.overrides.has_torch_function((tensor,)):
        raise InitError(f"{function}: tensor must be a torch.Tensor; received "
                        f"{_validate.show(tensor)} ({type(tensor).__name__}). Pass the "
                        "parameter itself, e.g. layer.weight")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InitError(f"{function}: generator must be a torch.Generator or None; received "
                        f"{_validate.show(generator)}. Make one with "
                        "torch.Generator().manual_seed(0)")


def _real(function: str, argument: str, value: Any, *, allow_inf: bool = False) -> float:
    """A real number (int, float, NumPy scalar, 0-d tensor), not bool, as float."""
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if isinstance(value, bool) or not hasattr(value, "__float__") or isinstance(value, complex):
        raise InitError(f"{function}: {argument} must be a real number; received "
                        f"{_validate.show(value)}")
    try:
        number = float(value)
    except (OverflowError, TypeError, ValueError):
        raise InitError(f"{function}: {argument} must be a real number within float64's range "
                        f"(about 1.8e308); received {_validate.show(value)}") from None
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise InitError(f"{function}: {argument} must be finite; received {value!r}")
    return number


def _positive_gain(function: str, value: Any) -> float:
    number = _real(function, "gain", value)
    if number <= 0:
        raise InitError(
            f"{function}: gain must be > 0 (it multiplies the std); received {value!r}. "
            "For an all-zero tensor use zeros_"
        )
    return number


def _leaky_slope(function: str, argument: str, param: Any) -> float:
    """torch's rule: None -> 0.01; an int (not bool) or a float; anything else raises."""
    if param is None:
        return _DEFAULT_LEAKY_SLOPE
    if isinstance(param, bool) or not isinstance(param, (int, float)):
        raise InitError(
            f"{function}: {argument} (the negative slope of 'leaky_relu') must be an int or "
            f"a float; received {param!r} of type {type(param).__name__}. Pass e.g. "
            f"{argument}=0.2"
        )
    try:
        slope = _validate.real(argument, param)
    except InitError:
        raise InitError(
            f"{function}: {argument} (the negative slope of 'leaky_relu') must be finite; "
            f"received {_validate.show(param)}"
        ) from None
    if abs(slope) > 1e154:  # torch: OverflowError from slope**2
        raise InitError(
            f"{function}: {argument} (the negative slope of 'leaky_relu') must be at most "
            f"1e154 in size (its square overflows float64); received {_validate.show(param)}"
        )
    return slope


def _nonlinearity(function: str, nonlinearity: Any) -> str:
    if not isinstance(nonlinearity, str) or nonlinearity not in _NONLINEARITIES:
        allowed = ", ".join(map(repr, _NONLINEARITIES))
        raise InitError(
            f"{function}: unsupported nonlinearity {nonlinearity!r}; nonlinearity must be one "
            f"of {allowed}. For gelu/silu/elu/mish/softplus use paraminit.gain(name) as "
            "a gain"
        )
    return nonlinearity


def _fan_mode(function: str, mode: Any) -> str:
    lowered = mode.lower() if isinstance(mode, str) else mode  # torch accepts "FAN_IN"
    if lowered not in ("fan_in", "fan_out"):
        raise InitError(
            f"{function}: mode {mode!r} not supported; mode must be 'fan_in' (preserves the "
            "forward variance) or 'fan_out' (the backward variance)"
        )
    return lowered


def _require_fans(function: str, tensor: Tensor) -> None:
    if tensor.dim() < 2:
        raise InitError(
            f"{function}: fan in and fan out can not be computed for tensor with fewer than 2 "
            f"dimensions; received a {tensor.dim()}-D tensor of shape {tuple(tensor.shape)}. "
            "Apply it to a weight (out, in, *kernel); for a bias use uniform_, normal_ or "
            "zeros_"
        )


def _require_rank(function: str, tensor: Tensor, ranks: tuple[int, ...], fix: str) -> None:
    if tensor.dim() not in ranks:
        wanted = str(ranks[0]) if len(ranks) == 1 else (
            f"{', '.join(map(str, ranks[:-1]))} or {ranks[-1]}")
        raise InitError(
            f"{function}: only tensors with {wanted} dimensions are supported; received a "
            f"{tensor.dim()}-D tensor of shape {tuple(tensor.shape)}. {fix}"
        )


def _shape(tensor: Tensor) -> tuple[int, ...]:
    return tuple(int(d) for d in tensor.shape)


# ---------------------------------------------------------------------------------------
# torch's private helpers, which libraries call directly


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """torch's fans: fan_in = size(1)·rf, fan_out = size(0)·rf, rf = prod(size()[2:]).

    Written out rather than through :func:`paraminit.compute_fans` because torch's helper
    returns zero fans for empty tensors where ``compute_fans`` rightly raises.
    """
    _require_fans("_calculate_fan_in_and_fan_out", tensor)
    receptive_field_size = math.prod(_shape(tensor)[2:])
    return int(tensor.size(1)) * receptive_field_size, int(tensor.size(0)) * receptive_field_size


def _calculate_correct_fan(tensor: Tensor, mode: _FanMode) -> int:
    """torch's ``fan_in`` or ``fan_out`` of ``tensor`` (mode case-insensitive)."""
    mode = _fan_mode("_calculate_correct_fan", mode)  # type: ignore[assignment]
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _uniform_spec(function: str, shape: tuple[int, ...], a: Any, b: Any) -> InitSpec:
    low, high = _real(function, "a", a), _real(function, "b", b)
    if low > high:
        raise InitError(
            f"{function}: need a <= b for U(a, b); received a={a!r}, b={b!r}. Swap them"
        )
    if low == high:
        return resolve("constant", shape, value=low)
    return resolve("uniform", shape, low=low, high=high)


def _normal_spec(function: str, shape: tuple[int, ...], mean: Any, std: Any) -> InitSpec:
    location, sigma = _real(function, "mean", mean), _real(function, "std", std)
    if sigma < 0:
        raise InitError(f"{function}: std must be >= 0; received std={std!r}")
    if sigma == 0:
        return resolve("constant", shape, value=location)
    return resolve("normal", shape, mean=location, std=sigma)


def _trunc_normal_spec(
    function: str, shape: tuple[int, ...], mean: Any, std: Any, a: Any, b: Any
) -> InitSpec:
    """torch's meaning (:func:`paraminit.core.schemes.parent_truncated_normal`), with
    torch's scalars (0-d tensors) accepted."""
    return parent_truncated_normal(
        function, shape, _real(function, "mean", mean), _real(function, "std", std),
        _real(function, "a", a, allow_inf=True), _real(function, "b", b, allow_inf=True))


def _random_dtype(tensor: Tensor, function: str) -> None:
    """torch samples its laws for floating tensors only: so does paraminit, also when the
    law degenerates to a constant (a == b, std == 0)."""
    if not tensor.is_meta:
        check_dtype(tensor, function)


def _nothing_to_write(function: str, tensor: Tensor, reach: float = 0.0) -> bool:
    """True for a zero-element or meta tensor, after the checks a real one would get: the
    dtype, and a law reaching ``reach`` held by it (the same call on the real weight must
    not fail later). torch skips its checks when there is nothing to write."""
    if tensor.numel() and not tensor.is_meta:
        return False
    _random_dtype(tensor, function)
    if tensor.dtype.is_floating_point and reach:
        check_magnitude(reach, str(tensor.dtype).removeprefix("torch."))
    return True


def _no_grad_uniform_(
    tensor: Tensor, a: float, b: float, generator: torch.Generator | None = None
) -> Tensor:
    """U(a, b) in place under no_grad (torch's helper; values from paraminit's stream)."""
    spec = _uniform_spec("uniform_", _shape(tensor), a, b)
    _random_dtype(tensor, "uniform_")
    bounds = spec.bounds if spec.bounds is not None else (spec.mean, spec.mean)
    return write_spec(tensor, spec, generator=generator, function="uniform_", bounds=bounds)


def _no_grad_normal_(
    tensor: Tensor, mean: float, std: float, generator: torch.Generator | None = None
) -> Tensor:
    """N(mean, std²) in place under no_grad (torch's helper; values from paraminit's stream)."""
    spec = _normal_spec("normal_", _shape(tensor), mean, std)
    _random_dtype(tensor, "normal_")
    return write_spec(tensor, spec, generator=generator, function="normal_")


def _no_grad_trunc_normal_(
    tensor: Tensor,
    mean: float,
    std: float,
    a: float,
    b: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Truncated normal in place under no_grad; torch's meaning (see :func:`trunc_normal_`)."""
    spec = _trunc_normal_spec("trunc_normal_", _shape(tensor), mean, std, a, b)
    _random_dtype(tensor, "trunc_normal_")
    low, high = spec.options["a"], spec.options["b"]
    return write_spec(tensor, spec, generator=generator, function="trunc_normal_",
                      bounds=(low, high))


def _fill_value(function: str, tensor: Tensor, val: Any) -> bool | int | float:
    """``val`` as the exact Python number ``tensor`` will hold, or an InitError.

    A bool or a real number (NumPy scalars and one-element tensors included), finite; an
    integer or bool tensor takes only the integers it holds (no truncation of 0.5, no wrap
    of 300 in uint8, no ``True`` for 2); a floating tensor only a value that stays finite
    when rounded to its dtype (70000 is inf in float16).
    """
    if isinstance(val, Tensor) and val.numel() == 1 and not val.is_complex():
        val = val.item()
    if _validate.is_bool(val):
        return bool(val)
    if isinstance(val, numbers.Integral):  # exact: 2**62 + 1 is not rounded through float
        number: int | float = int(val)
    else:
        number = _real(function, "val", val)
    if tensor.dtype.is_floating_point or tensor.dtype.is_complex:
        real = tensor.dtype.to_real() if tensor.dtype.is_complex else tensor.dtype
        try:
            check_magnitude(abs(float(number)), str(real).removeprefix("torch."))
        except (InitError, OverflowError):
            raise InitError(f"{function}: {tensor.dtype} cannot hold val={_validate.show(val)} "
                            f"(largest finite value {torch.finfo(real).max:.6g}); pass a "
                            "smaller value, or use a wider dtype") from None
        return float(number)
    low, high = (0, 1) if tensor.dtype == torch.bool else (
        torch.iinfo(tensor.dtype).min, torch.iinfo(tensor.dtype).max)
    if number != int(number) or not low <= number <= high:
        raise InitError(f"{function}: {tensor.dtype} cannot hold val={_validate.show(val)} "
                        f"exactly (integers in [{low}, {high}]); pass one of them, or use a "
                        "float tensor")
    return int(number)


def _no_grad_fill_(tensor: Tensor, val: float) -> Tensor:
    """``tensor.fill_(val)`` under no_grad (any dtype, exactly as torch), for a ``val`` the
    dtype holds: never inf, NaN, a truncated fraction or a wrapped integer."""
    value = _fill_value("constant_", tensor, val)
    with torch.no_grad():
        return tensor.fill_(value)


def _no_grad_zero_(tensor: Tensor) -> Tensor:
    """``tensor.zero_()`` under no_grad (any dtype, exactly as torch)."""
    with torch.no_grad():
        return tensor.zero_()


# ---------------------------------------------------------------------------------------
# the public functions


def calculate_gain(nonlinearity: _NonlinearityType, param: int | float | None = None) -> float:
    """Recommended gain (a std multiplier; scale = gain²) for ``nonlinearity``, as torch.

    linear, conv*, conv_transpose*, sigmoid: 1; tanh: 5/3; relu: √2 (He et al. 2015,
    Eq. 10); leaky_relu: √(2/(1 + slope²)) with slope ``param`` (default 0.01; He et al.
    2015, Eq. 15); selu: 3/4. ``param`` is ignored for every other nonlinearity.

    Note:
        These are torch's values, kept exactly. tanh's 5/3 and selu's 3/4 are empirical
        choices; the second-moment gains 1/√E[φ(z)²] (``paraminit.numeric_gain``) are
        1.5925 and 1.0. For self-normalizing networks use ``'linear'`` (LeCun normal,
        Klambauer et al. 2017, §3). torch's kaiming_* pass ``a=0`` by default, so their
        'leaky_relu' gain is √2, not this function's default 1.41414.

    Example:
        >>> calculate_gain("leaky_relu", 0.2)
        1.3867504905630728
    """
    name = _nonlinearity("calculate_gain", nonlinearity)
    if name == "leaky_relu":
        return _gain("leaky_relu", _leaky_slope("calculate_gain", "param", param))
    return _gain(name)


def uniform_(
    tensor: Tensor,
    a: float = 0.0,
    b: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill ``tensor`` with U(a, b) (torch defaults a = 0, b = 1).

    Mean (a + b)/2, std (b - a)/√12. Values never leave [a, b], in any dtype.

    Note:
        The values come from paraminit's Philox stream seeded by one draw from
        ``generator``, not from ``tensor.uniform_``.

    Example:
        >>> w = uniform_(torch.empty(3, 5), -0.1, 0.1)
    """
    check_call("uniform_", tensor, generator)
    if torch.overrides.has_torch_function_variadic(tensor):
        return torch.overrides.handle_torch_function(
            uniform_, (tensor,), tensor=tensor, a=a, b=b, generator=generator
        )
    return _no_grad_uniform_(tensor, a, b, generator)


def normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill ``tensor`` with N(mean, std²) (torch defaults mean = 0, std = 1).

    Box–Muller normals from paraminit's stream (Box & Muller 1958).

    Example:
        >>> w = normal_(torch.empty(3, 5), std=0.02)
    """
    check_call("normal_", tensor, generator)
    if torch.overrides.has_torch_function_variadic(tensor):
        return torch.overrides.handle_torch_function(
            normal_, (tensor,), tensor=tensor, mean=mean, std=std, generator=generator
        )
    return _no_grad_normal_(tensor, mean, std, generator)


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill ``tensor`` with N(mean, std²) restricted to [a, b] (torch's meaning).

    ``std`` is the *parent* std and ``a``, ``b`` are *absolute* bounds: the result has
    std = std · σ_T with σ_T the std of N(0, 1) on [(a - mean)/std, (b - mean)/std].
    Sampled exactly by inverse CDF on the better-conditioned tail, so any interval works,
    even one far from ``mean``; values never lie outside [a, b] and none pile up on the
    bounds, also in bfloat16/float16 (drawn in float64, cast once, clipped to the bounds
    rounded inward).

    Note:
        With the defaults a = -2, b = 2 and a small std (e.g. 0.02) nothing is truncated
        (±100σ): this is a plain normal. Keras' ``TruncatedNormal(stddev)`` cuts at ±2
        *parent* stds instead, and Keras/JAX variance-scaling inits keep the *result* std
        (``variance_scaling_``). torch's own sampler warns when mean is more than 2 std
        outside [a, b]; this one is exact there, so it does not warn.

    Example:
        >>> w = trunc_normal_(torch.empty(768, 768), std=0.02, a=-0.04, b=0.04)
    """
    check_call("trunc_normal_", tensor, generator)
    return _no_grad_trunc_normal_(tensor, mean, std, a, b, generator=generator)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val`` (``tensor.fill_(val)``, any dtype).

    Example:
        >>> w = constant_(torch.empty(3, 5), 0.3)
    """
    check_call("constant_", tensor)
    if torch.overrides.has_torch_function_variadic(tensor):
        return torch.overrides.handle_torch_function(
            constant_, (tensor,), tensor=tensor, val=val
        )
    return _no_grad_fill_(tensor, val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 1.

    Example:
        >>> w = ones_(torch.empty(3, 5))
    """
    check_call("ones_", tensor)
    return _no_grad_fill_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 0.

    Example:
        >>> w = zeros_(torch.empty(3, 5))
    """
    check_call("zeros_", tensor)
    return _no_grad_zero_(tensor)


def eye_(tensor: Tensor) -> Tensor:
    """Fill the 2-D ``tensor`` with the identity matrix (ones on the main diagonal).

    Preserves as many inputs of a Linear layer as possible (Le, Jaitly & Hinton 2015,
    IRNN, §2, for recurrent weights).

    Example:
        >>> w = eye_(torch.empty(3, 5))
    """
    check_call("eye_", tensor)
    _require_rank("eye_", tensor, (2,), "eye_ fills a Linear weight; for conv use dirac_")
    return write_spec(tensor, resolve("identity", _shape(tensor)), function="eye_")


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill the {3, 4, 5}-D conv weight with the Dirac delta: the conv is the identity.

    ``W[g·out_per_group + d, d, k//2, ...] = 1`` for d < min(out_per_group, in_per_group),
    0 elsewhere: each group passes its first input channels through (cf. Xiao et al. 2018,
    delta-orthogonal, §2.3).

    Note:
        The 1 sits at k//2 (k = 4 → index 2), as torch; JAX's ``delta_orthogonal`` and TF
        use (k - 1)//2.

    Example:
        >>> w = dirac_(torch.empty(24, 8, 3, 3), groups=3)
    """
    check_call("dirac_", tensor)
    _require_rank("dirac_", tensor, (3, 4, 5),
                  "dirac_ fills a Conv1d/2d/3d weight; for a Linear weight use eye_")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise InitError(f"dirac_: groups must be a positive int; received {groups!r}")
    if tensor.size(0) % groups:
        raise InitError(
            f"dirac_: dim 0 must be divisible by groups; received {tensor.size(0)} "
            f"out-channels and groups={groups}. Pass the conv's own groups"
        )
    spec = resolve("dirac", _shape(tensor), groups=groups)
    return write_spec(tensor, spec, function="dirac_")


def xavier_uniform_(
    tensor: Tensor,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Glorot/Xavier uniform: U(-r, r), r = gain·√(6/(fan_in + fan_out)).

    Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward
    neural networks", §4.2, Eq. 16. ``gain`` multiplies the std. Fans as torch reads
    them: fan_in = size(1)·rf, fan_out = size(0)·rf.

    Note:
        Symmetric in fan_in and fan_out, so torch's (out, in) and Keras' (in, out)
        layouts agree; torch counts a grouped conv's fan_out without dividing by groups.
        For the logistic sigmoid Glorot & Bengio use gain 4.

    Example:
        >>> w = xavier_uniform_(torch.empty(3, 5), gain=calculate_gain("relu"))
    """
    check_call("xavier_uniform_", tensor, generator)
    _require_fans("xavier_uniform_", tensor)
    g = _positive_gain("xavier_uniform_", gain)
    fans = sum(_calculate_fan_in_and_fan_out(tensor))
    if _nothing_to_write("xavier_uniform_", tensor,
                         g * math.sqrt(6.0 / fans) if fans else 0.0):
        return tensor
    spec = resolve("xavier_uniform", _shape(tensor), gain=g, fan_convention="torch")
    return write_spec(tensor, spec, generator=generator, function="xavier_uniform_")


def xavier_normal_(
    tensor: Tensor,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Glorot/Xavier normal: N(0, std²), std = gain·√(2/(fan_in + fan_out)).

    Glorot & Bengio 2010, §4.2 (Var = 2/(n_in + n_out), Eq. 12 averaged). Fans as torch
    reads them.

    Note:
        Keras' ``GlorotNormal`` is a *truncated* normal with the same result std
        (``variance_scaling_(w, 1.0, "fan_avg")``).

    Example:
        >>> w = xavier_normal_(torch.empty(3, 5))
    """
    check_call("xavier_normal_", tensor, generator)
    _require_fans("xavier_normal_", tensor)
    g = _positive_gain("xavier_normal_", gain)
    fans = sum(_calculate_fan_in_and_fan_out(tensor))
    if _nothing_to_write("xavier_normal_", tensor,
                         NORMAL_REACH * g * math.sqrt(2.0 / fans) if fans else 0.0):
        return tensor
    spec = resolve("xavier_normal", _shape(tensor), gain=g, fan_convention="torch")
    return write_spec(tensor, spec, generator=generator, function="xavier_normal_")


def _kaiming(
    function: str, scheme: str, tensor: Tensor, a: Any, mode: Any, nonlinearity: Any,
    generator: torch.Generator | None,
) -> Tensor:
    if empty_noop(tensor, stacklevel=4):
        return tensor
    fan_mode = _fan_mode(function, mode)
    _require_fans(function, tensor)
    name = _nonlinearity(function, nonlinearity)
    # torch hands `a` to calculate_gain, which reads it only for leaky_relu.
    slope = _leaky_slope(function, "a", a) if name == "leaky_relu" else 0.0
    spec = resolve(scheme, _shape(tensor), mode=fan_mode, nonlinearity=name, slope=slope,
                   fan_convention="torch")
    return write_spec(tensor, spec, generator=generator, function=function)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: _FanMode = "fan_in",
    nonlinearity: _NonlinearityType = "leaky_relu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """He/Kaiming uniform: U(-r, r), r = gain·√(3/fan), gain = calculate_gain(nonlinearity, a).

    He, Zhang, Ren & Sun 2015, "Delving Deep into Rectifiers", §2.2: Eq. 10 (fan_in),
    Eq. 14 (fan_out), Eq. 15 (leaky slope a: Var = 2/((1 + a²)·fan)). Fans as torch reads
    them: fan_in = size(1)·rf, fan_out = size(0)·rf.

    Note:
        The default a = 0 with 'leaky_relu' gives gain √2 (ReLU), while
        ``calculate_gain('leaky_relu')`` alone defaults to slope 0.01. torch's default
        Linear/Conv init is ``kaiming_uniform_(w, a=math.sqrt(5))`` = U(±1/√fan_in).
        torch counts a grouped conv's fan_out as out·rf (``msra_``/``init_`` count per group).

    Example:
        >>> w = kaiming_uniform_(torch.empty(3, 5), mode="fan_in", nonlinearity="relu")
    """
    check_call("kaiming_uniform_", tensor, generator)
    if torch.overrides.has_torch_function_variadic(tensor):
        return torch.overrides.handle_torch_function(
            kaiming_uniform_, (tensor,), tensor=tensor, a=a, mode=mode,
            nonlinearity=nonlinearity, generator=generator,
        )
    return _kaiming("kaiming_uniform_", "he_uniform", tensor, a, mode, nonlinearity, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: _FanMode = "fan_in",
    nonlinearity: _NonlinearityType = "leaky_relu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """He/Kaiming normal: N(0, std²), std = gain/√fan, gain = calculate_gain(nonlinearity, a).

    He et al. 2015, "Delving Deep into Rectifiers", §2.2, Eq. 10/14/15. Fans as torch
    reads them.

    Note:
        On a (1024, 512) matrix torch reads fan_in 512 (std 0.0625 for relu) while Keras'
        HeNormal on its (in, out) kernel reads 1024; Keras' HeNormal is also truncated
        (``variance_scaling_(w, 2.0)``).

    Example:
        >>> w = kaiming_normal_(torch.empty(3, 5), mode="fan_out", nonlinearity="relu")
    """
    check_call("kaiming_normal_", tensor, generator)
    return _kaiming("kaiming_normal_", "he_normal", tensor, a, mode, nonlinearity, generator)


def orthogonal_(
    tensor: Tensor,
    gain: float = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill ``tensor`` with gain × a (semi-)orthogonal matrix, Haar-distributed.

    Viewed as (size(0), numel/size(0)) (rows = dim 0, the rest flattened), W = gain·Q
    with Q from the QR factorisation of a Gaussian matrix, columns times sign(diag R)
    (Mezzadri 2007, §5), transposed so that QR sees a tall matrix. Saxe, McClelland &
    Ganguli 2014, "Exact solutions to the nonlinear dynamics of learning in deep linear
    neural networks", ICLR, §3.

    Note:
        torch raises for bfloat16/float16 (no low-precision QR); here the QR runs in
        float64 and the result is cast once, so WᵀW = gain²·I up to the dtype's rounding.
        A negative gain gives gain·Q, as torch; gain 0 is refused (no orthogonal matrix).
        Keras/TF flatten to columns = last dim instead.

    Example:
        >>> w = orthogonal_(torch.empty(3, 5))
    """
    check_call("orthogonal_", tensor, generator)
    if tensor.dim() < 2:
        raise InitError(
            f"orthogonal_: only tensors with 2 or more dimensions are supported; received a "
            f"{tensor.dim()}-D tensor of shape {tuple(tensor.shape)}. For a 1-D tensor use "
            "normal_ or uniform_"
        )
    g = _real("orthogonal_", "gain", gain)
    if g == 0:
        raise InitError(
            "orthogonal_: gain must be non-zero (W = gain·Q); received gain=0, which gives an "
            "all-zero matrix, not an orthogonal one. For an all-zero tensor use zeros_"
        )
    if _nothing_to_write("orthogonal_", tensor):
        return tensor
    spec = resolve("orthogonal", _shape(tensor), gain=abs(g))
    write_spec(tensor, spec, generator=generator, function="orthogonal_")
    if g < 0:  # torch's W = gain·Q: -Q is as orthogonal (and as Haar-distributed) as Q
        with torch.no_grad():
            tensor.neg_()
    return tensor


def sparse_(
    tensor: Tensor,
    sparsity: float,
    std: float = 0.01,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill the 2-D (rows, cols) ``tensor`` as a sparse matrix, torch's meaning.

    Exactly ceil(sparsity·rows) zeros in *each column*, at random rows; the other
    entries ~ N(0, std²). Martens 2010, "Deep learning via Hessian-free optimization",
    ICML, §5 (sparse initialization).

    Note:
        torch's own ``sparse_`` draws its mask from the global RNG even when given a
        ``generator``; here both values and mask come from ``generator``. On torch's
        (out, in) weight a column is one *input*: Martens fixes the count per *unit*
        (15 incoming weights per output), which ``init_(w, "sparse", nonzeros=15)`` gives.

    Example:
        >>> w = sparse_(torch.empty(3, 5), sparsity=0.1)
    """
    check_call("sparse_", tensor, generator)
    _require_rank("sparse_", tensor, (2,), "sparse_ fills a 2-D (rows, cols) matrix")
    # Each column (axis 1) is a "unit" choosing its non-zero rows (axis 0).
    spec = resolve("sparse", _shape(tensor), in_axis=0, out_axis=1,
                   sparsity=_real("sparse_", "sparsity", sparsity),
                   std=_real("sparse_", "std", std))
    if _nothing_to_write("sparse_", tensor, NORMAL_REACH * abs(spec.params["value_std"])):
        return tensor
    return write_spec(tensor, spec, generator=generator, function="sparse_")


# ---------------------------------------------------------------------------------------
# deprecated names, exactly as torch makes them


def _make_deprecate(meth: Callable[..., _R]) -> Callable[..., _R]:
    new_name = meth.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args: Any, **kwargs: Any) -> _R:
        warnings.warn(
            f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
            FutureWarning,
            stacklevel=2,
        )
        return meth(*args, **kwargs)

    deprecated_init.__doc__ = f"""
    {old_name}(...)

    .. warning::
        This method is now deprecated in favor of :func:`paraminit.torch.{new_name}`.

    See :func:`~paraminit.torch.{new_name}` for details."""
    deprecated_init.__name__ = deprecated_init.__qualname__ = old_name
    return deprecated_init


uniform = _make_deprecate(uniform_)
normal = _make_deprecate(normal_)
constant = _make_deprecate(constant_)
eye = _make_deprecate(eye_)
dirac = _make_deprecate(dirac_)
xavier_uniform = _make_deprecate(xavier_uniform_)
xavier_normal = _make_deprecate(xavier_normal_)
kaiming_uniform = _make_deprecate(kaiming_uniform_)
kaiming_normal = _make_deprecate(kaiming_normal_)
orthogonal = _make_deprecate(orthogonal_)
sparse = _make_deprecate(sparse_)
