"""PyTorch's own ``TestNNInit`` (test/nn/test_init.py), ported to paraminit.torch.

Same checks as upstream (KS tests at p > 1e-4, exact gains, property checks, ValueError
cases); sizes are smaller for 4-D tensors to keep the suite fast, and every random choice
comes from a seeded ``random.Random`` so a run is reproducible.
"""

from __future__ import annotations

import math
import random
import string

import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

import torch.nn.functional as F  # noqa: E402

import paraminit.torch as init  # noqa: E402

P_MIN = 1e-4  # upstream's KS threshold


@pytest.fixture
def rng() -> random.Random:
    torch.manual_seed(0)
    return random.Random(0)


def _random_tensor(rng: random.Random, dims: int, size_min: int, size_max: int):
    if dims == 4:  # upstream uses 30..50 for every rank; 4-D that is up to 6M elements
        size_min, size_max = min(size_min, 8), min(size_max, 12)
    return torch.zeros([rng.randint(size_min, size_max) for _ in range(dims)])


def _is_uniform(tensor, a: float, b: float) -> bool:
    return stats.kstest(tensor.reshape(-1).tolist(), "uniform", args=(a, b - a)).pvalue > P_MIN


def _is_normal(tensor, mean: float, std: float) -> bool:
    return stats.kstest(tensor.reshape(-1).tolist(), "norm", args=(mean, std)).pvalue > P_MIN


def _is_trunc_normal(tensor, mean: float, std: float, a: float, b: float) -> bool:
    z = ((tensor.reshape(-1) - mean) / std).tolist()
    a0, b0 = (a - mean) / std, (b - mean) / std
    return stats.kstest(z, "truncnorm", args=(a0, b0)).pvalue > P_MIN


def test_calculate_gain_linear():
    for fn in ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
               "conv_transpose2d", "conv_transpose3d"]:
        assert init.calculate_gain(fn) == 1


def test_calculate_gain_nonlinear():
    expected = {"sigmoid": 1, "tanh": 1.6666666666666667, "relu": 1.4142135623730951,
                "leaky_relu": 1.4141428569978354, "selu": 0.75}
    for fn, value in expected.items():
        assert init.calculate_gain(fn) == value


def test_calculate_gain_leaky_relu():
    expected = {None: 1.4141428569978354, 0: 1.4142135623730951, 0.01: 1.4141428569978354,
                10: 0.14071950894605836}
    for param, value in expected.items():
        assert init.calculate_gain("leaky_relu", param) == value


def test_calculate_gain_leaky_relu_only_accepts_numbers():
    for param in [True, [1], {"a": "b"}]:
        with pytest.raises(ValueError):
            init.calculate_gain("leaky_relu", param)


def test_calculate_gain_only_accepts_valid_nonlinearities(rng):
    for n in [2, 5, 25]:
        name = "".join(rng.choice(string.ascii_lowercase) for _ in range(n))
        with pytest.raises(ValueError):
            init.calculate_gain(name)


@pytest.mark.parametrize("dims", [1, 2, 4])
def test_uniform(rng, dims):
    tensor = _random_tensor(rng, dims, 30, 50)
    a = rng.uniform(-3, 3)
    b = a + rng.uniform(1, 5)
    init.uniform_(tensor, a=a, b=b)
    assert _is_uniform(tensor, a, b)


@pytest.mark.parametrize("dims", [1, 2, 4])
def test_normal(rng, dims):
    tensor = _random_tensor(rng, dims, 30, 50)
    mean, std = rng.uniform(-3, 3), rng.uniform(1, 5)
    init.normal_(tensor, mean=mean, std=std)
    assert _is_normal(tensor, mean, std)


@pytest.mark.parametrize("dims", [1, 2, 4])
def test_trunc_normal(rng, dims):
    tensor = _random_tensor(rng, dims, 30, 50)
    mean, std = rng.uniform(-3, 3), rng.uniform(0.01, 1)
    a, b = rng.uniform(mean - 2 * std, mean), rng.uniform(mean, mean + 2 * std)
    init.trunc_normal_(tensor, mean=mean, std=std, a=a, b=b)
    assert _is_trunc_normal(tensor, mean, std, a, b)


def test_trunc_normal_generator():
    gen = torch.Generator().manual_seed(42)
    first = init.trunc_normal_(torch.empty(1000), generator=gen)
    gen.manual_seed(42)
    second = init.trunc_normal_(torch.empty(1000), generator=gen)
    assert torch.equal(first, second)


@pytest.mark.parametrize("dims", [1, 2, 4])
def test_constant(rng, dims):
    tensor = _random_tensor(rng, dims, 1, 5)
    val = rng.uniform(1, 10)
    init.constant_(tensor, val)
    assert torch.equal(tensor, tensor.clone().fill_(val))


@pytest.mark.parametrize("dims", [1, 2, 4])
def test_ones_and_zeros(rng, dims):
    for init_fn_, val in zip([init.ones_, init.zeros_], [1, 0], strict=True):
        tensor = _random_tensor(rng, dims, 1, 5)
        init_fn_(tensor)
        assert torch.equal(tensor, tensor.clone().fill_(val))


def test_eye(rng):
    tensor = _random_tensor(rng, 2, 1, 5)
    init.eye_(tensor)
    for i in range(tensor.size(0)):
        for j in range(tensor.size(1)):
            assert tensor[i][j] == (1 if i == j else 0)


def test_eye_only_works_on_2d_inputs(rng):
    for dims in [1, 3]:
        with pytest.raises(ValueError):
            init.eye_(_random_tensor(rng, dims, 1, 3))


def test_dirac_properties(rng):
    for dims in [3, 4, 5]:
        for groups in [1, 2, 3]:
            a, c, d, e = (rng.randint(1, 5) for _ in range(4))
            b = rng.randint(1, 5 * groups)
            tensor = torch.randn((a * groups, b, c, d, e)[:dims])
            init.dirac_(tensor, groups)
            c_out, c_in = tensor.size(0) // groups, tensor.size(1)
            min_d = min(c_out, c_in)
            assert torch.nonzero(tensor).size(0) == min_d * groups
            assert float(tensor.sum()) == min_d * groups


@pytest.mark.parametrize("groups", [1, 3])
def test_dirac_identity(groups):
    batch, in_c, out_c, size, kernel_size = 8, 3, 9, 5, 3
    eff_out_c = out_c // groups
    convs = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
    for spatial, conv in convs.items():
        inputs = torch.randn(batch, in_c, *([size] * spatial))
        weight = torch.cat([torch.zeros(eff_out_c, in_c, *([kernel_size] * spatial))] * groups)
        init.dirac_(weight, groups)
        output = conv(inputs, weight)
        inner = (slice(None), slice(None), *([slice(1, -1)] * spatial))
        for g in range(groups):
            kept = output[:, eff_out_c * g : eff_out_c * g + in_c]
            torch.testing.assert_close(inputs[inner], kept)
            assert torch.nonzero(output[:, eff_out_c * g + in_c : eff_out_c * (g + 1)]).numel() == 0


def test_dirac_only_works_on_3_4_5d_inputs(rng):
    for dims in [1, 2, 6]:
        with pytest.raises(ValueError):
            init.dirac_(_random_tensor(rng, dims, 1, 3))


@pytest.mark.parametrize("fn", [init.xavier_uniform_, init.xavier_normal_,
                                init.kaiming_uniform_, init.kaiming_normal_])
def test_errors_on_inputs_smaller_than_2d(rng, fn):
    for dims in [0, 1]:
        with pytest.raises(ValueError):
            fn(_random_tensor(rng, dims, 1, 1))


@pytest.mark.parametrize("fn", [init.kaiming_uniform_, init.kaiming_normal_])
def test_kaiming_warning_on_0element_tensor(fn):
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        fn(torch.empty(0, 1))


def _torch_fans(tensor) -> tuple[int, int]:
    fan_in, fan_out = tensor.size(1), tensor.size(0)
    if tensor.dim() > 2:
        fan_in *= tensor[0, 0].numel()
        fan_out *= tensor[0, 0].numel()
    return fan_in, fan_out


@pytest.mark.parametrize("use_gain", [True, False])
@pytest.mark.parametrize("dims", [2, 4])
def test_xavier_uniform(rng, use_gain, dims):
    tensor = _random_tensor(rng, dims, 20, 25)
    gain = rng.uniform(0.1, 2) if use_gain else 1
    if use_gain:
        init.xavier_uniform_(tensor, gain=gain)
    else:
        init.xavier_uniform_(tensor)
    fan_in, fan_out = _torch_fans(tensor)
    bounds = gain * math.sqrt(2.0 / (fan_in + fan_out)) * math.sqrt(3)
    assert _is_uniform(tensor, -bounds, bounds)


@pytest.mark.parametrize("use_gain", [True, False])
@pytest.mark.parametrize("dims", [2, 4])
def test_xavier_normal(rng, use_gain, dims):
    tensor = _random_tensor(rng, dims, 20, 25)
    gain = rng.uniform(0.1, 2) if use_gain else 1
    if use_gain:
        init.xavier_normal_(tensor, gain=gain)
    else:
        init.xavier_normal_(tensor)
    fan_in, fan_out = _torch_fans(tensor)
    assert _is_normal(tensor, 0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


@pytest.mark.parametrize("use_a", [True, False])
@pytest.mark.parametrize("dims", [2, 4])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("law", ["uniform", "normal"])
def test_kaiming(rng, use_a, dims, mode, law):
    tensor = _random_tensor(rng, dims, 20, 25)
    fn = init.kaiming_uniform_ if law == "uniform" else init.kaiming_normal_
    if use_a:
        a = rng.uniform(0.1, 2)
        fn(tensor, a=a, mode=mode)
    else:
        a = 0
        fn(tensor, mode=mode)
    fan_in, fan_out = _torch_fans(tensor)
    n = fan_in if mode == "fan_in" else fan_out
    expected_std = math.sqrt(2.0 / ((1 + a**2) * n))
    if law == "uniform":
        bounds = expected_std * math.sqrt(3.0)
        assert _is_uniform(tensor, -bounds, bounds)
    else:
        assert _is_normal(tensor, 0, expected_std)


def test_sparse_only_works_on_2d_inputs(rng):
    for dims in [1, 3]:
        with pytest.raises(ValueError):
            init.sparse_(_random_tensor(rng, dims, 1, 3), rng.uniform(0.1, 0.9))


@pytest.mark.parametrize("use_random_std", [True, False])
def test_sparse_default_std(rng, use_random_std):
    tensor = _random_tensor(rng, 2, 30, 35)
    rows = tensor.size(0)
    sparsity = rng.uniform(0.1, 0.2)
    std = 0.01
    if use_random_std:
        std = rng.uniform(0.01, 0.2)
        init.sparse_(tensor, sparsity=sparsity, std=std)
    else:
        init.sparse_(tensor, sparsity=sparsity)
    for col_idx in range(tensor.size(1)):
        column = tensor[:, col_idx]
        assert column[column == 0].nelement() >= math.ceil(sparsity * rows)
    assert _is_normal(tensor[tensor != 0], 0, std)


@pytest.mark.parametrize("use_gain", [True, False])
@pytest.mark.parametrize("tensor_size", [[3, 4], [4, 3], [20, 2, 3, 4], [2, 3, 4, 5]])
def test_orthogonal(rng, use_gain, tensor_size):
    tensor = torch.zeros(tensor_size)
    gain = rng.uniform(0.1, 2) if use_gain else 1.0
    if use_gain:
        init.orthogonal_(tensor, gain=gain)
    else:
        init.orthogonal_(tensor)
    rows, cols = tensor_size[0], math.prod(tensor_size[1:])
    flat = tensor.view(rows, cols)
    if rows > cols:
        gram, eye = flat.t() @ flat, torch.eye(cols)
    else:
        gram, eye = flat @ flat.t(), torch.eye(rows)
    torch.testing.assert_close(gram, eye * gain**2, atol=1e-6, rtol=0)


def test_deprecation():
    with pytest.warns(FutureWarning, match="deprecated"):
        init.normal(torch.randn(3, 3))
