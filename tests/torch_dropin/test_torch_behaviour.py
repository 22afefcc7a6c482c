"""Behaviour of the drop-in: seeding, generators, meta/empty tensors, grads, dtypes, errors."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

import torch.nn.functional as F  # noqa: E402
import torch.nn.init as tinit  # noqa: E402

import paraminit.numpy as pn  # noqa: E402
import paraminit.torch as init  # noqa: E402
from paraminit import InitError  # noqa: E402

SEED_HIGH = 2**63 - 1  # the documented seed draw: torch.randint(0, 2**63 - 1, (1,))

# Every random function, as call(module, tensor, generator) on a (12, 10) tensor.
RANDOM: dict[str, Callable] = {
    "uniform_": lambda m, t, g: m.uniform_(t, generator=g),
    "normal_": lambda m, t, g: m.normal_(t, generator=g),
    "trunc_normal_": lambda m, t, g: m.trunc_normal_(t, generator=g),
    "xavier_uniform_": lambda m, t, g: m.xavier_uniform_(t, generator=g),
    "xavier_normal_": lambda m, t, g: m.xavier_normal_(t, generator=g),
    "kaiming_uniform_": lambda m, t, g: m.kaiming_uniform_(t, generator=g),
    "kaiming_normal_": lambda m, t, g: m.kaiming_normal_(t, generator=g),
    "orthogonal_": lambda m, t, g: m.orthogonal_(t, generator=g),
    "sparse_": lambda m, t, g: m.sparse_(t, 0.5, generator=g),
    "lecun_normal_": lambda m, t, g: m.lecun_normal_(t, generator=g),
    "lecun_uniform_": lambda m, t, g: m.lecun_uniform_(t, generator=g),
    "variance_scaling_": lambda m, t, g: m.variance_scaling_(t, generator=g),
    "msra_": lambda m, t, g: m.msra_(t, generator=g),
    "init_": lambda m, t, g: m.init_(t, "glorot_uniform", generator=g),
}
DETERMINISTIC: dict[str, Callable] = {
    "constant_": lambda m, t: m.constant_(t, 0.5),
    "ones_": lambda m, t: m.ones_(t),
    "zeros_": lambda m, t: m.zeros_(t),
    "eye_": lambda m, t: m.eye_(t),
    "dirac_": lambda m, t: m.dirac_(t.view(12, 10, 1)),
}
TORCH_RANDOM = [name for name in RANDOM if hasattr(tinit, name)]
SHAPE = (12, 10)


def _seed_of(generator_seed: int) -> int:
    generator = torch.Generator().manual_seed(generator_seed)
    return int(torch.randint(0, SEED_HIGH, (1,), generator=generator).item())


# ---------------------------------------------------------------------------------------
# seeds and generators


@pytest.mark.parametrize("name", RANDOM)
def test_manual_seed_reproduces_and_calls_differ(name):
    call = RANDOM[name]
    torch.manual_seed(7)
    first, second = call(init, torch.empty(SHAPE), None), call(init, torch.empty(SHAPE), None)
    torch.manual_seed(7)
    again = call(init, torch.empty(SHAPE), None)
    assert torch.equal(first, again)
    assert not torch.equal(first, second)


@pytest.mark.parametrize("name", RANDOM)
def test_generator_is_used_once_and_global_rng_untouched(name):
    call = RANDOM[name]
    global_state = torch.get_rng_state()
    generator = torch.Generator().manual_seed(11)
    values = call(init, torch.empty(SHAPE), generator)
    assert torch.equal(torch.get_rng_state(), global_state)
    reference = torch.Generator().manual_seed(11)
    torch.randint(0, SEED_HIGH, (1,), generator=reference)  # exactly one draw
    assert torch.equal(generator.get_state(), reference.get_state())
    assert torch.equal(values, call(init, torch.empty(SHAPE),
                                    torch.Generator().manual_seed(11)))


def test_sparse_honours_generator_for_the_mask_too():
    masks = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        w = init.sparse_(torch.empty(40, 30), 0.5, generator=torch.Generator().manual_seed(3))
        masks.append(w == 0)
    assert torch.equal(masks[0], masks[1])


@pytest.mark.parametrize(("shape", "call", "scheme", "options"), [
    ((16, 6, 3), lambda t, g: init.uniform_(t, -0.5, 2.0, generator=g), "uniform",
     {"low": -0.5, "high": 2.0}),
    ((16, 6, 3), lambda t, g: init.normal_(t, 1.0, 0.3, generator=g), "normal",
     {"mean": 1.0, "std": 0.3}),
    ((16, 6, 3), lambda t, g: init.xavier_uniform_(t, 2.0, generator=g), "xavier_uniform",
     {"gain": 2.0, "fan_convention": "torch"}),
    ((16, 6, 3), lambda t, g: init.kaiming_normal_(t, 0.1, "fan_out", generator=g), "he_normal",
     {"mode": "fan_out", "nonlinearity": "leaky_relu", "slope": 0.1,
      "fan_convention": "torch"}),
    ((16, 6, 3), lambda t, g: init.orthogonal_(t, 0.5, generator=g), "orthogonal",
     {"gain": 0.5}),
    ((16, 18), lambda t, g: init.sparse_(t, 0.3, 0.2, generator=g), "sparse",
     {"sparsity": 0.3, "std": 0.2, "in_axis": 0, "out_axis": 1}),
    ((16, 6, 3), lambda t, g: init.msra_(t, "average", generator=g), "msra",
     {"variance_norm": "average"}),
])
def test_dropin_is_the_registry_scheme_with_the_drawn_seed(shape, call, scheme, options):
    ours = call(torch.empty(shape), torch.Generator().manual_seed(5))
    expected = init.init_(torch.empty(shape), scheme, seed=_seed_of(5), **options)
    assert torch.equal(ours, expected)


def test_torch_function_override_is_honoured():
    calls = []

    class Logged(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            calls.append(func)
            return super().__torch_function__(func, types, args, kwargs or {})

    tensor = torch.empty(4, 4).as_subclass(Logged)
    for fn in (init.uniform_, init.normal_, init.kaiming_uniform_):
        fn(tensor)
        assert fn in calls
    init.constant_(tensor, 2.0)
    assert init.constant_ in calls


# ---------------------------------------------------------------------------------------
# meta, empty, grads, views, devices


@pytest.mark.parametrize("name", [*RANDOM, *DETERMINISTIC])
def test_meta_tensor_is_a_noop(name):
    tensor = torch.empty(SHAPE, device="meta")
    state = torch.get_rng_state()
    if name in RANDOM:
        assert RANDOM[name](init, tensor, None) is tensor
    else:
        DETERMINISTIC[name](init, tensor)
    assert tensor.is_meta
    assert torch.equal(torch.get_rng_state(), state)


def _warns_zero_element(call: Callable) -> bool:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert call().shape == (0, 4)
    return any("zero-element" in str(w.message) for w in caught)


@pytest.mark.parametrize("name", TORCH_RANDOM)
def test_zero_element_warning_like_torch(name):
    call = RANDOM[name]
    torch_warned = _warns_zero_element(lambda: call(tinit, torch.empty(0, 4), None))
    ours_warned = _warns_zero_element(lambda: call(init, torch.empty(0, 4), None))
    assert ours_warned == torch_warned == name.startswith("kaiming")


@pytest.mark.parametrize("name", ["lecun_normal_", "lecun_uniform_", "variance_scaling_",
                                  "msra_", "init_"])
def test_zero_element_warning_for_fan_additions(name):
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op") as w:
        RANDOM[name](init, torch.empty(0, 4, 3), None)
    assert w[0].filename == __file__


@pytest.mark.parametrize("name", [*RANDOM, *DETERMINISTIC])
def test_parameters_requiring_grad_are_written_without_autograd(name):
    param = torch.nn.Parameter(torch.full(SHAPE, 7.0))
    if name in RANDOM:
        RANDOM[name](init, param, None)
    else:
        DETERMINISTIC[name](init, param)
    assert param.requires_grad and param.is_leaf and param.grad_fn is None
    assert not torch.equal(param.detach(), torch.full(SHAPE, 7.0))


def test_non_contiguous_view_is_filled_in_place():
    torch.manual_seed(1)
    expected = init.kaiming_normal_(torch.empty(6, 8))
    weight = torch.zeros(8, 6)
    torch.manual_seed(1)
    init.kaiming_normal_(weight.T)  # torch's advice for x @ w layouts
    assert torch.equal(weight.T, expected)


def test_zero_dim_tensors():
    torch.manual_seed(0)
    assert 0.0 < float(init.uniform_(torch.empty(()))) < 1.0
    assert math.isfinite(float(init.normal_(torch.empty(()))))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensor_gets_the_cpu_values():  # pragma: no cover - needs a GPU
    torch.manual_seed(0)
    cpu = init.kaiming_normal_(torch.empty(SHAPE))
    torch.manual_seed(0)
    gpu = init.kaiming_normal_(torch.empty(SHAPE, device="cuda"))
    assert torch.equal(gpu.cpu(), cpu)


def test_deterministic_inits_keep_any_dtype():
    assert torch.equal(init.eye_(torch.empty(3, 4, dtype=torch.int64)),
                       torch.eye(3, 4, dtype=torch.int64))
    assert init.dirac_(torch.empty(4, 4, 3, dtype=torch.int32)).sum() == 4
    assert (init.constant_(torch.empty(3, dtype=torch.int64), 2**60) == 2**60).all()
    assert init.zeros_(torch.ones(3, dtype=torch.bool)).any().item() is False


# ---------------------------------------------------------------------------------------
# low precision: bounds kept, nothing piled on them


def _rounding_cell_mass(law, bound: float, dtype, toward: float) -> float:
    """P(law lands in the values that end on ``bound``'s inward representative)."""
    edge = torch.tensor(bound, dtype=torch.float64).to(dtype)
    if (float(edge) - bound) * toward < 0:
        edge = torch.nextafter(edge, torch.tensor(toward * math.inf, dtype=dtype))
    neighbour = torch.nextafter(edge, torch.tensor(toward * math.inf, dtype=dtype))
    mid = (float(edge) + float(neighbour)) / 2
    return abs(law.cdf(mid) - law.cdf(bound)), float(edge)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize(("mean", "std", "a", "b"), [
    (0.0, 1.0, -2.0, 2.0),      # torch <= 2.11 left ~2.3% of the values stuck on -2 in bf16
    (0.05, 0.2, -0.3, 0.45),    # bounds not representable: rounded inward
    (0.0, 1.0, 2.5, 4.0),       # all mass in the upper tail
])
def test_trunc_normal_low_precision_bounds(dtype, mean, std, a, b):
    torch.manual_seed(0)
    values = init.trunc_normal_(torch.empty(256, 256, dtype=dtype), mean, std, a, b).double()
    assert a <= float(values.min()) and float(values.max()) <= b
    law = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    n = values.numel()
    for bound, toward in ((a, +1.0), (b, -1.0)):
        mass, edge = _rounding_cell_mass(law, bound, dtype, toward)
        expected = n * mass
        count = int((values == edge).sum())
        assert abs(count - expected) <= Z_COUNT * math.sqrt(expected) + 2, (bound, count)


Z_COUNT = 6.0  # Poisson counts: sd sqrt(expected)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize(("a", "b"), [(0.0, 1.0), (-0.3, 0.7), (-1e-3, 1e-3)])
def test_uniform_never_leaves_bounds(dtype, a, b):
    torch.manual_seed(0)
    values = init.uniform_(torch.empty(200, 200, dtype=dtype), a, b).double()
    assert a <= float(values.min()) and float(values.max()) <= b


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_bounded_fan_inits_keep_bounds(dtype):
    torch.manual_seed(0)
    shape = (64, 3, 3, 3)
    bound = math.sqrt(2) * math.sqrt(3 / 27)
    values = init.kaiming_uniform_(torch.empty(shape, dtype=dtype)).double()
    assert float(values.abs().max()) <= bound
    values = init.xavier_uniform_(torch.empty(shape, dtype=dtype)).double()
    assert float(values.abs().max()) <= math.sqrt(6 / (27 + 576))


# ---------------------------------------------------------------------------------------
# orthogonal in every dtype


# Unit roundoff of the last cast (float64 -> float32 -> dtype) and half the smallest
# subnormal spacing, the absolute rounding error below the normal range.
ROUNDOFF = {
    torch.float64: (2.0**-53, 0.0),
    torch.float32: (2.0**-24, 2.0**-150),
    torch.bfloat16: (2.0**-9 + 2.0**-24, 2.0**-134),
    torch.float16: (2.0**-11 + 2.0**-24, 2.0**-25),
}


@pytest.mark.parametrize("dtype", list(ROUNDOFF))
@pytest.mark.parametrize("shape", [(64, 48), (48, 64), (16, 4, 3, 3), (32, 32)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal_in_every_dtype(dtype, shape, gain):
    """|(WᵀW - g²I)_jk| <= (2u + u²)·g² + 2δ·√rows·g for entries rounded with relative
    error u and absolute error δ (Cauchy–Schwarz on Σ_i w_ij e_ik), plus the float64 QR's
    own error (< 1e-12 at these sizes). Computed in float64 from the stored values."""
    torch.manual_seed(0)
    w = init.orthogonal_(torch.empty(shape, dtype=dtype), gain=gain)
    assert w.dtype == dtype
    rows, cols = shape[0], math.prod(shape[1:])
    flat = w.double().reshape(rows, cols)
    gram = flat.T @ flat if rows > cols else flat @ flat.T
    eye = torch.eye(min(rows, cols), dtype=torch.float64)
    u, delta = ROUNDOFF[dtype]
    tolerance = (2 * u + u * u) * gain**2 + 2 * delta * math.sqrt(max(rows, cols)) * gain
    assert float((gram - gain**2 * eye).abs().max()) <= tolerance + 1e-12 * gain**2


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(600, 256), (256, 600)])
def test_large_orthogonal_factorised_in_float32_keeps_orthogonality(shape):
    """Short side >= 256 and long side <= 4096 in float32: torch's float32 QR, whose own
    error is promised below 1e-6 (_write.py), plus the float32 storage rounding."""
    from paraminit.torch import _write

    assert min(shape) >= _write._FLOAT32_QR_MIN and max(shape) <= _write._FLOAT32_QR_MAX
    w = init.init_(torch.empty(shape), "orthogonal", seed=2, name="w")
    again = init.init_(torch.empty(shape), "orthogonal", seed=2, name="w")
    assert torch.equal(w, again)  # same values on rerun
    flat = w.double()
    gram = flat.T @ flat if shape[0] > shape[1] else flat @ flat.T
    error = float((gram - torch.eye(min(shape), dtype=torch.float64)).abs().max())
    u = 2.0**-24
    assert error <= 1e-6 + 2 * u + 2 * u * math.sqrt(max(shape))
    # the same Gaussian as the NumPy backend: the same Q up to the factorisations' rounding
    expected = pn.sample("orthogonal", shape, seed=2, name="w", dtype="float64")
    np.testing.assert_allclose(w.double().numpy(), expected, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------
# dirac and eye


@given(groups=st.integers(1, 3), out_per_group=st.integers(1, 3),
       in_per_group=st.integers(1, 3), kernel=st.sampled_from([1, 3, 5]),
       spatial=st.integers(1, 3))
def test_dirac_preserves_input_through_grouped_conv(groups, out_per_group, in_per_group,
                                                   kernel, spatial):
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[spatial]
    weight = init.dirac_(torch.empty(groups * out_per_group, in_per_group,
                                     *([kernel] * spatial)), groups=groups)
    x = torch.randn(2, groups * in_per_group, *([6] * spatial), dtype=torch.float32)
    y = conv(x, weight, padding=kernel // 2, groups=groups)
    kept = min(out_per_group, in_per_group)
    for g in range(groups):
        out = y[:, g * out_per_group : g * out_per_group + kept]
        assert torch.equal(out, x[:, g * in_per_group : g * in_per_group + kept])
        assert not y[:, g * out_per_group + kept : (g + 1) * out_per_group].any()


def test_dirac_centre_is_k_over_2_like_torch():
    for kernel in (1, 2, 3, 4, 5):
        shape = (4, 2, kernel, kernel)
        assert torch.equal(init.dirac_(torch.empty(shape), 2), tinit.dirac_(torch.empty(shape), 2))
    assert init.dirac_(torch.empty(1, 1, 4))[0, 0, 2] == 1


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (0, 3)])
def test_eye_like_torch(shape):
    assert torch.equal(init.eye_(torch.empty(shape)), tinit.eye_(torch.empty(shape)))


# ---------------------------------------------------------------------------------------
# errors: InitError (a ValueError) naming the argument, the value and the fix

T2 = (4, 3)
ERRORS: list[tuple[str, Callable, str, bool]] = [
    # (id, call(module), pattern, torch also raises ValueError)
    ("xavier-1d", lambda m: m.xavier_uniform_(torch.empty(5)),
     r"fewer than 2 dimensions; received a 1-D tensor of shape \(5,\)", True),
    ("kaiming-mode", lambda m: m.kaiming_normal_(torch.empty(T2), mode="fan_avg"),
     r"mode 'fan_avg' not supported; mode must be 'fan_in'", True),
    ("kaiming-nonlinearity", lambda m: m.kaiming_uniform_(torch.empty(T2), nonlinearity="gelu"),
     r"unsupported nonlinearity 'gelu'; nonlinearity must be one of 'linear'", True),
    ("kaiming-a-bool", lambda m: m.kaiming_normal_(torch.empty(T2), a=True),
     r"a \(the negative slope of 'leaky_relu'\) must be an int or a float; received True", True),
    ("gain-param-bool", lambda m: m.calculate_gain("leaky_relu", True),
     r"param .* received True of type bool", True),
    ("gain-param-str", lambda m: m.calculate_gain("leaky_relu", "0.2"),
     r"param .* received '0.2' of type str", True),
    ("gain-unknown", lambda m: m.calculate_gain("abc"), r"unsupported nonlinearity 'abc'", True),
    ("correct-fan-mode", lambda m: m._calculate_correct_fan(torch.empty(T2), "bad"),
     r"mode 'bad' not supported", True),
    ("fans-1d", lambda m: m._calculate_fan_in_and_fan_out(torch.empty(3)),
     r"fewer than 2 dimensions", True),
    ("eye-3d", lambda m: m.eye_(torch.empty(2, 3, 4)),
     r"only tensors with 2 dimensions are supported; received a 3-D tensor", True),
    ("dirac-2d", lambda m: m.dirac_(torch.empty(T2)),
     r"only tensors with 3, 4 or 5 dimensions are supported; received a 2-D tensor .* eye_",
     True),
    ("dirac-groups", lambda m: m.dirac_(torch.empty(6, 2, 3), groups=4),
     r"dim 0 must be divisible by groups; received 6 out-channels and groups=4", True),
    ("sparse-3d", lambda m: m.sparse_(torch.empty(2, 3, 4), 0.1),
     r"only tensors with 2 dimensions are supported; received a 3-D", True),
    ("orthogonal-1d", lambda m: m.orthogonal_(torch.empty(5)),
     r"2 or more dimensions are supported; received a 1-D tensor", True),
    # torch raises other errors (or none) for these; ours are ValueErrors too
    ("dirac-groups-zero", lambda m: m.dirac_(torch.empty(6, 2, 3), groups=0),
     r"groups must be a positive int; received 0", False),
    ("orthogonal-gain", lambda m: m.orthogonal_(torch.empty(T2), gain=0),
     r"gain must be non-zero .*received gain=0.*For an all-zero tensor use zeros_", False),
    ("sparse-sparsity", lambda m: m.sparse_(torch.empty(T2), 1.5),
     r"sparsity must be in \[0, 1\); received 1.5", False),
    ("uniform-order", lambda m: m.uniform_(torch.empty(T2), 1.0, 0.0),
     r"need a <= b for U\(a, b\); received a=1.0, b=0.0. Swap them", False),
    ("uniform-inf", lambda m: m.uniform_(torch.empty(T2), -math.inf),
     r"uniform_: a must be finite; received -inf", False),
    ("normal-std", lambda m: m.normal_(torch.empty(T2), std=-1.0),
     r"normal_: std must be >= 0; received std=-1.0", False),
    ("trunc-order", lambda m: m.trunc_normal_(torch.empty(T2), a=1.0, b=-1.0),
     r"need a <= b \(absolute bounds\); received a=1.0, b=-1.0. Swap them", False),
    ("trunc-std", lambda m: m.trunc_normal_(torch.empty(T2), std=0.0),
     r"std \(the parent std\) must be > 0; received std=0.0", False),
    ("int-dtype", lambda m: m.normal_(torch.empty(T2, dtype=torch.int64)),
     r"normal_: tensor dtype must be one of float16, bfloat16, float32, float64 .* torch.int64",
     False),
]


@pytest.mark.parametrize(("call", "pattern", "torch_raises"), [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_errors(call, pattern, torch_raises):
    with pytest.raises(InitError, match=pattern) as info:
        call(init)
    assert isinstance(info.value, ValueError)
    if torch_raises:
        with pytest.raises(ValueError):
            call(tinit)


@pytest.mark.parametrize(("call", "pattern"), [
    (lambda: init.init_(torch.empty(T2), "he_nromal"), r"scheme must be one of: .*he_nromal"),
    (lambda: init.init_(torch.empty(T2), "he_normal", seed=1,
                        generator=torch.Generator()), r"pass seed or generator, not both"),
    (lambda: init.init_(torch.empty(T2), "he_normal", bogus=1),
     r"he_normal got unknown option\(s\) 'bogus'"),
    (lambda: init.init_(torch.empty(5), "he_normal", seed=0), r"fans are undefined"),
    (lambda: init.init_(torch.empty(0, 3), "he_nromal"), r"scheme must be one of"),
    (lambda: init.variance_scaling_(torch.empty(T2), mode="fan_inn"),
     r"mode must be one of 'fan_in', 'fan_out', 'fan_avg', 'fan_geo_avg'; received 'fan_inn'"),
    (lambda: init.msra_(torch.empty(T2), "avg"),
     r"variance_norm must be one of 'fan_in', 'fan_out', 'average'; received 'avg'"),
    (lambda: init.lecun_normal_(torch.empty(7)), r"fans are undefined for the 1-D shape"),
    (lambda: init.lecun_normal_(torch.empty(8, 3, 3), groups=3),
     r"groups=3 must divide the out-channels \(8\)"),
])
def test_addition_errors(call, pattern):
    with pytest.raises(InitError, match=pattern):
        call()
