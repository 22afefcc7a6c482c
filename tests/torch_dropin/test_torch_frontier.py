"""Torch drop-ins delta_orthogonal_, conv_orthogonal_, random_walk_: values and isometry."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import paraminit.numpy as pn  # noqa: E402
from paraminit import InitError  # noqa: E402
from paraminit.torch._generic import init_  # noqa: E402
from paraminit.torch._structured import (  # noqa: E402
    conv_orthogonal_,
    delta_orthogonal_,
    random_walk_,
)

F = torch.nn.functional


def _seed_of(generator_seed: int) -> int:
    g = torch.Generator().manual_seed(generator_seed)
    return int(torch.randint(0, 2**63 - 1, (1,), generator=g).item())


CASES = [
    (delta_orthogonal_, "delta_orthogonal", (32, 16, 3, 3), {"gain": 2.0}),
    (delta_orthogonal_, "delta_orthogonal", (16, 16, 4), {"center": "torch"}),
    (conv_orthogonal_, "conv_orthogonal", (16, 8, 3, 3), {"gain": 0.5}),
    (conv_orthogonal_, "conv_orthogonal", (8, 8, 2, 3, 3), {}),
    (random_walk_, "random_walk", (64, 32), {"nonlinearity": "relu"}),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("function", "scheme", "shape", "options"), CASES)
def test_dropin_equals_init_with_the_drawn_seed(function, scheme, shape, options, dtype):
    tensor = torch.empty(shape, dtype=dtype)
    out = function(tensor, generator=torch.Generator().manual_seed(5), **options)
    assert out is tensor
    expected = init_(torch.empty(shape, dtype=dtype), scheme, seed=_seed_of(5), **options)
    assert torch.equal(tensor, expected)
    np.testing.assert_array_equal(
        tensor.numpy(), pn.sample(scheme, shape, seed=_seed_of(5), dtype=str(dtype)[6:],
                                  **options))


def test_dropins_follow_torch_manual_seed():
    torch.manual_seed(3)
    a = conv_orthogonal_(torch.empty(8, 8, 3))
    b = conv_orthogonal_(torch.empty(8, 8, 3))
    torch.manual_seed(3)
    assert torch.equal(a, conv_orthogonal_(torch.empty(8, 8, 3)))
    assert not torch.equal(a, b)


@pytest.mark.parametrize(("conv", "size"), [
    (torch.nn.Conv1d(6, 12, 3, padding=1, padding_mode="circular", bias=False), (9,)),
    (torch.nn.Conv2d(8, 8, 3, padding=1, padding_mode="circular", bias=False), (6, 7)),
    (torch.nn.Conv3d(4, 6, 3, padding=1, padding_mode="circular", bias=False), (4, 5, 3)),
])
def test_conv_orthogonal_preserves_norms_through_a_circular_torch_conv(conv, size):
    conv = conv.double()
    conv_orthogonal_(conv.weight, 1.5)
    x = torch.randn(4, conv.in_channels, *size, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = conv(x)
    ratio = y.flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)
    torch.testing.assert_close(ratio, torch.full_like(ratio, 1.5), rtol=1e-10, atol=0)


def test_delta_orthogonal_conv_is_isometric_on_every_input():
    conv = torch.nn.Conv2d(8, 16, 3, padding=1, bias=False).double()
    delta_orthogonal_(conv.weight)
    x = torch.randn(2, 8, 5, 5, dtype=torch.float64)
    with torch.no_grad():  # a centre-tap kernel: zero padding loses nothing
        ratio = float(conv(x).norm() / x.norm())
    assert ratio == pytest.approx(1.0, rel=1e-12)


def test_low_precision_and_empty_tensors():
    w = delta_orthogonal_(torch.empty(16, 8, 3, 3, dtype=torch.bfloat16))
    h = w[:, :, 1, 1].double()
    assert (h.T @ h - torch.eye(8, dtype=torch.float64)).abs().max() < 2e-2
    with pytest.warns(UserWarning, match="zero-element"):
        conv_orthogonal_(torch.empty(0, 4, 3))


def test_dropin_errors_name_the_problem():
    with pytest.raises(InitError, match="out-channels >= in-channels"):
        conv_orthogonal_(torch.empty(4, 8, 3))
    with pytest.raises(InitError, match="center must be one of"):
        delta_orthogonal_(torch.empty(8, 8, 3), center="middle")
    with pytest.raises(InitError, match="nonlinearity must be one of 'linear', 'relu'"):
        random_walk_(torch.empty(8, 8), "tanh")
