"""Statistics parity with torch.nn.init: same call, same shape, same law.

For every case the *same* call runs through torch.nn.init and paraminit.torch; both
outputs must pass a KS test against the law written down here (so the law is torch's
meaning of the arguments, checked on torch itself), our mean and std must match the law,
and our std must match torch's own output std.

Tolerances come from the sample size n: the sample mean has sd σ/√n; the sample std has
relative sd √((κ - 1)/(4n)) ≤ 1/√(2n) for the laws here (kurtosis κ ≤ 3); the difference of
two independent std estimates has relative sd ≤ 1/√n. Z = 5 (fixed seeds, so a pass is
reproducible; a 5% error in a std still fails at these sizes).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

import torch.nn.init as tinit  # noqa: E402

import paraminit.torch as init  # noqa: E402

Z = 5.0
P_MIN = 1e-4
DENSE, CONV, DEPTHWISE = (96, 80), (32, 16, 3, 3), (32, 1, 3, 3)
RELU = math.sqrt(2.0)


def _uniform(bound: float, low: float | None = None):
    low = -bound if low is None else low
    return stats.uniform(low, bound - low)


def _trunc(mean: float, std: float, a: float, b: float):
    return stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)


# (id, shape, call(module, tensor), law)
CASES: list[tuple[str, tuple[int, ...], Callable, object]] = [
    ("uniform-default", DENSE, lambda m, t: m.uniform_(t), _uniform(1.0, 0.0)),
    ("uniform-ab", CONV, lambda m, t: m.uniform_(t, -0.3, 0.7), _uniform(0.7, -0.3)),
    ("normal-default", DENSE, lambda m, t: m.normal_(t), stats.norm(0, 1)),
    ("normal-mean-std", CONV, lambda m, t: m.normal_(t, 2.0, 0.5), stats.norm(2, 0.5)),
    ("trunc-default", DENSE, lambda m, t: m.trunc_normal_(t), _trunc(0, 1, -2, 2)),
    ("trunc-asymmetric", CONV, lambda m, t: m.trunc_normal_(t, 0.5, 2.0, -1.0, 4.0),
     _trunc(0.5, 2.0, -1.0, 4.0)),
    ("trunc-tail", DENSE, lambda m, t: m.trunc_normal_(t, 0.0, 1.0, 2.5, 4.0),
     _trunc(0, 1, 2.5, 4.0)),
    ("trunc-small-std", DENSE, lambda m, t: m.trunc_normal_(t, std=0.02),
     _trunc(0, 0.02, -2, 2)),
    ("xavier-uniform-dense", DENSE, lambda m, t: m.xavier_uniform_(t),
     _uniform(math.sqrt(6 / (96 + 80)))),
    ("xavier-uniform-conv-gain", CONV, lambda m, t: m.xavier_uniform_(t, gain=RELU),
     _uniform(RELU * math.sqrt(6 / (144 + 288)))),
    ("xavier-normal-dense", DENSE, lambda m, t: m.xavier_normal_(t),
     stats.norm(0, math.sqrt(2 / (96 + 80)))),
    ("xavier-normal-conv-tanh", CONV,
     lambda m, t: m.xavier_normal_(t, gain=m.calculate_gain("tanh")),
     stats.norm(0, 5 / 3 * math.sqrt(2 / (144 + 288)))),
    ("kaiming-uniform-default", CONV, lambda m, t: m.kaiming_uniform_(t),
     _uniform(RELU * math.sqrt(3 / 144))),
    ("kaiming-uniform-sqrt5", DENSE, lambda m, t: m.kaiming_uniform_(t, a=math.sqrt(5)),
     _uniform(1 / math.sqrt(80))),  # torch's default Linear init: U(+-1/sqrt(fan_in))
    ("kaiming-uniform-fan-out-upper", CONV,
     lambda m, t: m.kaiming_uniform_(t, mode="FAN_OUT", nonlinearity="relu"),
     _uniform(RELU * math.sqrt(3 / 288))),
    ("kaiming-normal-relu-fan-out", CONV,
     lambda m, t: m.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
     stats.norm(0, RELU / math.sqrt(288))),
    ("kaiming-normal-leaky", DENSE, lambda m, t: m.kaiming_normal_(t, a=0.2),
     stats.norm(0, math.sqrt(2 / 1.04 / 80))),
    ("kaiming-normal-selu-ignores-a", DENSE,
     lambda m, t: m.kaiming_normal_(t, a=0.7, nonlinearity="selu"),
     stats.norm(0, 0.75 / math.sqrt(80))),
    # torch counts a depthwise weight's fan_out as out x rf = 288, not 9
    ("kaiming-normal-depthwise-fan-out", DEPTHWISE,
     lambda m, t: m.kaiming_normal_(t, mode="fan_out"), stats.norm(0, RELU / math.sqrt(288))),
]


def _run(module, shape, call, seed: int = 0):
    torch.manual_seed(seed)
    tensor = torch.empty(shape)
    assert call(module, tensor) is tensor
    return tensor.double().reshape(-1).numpy()


# torch warns for the tail case, where its sampler is weak; ours is exact there.
@pytest.mark.filterwarnings("ignore:mean is more than 2 std:UserWarning")
@pytest.mark.parametrize(("shape", "call", "law"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_same_law_as_torch(shape, call, law):
    ours, theirs = _run(init, shape, call), _run(tinit, shape, call)
    n = ours.size
    assert stats.kstest(theirs, law.cdf).pvalue > P_MIN  # the law is torch's meaning
    assert stats.kstest(ours, law.cdf).pvalue > P_MIN
    sigma = law.std()
    assert abs(ours.mean() - law.mean()) < Z * sigma / math.sqrt(n)
    assert abs(ours.std() / sigma - 1) < Z / math.sqrt(2 * n)
    assert abs(ours.std() - theirs.std()) / sigma < Z / math.sqrt(n)
    low, high = law.support()
    assert low <= ours.min() and ours.max() <= high


@pytest.mark.parametrize(("rows", "cols", "sparsity", "std"),
                         [(100, 60, 0.3, 0.01), (64, 64, 0.9, 0.5), (10, 200, 0.0, 1.0)])
def test_sparse_like_torch(rows, cols, sparsity, std):
    torch.manual_seed(0)
    ours = init.sparse_(torch.empty(rows, cols), sparsity, std)
    theirs = tinit.sparse_(torch.empty(rows, cols), sparsity, std)
    zeros = math.ceil(sparsity * rows)
    assert ((ours == 0).sum(dim=0) == zeros).all()  # exactly, in every column
    assert ((theirs == 0).sum(dim=0) == zeros).all()
    values = ours[ours != 0].double().numpy()
    assert values.size == (rows - zeros) * cols
    assert stats.kstest(values, "norm", args=(0, std)).pvalue > P_MIN
    assert abs(values.std() / std - 1) < Z / math.sqrt(2 * values.size)


@pytest.mark.parametrize("shape", [(64, 48), (48, 64), (16, 4, 3, 3), (40, 40)])
@pytest.mark.parametrize("gain", [1.0, 0.5, RELU])
def test_orthogonal_norm_like_torch(shape, gain):
    # A semi-orthogonal matrix has ||W||_F^2 = gain^2 min(rows, cols) exactly.
    torch.manual_seed(0)
    ours = init.orthogonal_(torch.empty(shape), gain=gain).double()
    theirs = tinit.orthogonal_(torch.empty(shape), gain=gain).double()
    rows, cols = shape[0], math.prod(shape[1:])
    expected = gain * math.sqrt(min(rows, cols))
    assert float(ours.norm()) == pytest.approx(expected, rel=1e-6)
    assert float(theirs.norm()) == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_orthogonal_is_haar():
    # For Haar-distributed Q in O(n): E[tr Q] = 0 and E[(tr Q)^2] = 1 (Diaconis & Shahshahani
    # 1994). QR without the sign fix biases the diagonal.
    torch.manual_seed(0)
    traces = np.array([float(torch.trace(init.orthogonal_(torch.empty(8, 8)).double()))
                       for _ in range(400)])
    n = traces.size
    assert abs(traces.mean()) < Z / math.sqrt(n)
    # Var[(tr Q)^2] = E[(tr Q)^4] - 1 = 3 - 1 = 2 for n >= 4
    assert abs((traces**2).mean() - 1) < Z * math.sqrt(2 / n)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("case", ["normal-mean-std", "uniform-ab", "trunc-asymmetric",
                                  "kaiming-normal-relu-fan-out"])
def test_law_kept_in_other_dtypes(dtype, case):
    _, shape, call, law = next(c for c in CASES if c[0] == case)
    torch.manual_seed(0)
    tensor = torch.empty(shape, dtype=dtype)
    call(init, tensor)
    values = tensor.double().reshape(-1).numpy()
    n = values.size
    sigma = law.std()
    # rounding adds at most half an ulp per value: |relative error| <= 2^-8 (bf16)
    rounding = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11, torch.float64: 0.0}[dtype]
    assert abs(values.mean() - law.mean()) < Z * sigma / math.sqrt(n) + rounding * abs(
        law.mean()) + rounding * sigma
    assert abs(values.std() / sigma - 1) < Z / math.sqrt(2 * n) + rounding
    low, high = law.support()
    assert low <= values.min() and values.max() <= high
