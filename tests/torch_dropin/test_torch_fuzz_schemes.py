"""Fuzz every registered scheme × shape × dtype × option value (issue 16), torch side.

``paraminit.torch.init_`` either raises ``InitError`` and leaves its tensor untouched, or
writes finite values that keep the law's bounds in the tensor's dtype and repeat bit for
bit. The NumPy twin, with the shared inputs, is ``tests/test_fuzz_schemes.py``.
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

import paraminit as pi
from fuzz_inputs import FUZZ, assert_within, scheme_calls
from paraminit import InitError

torch = pytest.importorskip("torch")
import paraminit.torch as pt  # noqa: E402

TORCH_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64,
                torch.uint8]


@FUZZ
@given(call=scheme_calls(), dtype=st.sampled_from(TORCH_DTYPES),
       seed=st.integers(0, 2**63 - 2))
def test_torch_init_is_an_init_error_or_right_and_atomic(call, dtype, seed):
    scheme, shape, options = call
    tensor = torch.full(shape, 7, dtype=dtype)
    before = tensor.clone()
    with warnings.catch_warnings():  # torch's rule for empty tensors, kept by the drop-in
        warnings.filterwarnings("ignore", "Initializing zero-element tensors is a no-op")
        try:
            pt.init_(tensor, scheme, seed=seed, name="w", **options)
        except InitError:
            assert torch.equal(tensor, before)  # nothing half-written
            return
        again = pt.init_(torch.empty(shape, dtype=dtype), scheme, seed=seed, name="w",
                         **options)
    if tensor.numel() == 0:
        return  # torch's rule: a no-op with a warning
    spec = pi.resolve(scheme, shape, **options)
    assert_within(tensor.double().numpy(), spec)
    assert torch.equal(tensor, again)
