"""Differential fuzz of paraminit.torch against torch.nn.init (issue 16, torch parity).

Every function ``torch.nn.init`` has and ``paraminit.torch`` mirrors (the deprecated names
and the private ``_no_grad_*`` / fan helpers included) is called with the same arguments on
two identical tensors, one per library. The values differ (another RNG), so behaviours are
compared, not values:

(a) torch raises -> paraminit raises ``InitError`` and leaves its tensor as it was, unless
    the case is in ``EXTENSIONS`` (paraminit answers correctly where torch cannot);
(b) every ``InitError`` is one line naming the argument or the problem (dtype, bounds,
    dimensions);
(c) torch returns finite values within the law's bounds -> paraminit does too, or raises
    an ``InitError`` listed in ``REFUSALS`` with its reason;
(d) torch returns NaN, inf or values outside the law's bounds (or loops without end) ->
    paraminit gives an ``InitError`` or finite in-bounds values, never NaN.

Whatever paraminit returns is checked against the law with torch's meaning of the
arguments; the deterministic functions (constant, ones, zeros, eye, dirac, the gain and
fans) must equal torch's values exactly. Hypothesis drives the inputs, derandomised;
``PARAMINIT_FUZZ_EXAMPLES`` sets the cases per test (default 250), as in
tests/test_fuzz_schemes.py.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
import torch.nn.init as tinit  # noqa: E402

import paraminit.torch as pinit  # noqa: E402
from paraminit import InitError  # noqa: E402
from paraminit.torch import _dropin  # noqa: E402

EXAMPLES = int(os.environ.get("PARAMINIT_FUZZ_EXAMPLES", "250"))
FUZZ = settings(derandomize=True, max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# ---------------------------------------------------------------------------------------
# the surface: each function, the law it applies and its arguments

# Numbers as people pass them, extremes, and things that are not numbers at all.
REAL = st.one_of(
    st.floats(-3.0, 3.0),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1e-8, 0.5, 1.0, 2.0, -1.0, -2.0, 1e8, 7700.0,
                     65504.0, 70000.0, 1e38, 1e39, 1e300, -1e300, math.inf, -math.inf,
                     math.nan]),
    st.integers(-3, 3),
    st.sampled_from([2**70, -2**70, True, False, None, "1", "x", np.float32(0.5),
                     np.int64(2), np.float64(math.nan)]),
    st.builds(torch.tensor, st.sampled_from([0.5, 1.0, math.nan])),
)
MODE = st.sampled_from(["fan_in", "fan_out", "FAN_IN", "Fan_Out", "fan_avg", "bogus", "",
                        None, 1, True])
NONLINEARITY = st.sampled_from([*_dropin._NONLINEARITIES, "gelu", "silu", "LEAKY_RELU",
                                "relu ", "", None, 3])
GROUPS = st.one_of(st.integers(-2, 4), st.sampled_from([True, 2.0, "2", None, 2**70]))

ARGUMENTS: dict[str, dict[str, st.SearchStrategy]] = {
    "uniform_": {"a": REAL, "b": REAL},
    "normal_": {"mean": REAL, "std": REAL},
    "trunc_normal_": {"mean": REAL, "std": REAL, "a": REAL, "b": REAL},
    "constant_": {"val": REAL},
    "ones_": {},
    "zeros_": {},
    "eye_": {},
    "dirac_": {"groups": GROUPS},
    "xavier_uniform_": {"gain": REAL},
    "xavier_normal_": {"gain": REAL},
    "kaiming_uniform_": {"a": REAL, "mode": MODE, "nonlinearity": NONLINEARITY},
    "kaiming_normal_": {"a": REAL, "mode": MODE, "nonlinearity": NONLINEARITY},
    "orthogonal_": {"gain": REAL},
    "sparse_": {"sparsity": REAL, "std": REAL},
}
# function name -> (law, arguments always passed)
FUNCTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    **{law: (law, ()) for law in ARGUMENTS},
    "constant_": ("constant_", ("val",)),
    "sparse_": ("sparse_", ("sparsity",)),
    # deprecated names, warning FutureWarning in both
    **{law[:-1]: (law, ("val",) if law == "constant_" else ("sparsity",) if law == "sparse_"
                  else ())
       for law in ("uniform_", "normal_", "constant_", "eye_", "dirac_", "xavier_uniform_",
                   "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
                   "sparse_")},
    # private helpers libraries call directly
    "_no_grad_uniform_": ("uniform_", ("a", "b")),
    "_no_grad_normal_": ("normal_", ("mean", "std")),
    "_no_grad_trunc_normal_": ("trunc_normal_", ("mean", "std", "a", "b")),
    "_no_grad_fill_": ("constant_", ("val",)),
    "_no_grad_zero_": ("zeros_", ()),
}
DETERMINISTIC = frozenset({"constant_", "ones_", "zeros_", "eye_", "dirac_"})
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64,
          torch.uint8, torch.bool, torch.complex64]
SHAPES = st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple)
ZERO_ELEMENT = "Initializing zero-element tensors is a no-op"


def test_every_torch_function_is_fuzzed():
    public = {n for n in dir(tinit) if not n.startswith("__") and callable(getattr(tinit, n))
              and getattr(getattr(tinit, n), "__module__", "") == tinit.__name__}
    helpers = {"_calculate_fan_in_and_fan_out", "_calculate_correct_fan", "calculate_gain",
               "_make_deprecate"}
    both = {n for n in public if hasattr(pinit, n) or hasattr(_dropin, n)}
    assert both - helpers <= set(FUNCTIONS)
    assert set(ARGUMENTS) <= set(dir(tinit))


# ---------------------------------------------------------------------------------------
# deliberate differences: each with an example, checked by its own test below


@dataclass(frozen=True)
class Difference:
    key: str
    laws: frozenset[str]
    applies: Callable[[str, Any, dict[str, Any]], bool]  # (function, tensor, kwargs)
    example: tuple[str, tuple[int, ...], Any, dict[str, Any]]  # (function, shape, dtype, kwargs)
    reason: str


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _number(value: Any) -> float | None:
    """The float torch would read from ``value``, or None for a non-number."""
    if isinstance(value, str) or value is None:
        return None
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex():
            return None
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


RANDOM_LAWS = frozenset(ARGUMENTS) - DETERMINISTIC
NUMERIC = ("a", "b", "mean", "std", "gain", "sparsity", "groups")


def _refused_when_not_empty(function: str, tensor, kwargs) -> bool:
    """paraminit refuses the same call on the tensor with each 0 in its shape made 12."""
    full = torch.full(tuple(s or 12 for s in tensor.shape), 7, dtype=tensor.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            getattr(_dropin, function)(full, **kwargs)
        except InitError:
            return True
    return False


def _normal_reach_overflows(function: str, tensor, kwargs) -> bool:
    """The law's ±8.6σ reach (paraminit's Box-Muller maximum) overflows the dtype."""
    law, shape = FUNCTIONS[function][0], tuple(tensor.shape)
    num = {k: _number(v) for k, v in kwargs.items()}
    if law in ("normal_", "trunc_normal_"):
        mean, std = num.get("mean", 0.0), num.get("std", 1.0)
    elif law == "xavier_normal_":
        mean, std = 0.0, num.get("gain", 1.0) * math.sqrt(2.0 / max(1, sum(_fans(shape))))
    else:  # sparse_
        mean, std = 0.0, num.get("std", 0.01)
    if mean is None or std is None or not tensor.dtype.is_floating_point:
        return False
    return abs(mean) + 8.6 * abs(std) > torch.finfo(tensor.dtype).max


def _uniform_width_overflows(function: str, tensor, kwargs) -> bool:
    """b - a exceeds the dtype's largest value (torch's uniform_ requires it to fit)."""
    law, shape = FUNCTIONS[function][0], tuple(tensor.shape)
    num = {k: _number(v) for k, v in kwargs.items()}
    if not tensor.dtype.is_floating_point:
        return False
    if law == "uniform_":
        low, high = num.get("a", 0.0), num.get("b", 1.0)
        width = None if None in (low, high) else high - low
    elif law == "xavier_uniform_" and sum(_fans(shape)):
        gain = num.get("gain", 1.0)
        width = None if gain is None else 2 * abs(gain) * math.sqrt(6.0 / sum(_fans(shape)))
    else:  # kaiming_uniform_: at most 2·√6 < 5, never
        return False
    return width is not None and width > torch.finfo(tensor.dtype).max


def _huge_int(kwargs) -> bool:
    return any(isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 2**63
               for v in kwargs.values())


def _far_from_mean(function: str, tensor, kwargs) -> bool:
    """[a, b] lies beyond 1e154 stds of mean: torch squares that distance (OverflowError)."""
    num = {k: _number(v) for k, v in kwargs.items()}
    mean, std = num.get("mean", 0.0), num.get("std", 1.0)
    a, b = num.get("a", -2.0), num.get("b", 2.0)
    if None in (mean, std, a, b) or not std > 0:
        return False
    nearest = min(max(mean, a), b)
    with np.errstate(all="ignore"):
        return bool(abs((nearest - mean) / std) > 1e154)


def _not_finite(*values: float | None) -> bool:
    return any(v is not None and not math.isfinite(v) for v in values)


# torch returns finite values within the law's bounds; paraminit raises InitError, on
# purpose. Each entry: the cases it covers, an example, and why.
REFUSALS: list[Difference] = [
    Difference(
        "bool as a number", RANDOM_LAWS | {"dirac_"},
        lambda fn, t, kw: any(_is_bool(kw.get(n)) for n in NUMERIC),
        ("normal_", (3,), torch.float32, {"std": True}),
        "torch reads True as 1; a bool where a bound, std, gain, sparsity or groups goes is a "
        "slip (a flag passed positionally), so it is refused; constant_(val=True) is allowed"),
    Difference(
        "complex tensor, random law", RANDOM_LAWS,
        lambda fn, t, kw: t.dtype.is_complex,
        ("uniform_", (3,), torch.complex64, {}),
        "paraminit's laws are real; torch's complex uniform_/normal_ draw the real and "
        "imaginary parts (normal_ splitting the variance), a law none of the papers defines"),
    Difference(
        "zero-element tensor, checked anyway", frozenset(ARGUMENTS),
        lambda fn, t, kw: t.numel() == 0 and _refused_when_not_empty(fn, t, kw),
        ("normal_", (0, 3), torch.int64, {}),
        "arguments and dtype are checked as for a non-empty tensor: torch skips its checks "
        "when there is nothing to write, so the same call fails later on the real weight"),
    Difference(
        "normal reach beyond the dtype",
        frozenset({"normal_", "trunc_normal_", "xavier_normal_", "sparse_"}),
        _normal_reach_overflows,
        ("normal_", (3,), torch.float16, {"std": 7700.0}),
        "paraminit's normals reach ±8.6σ; when that overflows the dtype (float16 std 7700: "
        "±66220 > 65504) an inf could be written, so the law is refused up front (torch's "
        "draws are only usually finite)"),
    Difference(
        "zero scale", frozenset({"xavier_uniform_", "xavier_normal_", "orthogonal_", "sparse_"}),
        lambda fn, t, kw: (_number(kw.get("gain", 1.0)) == 0.0
                           or (FUNCTIONS[fn][0] == "sparse_"
                               and _number(kw.get("std", 0.01)) == 0.0)),
        ("orthogonal_", (3, 4), torch.float32, {"gain": 0.0}),
        "gain 0 (xavier, orthogonal) or std 0 (sparse) makes torch fill zeros: a dead layer, "
        "not the init named (an all-zero matrix is not orthogonal); zeros_ says it"),
    Difference(
        "sparsity outside [0, 1)", frozenset({"sparse_"}),
        lambda fn, t, kw: (_number(kw["sparsity"]) is not None
                           and not 0.0 <= _number(kw["sparsity"]) < 1.0),
        ("sparse_", (4, 3), torch.float32, {"sparsity": -0.5}),
        "a fraction of zeros: torch zeroes every entry for sparsity >= 1 and, for a negative "
        "one, all but the last ceil(-sparsity·rows) rows of each column (randperm[:-k])"),
    Difference(
        "infinite leaky slope", frozenset({"kaiming_uniform_", "kaiming_normal_",
                                           "calculate_gain"}),
        lambda fn, t, kw: (kw.get("nonlinearity", "leaky_relu") == "leaky_relu"
                           and _not_finite(_number(kw.get("a", kw.get("param", 0))))),
        ("kaiming_normal_", (3, 4), torch.float32, {"a": math.inf}),
        "torch's gain √(2/(1 + a²)) is 0 at a = ±inf: an all-zero init from a slope no "
        "activation has"),
    Difference(
        "dirac_ groups < 1", frozenset({"dirac_"}),
        lambda fn, t, kw: isinstance(kw.get("groups"), int) and kw["groups"] < 1,
        ("dirac_", (4, 2, 3), torch.float32, {"groups": -1}),
        "torch's loop over range(groups) is empty, so it fills zeros (groups=0 divides by "
        "zero); groups is the conv's, a positive int"),
    Difference(
        "trunc_normal_ without a truncated normal", frozenset({"trunc_normal_"}),
        lambda fn, t, kw: (_not_finite(_number(kw.get("mean", 0.0)),
                                       _number(kw.get("std", 1.0)))
                           or (_number(kw.get("std", 1.0)) or 0.0) <= 0),
        ("trunc_normal_", (3,), torch.float32, {"mean": math.nan}),
        "with a NaN or infinite mean or std torch's rejection test compares with NaN and "
        "returns its U(a, b) candidates; a negative std works only because its sampler "
        "squares it (torch's normal_ refuses it), std 0 only when a or b is a NumPy or "
        "tensor scalar (a Python float raises ZeroDivisionError)"),
]

# torch raises; paraminit returns the law's right values, on purpose.
EXTENSIONS: list[Difference] = [
    Difference(
        "float16/bfloat16 orthogonal", frozenset({"orthogonal_"}),
        lambda fn, t, kw: t.dtype in (torch.float16, torch.bfloat16),
        ("orthogonal_", (3, 4), torch.bfloat16, {}),
        "torch has no low-precision QR; paraminit factorises in float32/float64, casts once"),
    Difference(
        "non-contiguous orthogonal_", frozenset({"orthogonal_"}),
        lambda fn, t, kw: not t.is_contiguous(),
        ("orthogonal_", (4, 2, 3), torch.float32, {}),  # the test makes it transposed
        "torch's orthogonal_ reshapes with .view, which fails on a transposed weight; "
        "paraminit writes through a contiguous temporary"),
    Difference(
        "an int beyond int64", RANDOM_LAWS | {"constant_"},
        lambda fn, t, kw: _huge_int(kw),
        ("orthogonal_", (3, 4), torch.float32, {"gain": 2**70}),
        "torch hands Python ints to C++ as int64 (OverflowError: int too big to convert); "
        "paraminit reads the number as the float it is"),
    Difference(
        "uniform wider than the dtype", frozenset({"uniform_", "xavier_uniform_"}),
        _uniform_width_overflows,
        ("xavier_uniform_", (3, 4), torch.float16, {"gain": 70000.0}),
        "torch's uniform_ needs b - a to fit the dtype; paraminit samples in float64 and "
        "casts once, so any bounds the dtype holds work"),
    Difference(
        "trunc_normal_ far from its mean", frozenset({"trunc_normal_"}),
        _far_from_mean,
        ("trunc_normal_", (3,), torch.float32, {"mean": 1e300}),
        "torch's sampler squares (bound - mean)/std, an OverflowError beyond 1e154 stds; "
        "paraminit's law is the nearest bound there (all the mass within rounding of it)"),
    Difference(
        "all-empty fans", frozenset({"xavier_uniform_", "xavier_normal_"}),
        lambda fn, t, kw: t.dim() >= 2 and sum(_fans(tuple(t.shape))) == 0,
        ("xavier_uniform_", (0, 0), torch.float32, {}),
        "torch divides by fan_in + fan_out = 0 (ZeroDivisionError); paraminit does nothing, "
        "as for every zero-element tensor"),
    Difference(
        "zero-element dirac_", frozenset({"dirac_"}),
        lambda fn, t, kw: t.numel() == 0,
        ("dirac_", (4, 2, 0), torch.float32, {}),
        "torch indexes the empty kernel's centre (IndexError); paraminit does nothing, as for "
        "every zero-element tensor"),
]


def _match(table: list[Difference], function: str, tensor, kwargs) -> Difference | None:
    for entry in table:
        law = FUNCTIONS[function][0] if function in FUNCTIONS else function
        if law in entry.laws and entry.applies(function, tensor, kwargs):
            return entry
    return None


# ---------------------------------------------------------------------------------------
# the oracle: are these values right for the law, with torch's meaning of the arguments?


def _ulp_slack(dtype) -> tuple[float, float]:
    """(relative, absolute) rounding slack of one value in ``dtype``."""
    info = torch.finfo(dtype if dtype.is_floating_point else torch.float32)
    return 2 * info.eps, info.smallest_normal * info.eps


def _floats(values: torch.Tensor) -> np.ndarray:
    if values.is_complex():
        return torch.view_as_real(values).double().numpy()
    return values.double().numpy()


def _within(values: np.ndarray, low: float, high: float) -> bool:
    return bool(values.size == 0 or (values.min() >= low and values.max() <= high))


def _within_formula(values: np.ndarray, bound: float) -> bool:
    """|values| <= a bound computed by a formula (xavier, kaiming): float64's rounding of
    the formula allowed (4 ulp, and 2 subnormals at gain 5e-324), not the dtype's."""
    slack = abs(bound) * 4 * np.finfo(np.float64).eps + 1e-323
    return _within(values, -abs(bound) - slack, abs(bound) + slack)


def _normal_ok(values: np.ndarray, mean: float, std: float, dtype) -> bool:
    rel, tiny = _ulp_slack(dtype)
    reach = 9.0 * abs(std) * (1 + rel) + rel * abs(mean) + tiny
    return bool(values.size == 0 or np.abs(values - mean).max() <= reach)


def _rounded(value: float, dtype) -> set[float]:
    """``value`` rounded to ``dtype`` directly and through float32 (both are torch's)."""
    wide = torch.tensor(value, dtype=torch.float64)
    return {float(wide.to(dtype).double()), float(wide.to(torch.float32).to(dtype).double())}


def _dirac(shape: tuple[int, ...], groups: int) -> torch.Tensor:
    expected = torch.zeros(shape, dtype=torch.float64)
    per_group = shape[0] // groups
    for g in range(groups):
        for d in range(min(per_group, shape[1])):
            expected[(g * per_group + d, d, *(s // 2 for s in shape[2:]))] = 1
    return expected


def right(law: str, values: torch.Tensor, kwargs: dict[str, Any]) -> bool:
    """Finite values within the law's bounds (exact values for the deterministic laws)."""
    dtype, shape = values.dtype, tuple(values.shape)
    if values.dtype.is_complex and law not in DETERMINISTIC:
        return bool(torch.isfinite(torch.view_as_real(values)).all())  # no real law to check
    v = _floats(values)
    if not np.isfinite(v).all():
        return False
    if values.numel() == 0:
        return True
    num = {k: _number(x) for k, x in kwargs.items()}
    real_part = v[..., 0] if values.is_complex() else v
    if values.is_complex() and np.any(v[..., 1] != 0):
        return False
    if law == "uniform_":
        return _within(v, num.get("a", 0.0), num.get("b", 1.0))
    if law == "normal_":
        return _normal_ok(v, num.get("mean", 0.0), num.get("std", 1.0), dtype)
    if law == "trunc_normal_":
        return _within(v, num.get("a", -2.0), num.get("b", 2.0))
    if law in ("constant_", "ones_", "zeros_"):
        val = {"ones_": 1.0, "zeros_": 0.0}.get(law, num.get("val"))
        if val is None:
            return False
        if dtype.is_floating_point or dtype.is_complex:
            component = dtype.to_real() if dtype.is_complex else dtype
            allowed = _rounded(val, component)
            return bool(np.isin(real_part, list(allowed)).all())
        return bool((real_part == val).all()) and val == int(val) if math.isfinite(val) else False
    if law == "eye_":
        return bool((real_part == torch.eye(*shape, dtype=torch.float64).numpy()).all())
    if law == "dirac_":
        groups = kwargs.get("groups", 1)
        return bool((real_part == _dirac(shape, int(groups)).numpy()).all())
    fan_in, fan_out = _fans(shape)
    if law in ("xavier_uniform_", "xavier_normal_"):
        gain = num.get("gain", 1.0)
        if law == "xavier_uniform_":
            return _within_formula(v, gain * math.sqrt(6.0 / (fan_in + fan_out)))
        return _normal_ok(v, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), dtype)
    if law in ("kaiming_uniform_", "kaiming_normal_"):
        try:
            gain = tinit.calculate_gain(kwargs.get("nonlinearity", "leaky_relu"),
                                        kwargs.get("a", 0))
            fan = tinit._calculate_correct_fan(values, kwargs.get("mode", "fan_in"))
        except Exception:  # paraminit accepted what torch's own helpers refuse
            return False
        std = gain / math.sqrt(fan)
        if law == "kaiming_uniform_":
            return _within_formula(v, math.sqrt(3.0) * std)
        return _normal_ok(v, 0.0, std, dtype)
    if law == "orthogonal_":
        gain = num.get("gain", 1.0)
        rel, tiny = _ulp_slack(dtype)
        if np.abs(v).max() > abs(gain) * (1 + 4 * rel) + tiny:
            return False
        if dtype in (torch.float32, torch.float64) and 1e-30 < abs(gain) < 1e30:
            flat = v.reshape(shape[0], -1) / gain
            gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
            return bool(np.abs(gram - np.eye(len(gram))).max() < 1e-4)
        return True
    if law == "sparse_":
        sparsity, std = num.get("sparsity"), num.get("std", 0.01)
        if sparsity is None or not math.isfinite(sparsity):
            return False
        zeros_per_column = (v == 0).sum(axis=0)
        wanted = min(shape[0], max(0, math.ceil(sparsity * shape[0])))
        return bool((zeros_per_column >= wanted).all()) and _normal_ok(v, 0.0, std, dtype)
    raise AssertionError(f"no oracle for {law}")


# ---------------------------------------------------------------------------------------
# calling each library


class _Hung(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    """torch's trunc_normal_ rejection loop can run without end (e.g. std tiny against a
    wide [a, b]): a call past ``seconds`` is torch giving no answer."""
    def stop(signum, frame):
        raise _Hung

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _torch_would_loop(law: str, kwargs: dict[str, Any]) -> bool:
    """torch's trunc_normal_ accepts one uniform candidate in 1/rate: a rate below 1e-4
    (long loops, not an answer worth waiting for) is predicted without running it."""
    if law != "trunc_normal_":
        return False
    num = {k: _number(x) for k, x in kwargs.items()}
    mean, std = num.get("mean", 0.0), num.get("std", 1.0)
    a, b = num.get("a", -2.0), num.get("b", 2.0)
    if None in (mean, std, a, b):
        return False
    try:
        def cdf(x: float) -> float:
            return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

        mass = cdf((b - mean) / std) - cdf((a - mean) / std)
        if not mass <= 0.3:
            return False
        mode = max(a, min(mean, b))
        peak = math.exp(-0.5 * ((mode - mean) / std) ** 2)
        rate = mass * std * math.sqrt(2 * math.pi) / ((b - a) * peak)
    except (ArithmeticError, ValueError):
        return False
    return rate < 1e-4


@dataclass
class Outcome:
    tensor: torch.Tensor
    returned: Any = None
    error: BaseException | None = None
    hung: bool = False
    zero_warning: bool = False

    @property
    def answered(self) -> bool:
        return self.error is None and not self.hung


def _call(module: Any, function: str, tensor: torch.Tensor, kwargs: dict[str, Any],
          law: str, limit: float | None) -> Outcome:
    outcome = Outcome(tensor)
    fn = getattr(module, function)
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if limit is None:
                outcome.returned = fn(tensor, **kwargs)
            elif _torch_would_loop(law, kwargs):
                outcome.hung = True
            else:
                with _time_limit(limit):
                    outcome.returned = fn(tensor, **kwargs)
        except _Hung:
            outcome.hung = True
        except Exception as error:  # the point is which ones
            outcome.error = error
    outcome.zero_warning = any(ZERO_ELEMENT in str(w.message) for w in caught)
    return outcome


def _tensor(shape: tuple[int, ...], dtype, transposed: bool) -> torch.Tensor:
    if transposed and len(shape) >= 2:
        swapped = (*shape[:-2], shape[-1], shape[-2])
        return torch.full(swapped, 7, dtype=dtype).transpose(-1, -2)
    return torch.full(shape, 7, dtype=dtype)


# ---------------------------------------------------------------------------------------
# (b): what an InitError must say

_PROBLEM_WORDS = ("dtype", "dimensions", "shape", "bounds", "tensor")


def _names_the_problem(message: str, kwargs: dict[str, Any], dtype) -> bool:
    words = [*_PROBLEM_WORDS, str(dtype).removeprefix("torch.")]
    if any(w in message for w in words):
        return True
    for name in kwargs:
        if len(name) == 1:  # 'a', 'b': as an argument, not the article
            if re.search(rf"(?<![\w']){name}(?=\s*(=|<|>|must|\(|,|\)))", message):
                return True
        elif re.search(rf"\b{name}\b", message):
            return True
    return False


def _describe(function, shape, dtype, kwargs, torch_outcome, paraminit_outcome) -> str:
    def said(o: Outcome) -> str:
        if o.hung:
            return "no answer (loops)"
        if o.error is not None:
            return f"{type(o.error).__name__}: {o.error}"
        return f"values {o.tensor.flatten()[:6].tolist()}"

    return (f"{function}(tensor{shape} {dtype}, **{kwargs!r}): torch -> "
            f"{said(torch_outcome)}; paraminit -> {said(paraminit_outcome)}")


# ---------------------------------------------------------------------------------------
# the differential property


def compare(function: str, shape: tuple[int, ...], dtype, kwargs: dict[str, Any],
            transposed: bool = False) -> None:
    law = FUNCTIONS[function][0]
    theirs = _call(tinit, function, _tensor(shape, dtype, transposed), kwargs, law, 2.0)
    ours_tensor = _tensor(shape, dtype, transposed)
    before = ours_tensor.clone()
    ours = _call(_dropin, function, ours_tensor, kwargs, law, None)
    what = _describe(function, shape, dtype, kwargs, theirs, ours)
    torch_right = theirs.answered and right(law, theirs.tensor, kwargs)

    if ours.error is not None:
        assert isinstance(ours.error, InitError), f"raw exception: {what}"
        message = str(ours.error)
        assert "\n" not in message, what
        assert _names_the_problem(message, kwargs, dtype), f"(b) message unclear: {what}"
        assert torch.equal(ours_tensor, before), f"half-written: {what}"
        if torch_right:
            refusal = _match(REFUSALS, function, ours_tensor, kwargs)
            assert refusal, f"(c) undocumented refusal: {what}"
        return
    assert ours.returned is ours_tensor, what
    assert right(law, ours_tensor, kwargs), f"(c/d) wrong values: {what}"
    if theirs.error is not None:
        assert _match(EXTENSIONS, function, ours_tensor, kwargs), f"(a) torch raises: {what}"
    if torch_right:
        assert ours.zero_warning == theirs.zero_warning, f"zero-element warning: {what}"
        if law in DETERMINISTIC:
            assert torch.equal(ours_tensor, theirs.tensor), f"deterministic values: {what}"


@st.composite
def _cases(draw):
    function = draw(st.sampled_from(sorted(FUNCTIONS)))
    law, required = FUNCTIONS[function]
    kwargs = {}
    for name, strategy in ARGUMENTS[law].items():
        if name in required or draw(st.booleans()):
            kwargs[name] = draw(strategy)
    return function, draw(SHAPES), draw(st.sampled_from(DTYPES)), kwargs, draw(st.booleans())


@FUZZ
@given(case=_cases())
def test_paraminit_behaves_as_torch_or_better(case):
    compare(*case)


# ---------------------------------------------------------------------------------------
# the numbers: calculate_gain and torch's fan helpers, equal to torch's exactly


@FUZZ
@given(nonlinearity=NONLINEARITY, param=st.one_of(st.none(), REAL))
def test_calculate_gain_is_torch_s_or_an_init_error(nonlinearity, param):
    kwargs = {"nonlinearity": nonlinearity, "param": param}
    try:
        theirs: Any = tinit.calculate_gain(nonlinearity, param)
    except Exception as error:  # what torch raises
        theirs = error
    try:
        ours = _dropin.calculate_gain(nonlinearity, param)
    except InitError as error:
        assert "\n" not in str(error)
        assert re.search(r"\b(param|nonlinearity)\b", str(error)), str(error)
        if not isinstance(theirs, Exception) and math.isfinite(theirs):
            assert _match(REFUSALS, "calculate_gain", None, kwargs), (kwargs, theirs, error)
        return
    assert not isinstance(theirs, Exception), f"torch raises {theirs!r}, paraminit: {ours}"
    assert ours == theirs and math.isfinite(ours)  # torch's value (1 for 'linear', an int)


@FUZZ
@given(shape=SHAPES, mode=MODE)
def test_fan_helpers_are_torch_s_or_an_init_error(shape, mode):
    tensor = torch.empty(shape)
    for call in (lambda m, t: m._calculate_fan_in_and_fan_out(t),
                 lambda m, t: m._calculate_correct_fan(t, mode)):
        try:
            theirs: Any = call(tinit, tensor)
        except Exception as error:  # what torch raises
            theirs = error
        try:
            ours = call(_dropin, tensor)
        except InitError as error:
            assert isinstance(theirs, Exception), (shape, mode, theirs, error)
            assert _names_the_problem(str(error), {"mode": mode}, tensor.dtype), str(error)
            continue
        assert ours == theirs, (shape, mode)


# ---------------------------------------------------------------------------------------
# the tables are true: each example behaves as its entry says


def _example_tensor(function: str, shape: tuple[int, ...], dtype) -> torch.Tensor:
    return _tensor(shape, dtype, transposed=function == "orthogonal_" and len(shape) == 3)


@pytest.mark.parametrize("entry", REFUSALS, ids=lambda e: e.key)
def test_each_refusal_is_torch_answering_and_paraminit_refusing(entry):
    function, shape, dtype, kwargs = entry.example
    law = FUNCTIONS[function][0]
    theirs = _call(tinit, function, _example_tensor(function, shape, dtype), kwargs, law, 2.0)
    assert theirs.answered and right(law, theirs.tensor, kwargs)
    ours = _call(_dropin, function, _example_tensor(function, shape, dtype), kwargs, law, None)
    assert isinstance(ours.error, InitError)
    assert _match(REFUSALS, function, ours.tensor, kwargs) is entry
    compare(function, shape, dtype, kwargs)


@pytest.mark.parametrize("entry", EXTENSIONS, ids=lambda e: e.key)
def test_each_extension_is_torch_raising_and_paraminit_right(entry):
    function, shape, dtype, kwargs = entry.example
    law = FUNCTIONS[function][0]
    theirs = _call(tinit, function, _example_tensor(function, shape, dtype), kwargs, law, 2.0)
    assert theirs.error is not None
    ours = _call(_dropin, function, _example_tensor(function, shape, dtype), kwargs, law, None)
    assert ours.answered and right(law, ours.tensor, kwargs)
    assert _match(EXTENSIONS, function, ours.tensor, kwargs) is entry


# ---------------------------------------------------------------------------------------
# what the differential fuzz found, each fixed at its root


@pytest.mark.parametrize(("dtype", "val", "pattern"), [
    (torch.float32, math.inf, r"constant_: val must be finite; received inf"),
    (torch.float64, math.nan, r"constant_: val must be finite; received nan"),
    (torch.float16, 70000.0, r"constant_: torch.float16 cannot hold val=70000.0 \(largest"),
    (torch.bfloat16, 1e39, r"constant_: torch.bfloat16 cannot hold val=1e\+39"),
    (torch.int64, 0.5, r"constant_: torch.int64 cannot hold val=0.5 exactly \(integers in"),
    (torch.uint8, -1, r"constant_: torch.uint8 cannot hold val=-1 exactly \(integers in \[0, "),
    (torch.bool, 2, r"constant_: torch.bool cannot hold val=2 exactly \(integers in \[0, 1\]"),
    (torch.float32, "x", r"constant_: val must be a real number; received 'x'$"),
])
def test_constant_never_writes_inf_nan_or_a_truncated_integer(dtype, val, pattern):
    # torch writes inf, nan, 0, True; for 'x' its TypeError spans many lines
    tensor = torch.full((3,), 7, dtype=dtype)
    with pytest.raises(InitError, match=pattern):
        pinit.constant_(tensor, val)
    assert (tensor == 7).all() if dtype != torch.bool else tensor.all()


def test_constant_keeps_exact_values_in_every_dtype():
    assert pinit.constant_(torch.empty(2, dtype=torch.int64), 2**62 + 1).tolist() == [2**62 + 1] * 2
    assert pinit.constant_(torch.empty(2, dtype=torch.bool), True).all()
    assert pinit.constant_(torch.empty(2, dtype=torch.uint8), 255.0).tolist() == [255, 255]
    assert pinit.constant_(torch.empty(2, dtype=torch.complex64), -1.5).tolist() == [-1.5] * 2
    assert torch.equal(pinit.constant_(torch.empty(2, dtype=torch.float16), 0.1),
                       tinit.constant_(torch.empty(2, dtype=torch.float16), 0.1))


@pytest.mark.parametrize("call", [
    lambda t: pinit.uniform_(t, 0.0, 0.0),
    lambda t: pinit.normal_(t, 3.0, 0.0),
    lambda t: pinit.trunc_normal_(t, a=1.0, b=1.0),
])
@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_degenerate_laws_on_non_float_tensors_are_refused(call, dtype):
    # torch raises for integer dtypes; paraminit wrote the constant (or, for complex, raised
    # a raw TypeError from torch.iinfo)
    tensor = torch.zeros(3, dtype=dtype)
    with pytest.raises(InitError, match=r"tensor dtype must be one of float16, bfloat16"):
        call(tensor)
    assert (tensor == 0).all()


@pytest.mark.parametrize("function", ["eye_", "dirac_"])
def test_eye_and_dirac_on_complex_tensors_are_torch_s(function):
    shape = (2, 3) if function == "eye_" else (4, 2, 3)
    ours = getattr(pinit, function)(torch.empty(shape, dtype=torch.complex64))
    assert torch.equal(ours, getattr(tinit, function)(torch.empty(shape, dtype=torch.complex64)))


def test_degenerate_interval_without_a_value_of_the_dtype_is_refused():
    # uniform_(0.1, 0.1) in float16 wrote 0.0999755859375, outside [a, b]
    for call in (lambda t: pinit.uniform_(t, 0.1, 0.1),
                 lambda t: pinit.trunc_normal_(t, a=0.1, b=0.1)):
        with pytest.raises(InitError, match=r"no float16 value lies in the bounds \[0.1, 0.1\]"):
            call(torch.empty(3, dtype=torch.float16))
    assert (pinit.trunc_normal_(torch.empty(3, dtype=torch.float16), a=0.5, b=0.5) == 0.5).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("b", [math.inf, 1e300])
def test_trunc_normal_half_infinite_bounds_in_low_precision(dtype, b):
    # refused ("the bounds [-2.0, inf] cannot be held by bfloat16"); torch samples them
    values = pinit.trunc_normal_(torch.empty(2000, dtype=dtype), b=b).double()
    assert torch.isfinite(values).all() and values.min() >= -2.0
    assert 0.6 < values.std() < 1.0  # N(0, 1) on [-2, inf): std 0.88


@pytest.mark.parametrize(("mean", "bound"), [(1e39, 2.0), (-1e39, -2.0), (1e300, 2.0)])
def test_trunc_normal_with_mean_beyond_float64_resolution_is_its_nearest_bound(mean, bound):
    # paraminit raised "the truncation interval needs low < high (in parent stds)"; torch
    # returns values at the bound (1e39) or raises OverflowError (1e300)
    values = pinit.trunc_normal_(torch.empty(5, dtype=torch.float64), mean=mean)
    assert (values == bound).all()


@pytest.mark.parametrize(("std", "a", "b"), [(1e308, -1.0, 1.0), (1.0, 0.0, 1e-17),
                                          (1.0, 3.0, 3.0 + 1e-13), (2.0, -1e-9, 1e-9)])
def test_trunc_normal_narrower_than_the_inverse_cdf_resolves_is_uniform(std, a, b):
    # every value was a (or 0): p = Phi(lo) + u·W lost W below 1e-16
    values = pinit.trunc_normal_(torch.empty(4000, dtype=torch.float64), std=std, a=a, b=b)
    assert values.min() >= a and values.max() <= b
    assert len(torch.unique(values)) > 100
    assert abs(float(values.std()) / ((b - a) / math.sqrt(12)) - 1) < 0.05


@pytest.mark.parametrize("call", [
    lambda: pinit.kaiming_normal_(torch.empty(3, 4), a=1e300),
    lambda: pinit.kaiming_uniform_(torch.empty(3, 4), a=-1e200),
    lambda: pinit.calculate_gain("leaky_relu", 1e300),
])
def test_huge_leaky_slope_is_an_init_error_naming_it(call):
    # a raw OverflowError from slope**2 (torch raises the same)
    with pytest.raises(InitError, match=r"(a|param) \(the negative slope of 'leaky_relu'\) must "
                                        r"be at most 1e154"):
        call()


def test_core_leaky_relu_gain_overflow_is_an_init_error():
    import paraminit as pi

    with pytest.raises(InitError, match=r"leaky_relu's slope must be at most 1e\+154"):
        pi.gain("leaky_relu", 1e300)
    with pytest.raises(InitError, match=r"slope must be at most"):
        pi.resolve("he_normal", (3, 4), nonlinearity="leaky_relu", slope=-1e155)
    assert pi.gain("leaky_relu", 1e150) == tinit.calculate_gain("leaky_relu", 1e150)


@pytest.mark.parametrize("gain", [1e300, 1e-200])
def test_xavier_gain_whose_square_leaves_float64(gain):
    # gain² = inf was refused as "std inf"; gain² = 0 gave all zeros
    import paraminit as pi

    spec = pi.resolve("xavier_normal", (3, 4), gain=gain, fan_convention="torch")
    assert spec.std == pytest.approx(gain * math.sqrt(2 / 7), rel=1e-15)
    values = pinit.xavier_uniform_(torch.empty(30, 40, dtype=torch.float64), gain=gain)
    bound = gain * math.sqrt(6 / 70)
    assert 0 < values.abs().max() <= bound * (1 + 1e-15)
    assert pi.resolve("xavier_normal", (3, 4), gain=2.0).std == math.sqrt(4 * 2 / 7)


def test_orthogonal_negative_gain_is_gain_times_q():
    # refused as "gain must be > 0"; torch gives gain·Q, as orthogonal as Q
    torch.manual_seed(3)
    negative = pinit.orthogonal_(torch.empty(4, 6, dtype=torch.float64), gain=-2.0)
    torch.manual_seed(3)
    positive = pinit.orthogonal_(torch.empty(4, 6, dtype=torch.float64), gain=2.0)
    assert torch.equal(negative, -positive)
    gram = negative @ negative.T
    assert torch.allclose(gram, 4 * torch.eye(4, dtype=torch.float64), atol=1e-12)
    with pytest.raises(InitError, match=r"orthogonal_: gain must be non-zero"):
        pinit.orthogonal_(torch.empty(4, 6), gain=-0.0)


@pytest.mark.parametrize(("call", "pattern"), [
    (lambda: pinit.xavier_uniform_(torch.empty(2, 0, dtype=torch.int64)), r"torch.int64"),
    (lambda: pinit.xavier_normal_(torch.empty(2, 0, dtype=torch.uint8)), r"torch.uint8"),
    (lambda: pinit.orthogonal_(torch.empty(0, 3, dtype=torch.int64)), r"torch.int64"),
    (lambda: pinit.sparse_(torch.empty(0, 3, dtype=torch.bool), 0.5), r"torch.bool"),
    (lambda: pinit.xavier_uniform_(torch.empty(2, 0, dtype=torch.float16), gain=1e39),
     r"cannot be held by float16"),
])
def test_zero_element_tensors_get_the_checks_of_real_ones(call, pattern):
    # returned silently; torch raises for xavier (dtype, and "from is out of bounds")
    with pytest.raises(InitError, match=pattern):
        call()
