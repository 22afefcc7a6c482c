"""Fuzz every registered scheme × shape × dtype × option value (issue 16), NumPy side.

Whatever the input, a call either raises ``InitError`` or returns finite values that keep
the law's bounds in the requested dtype and repeat bit for bit. Hypothesis drives the
inputs, derandomised, so CI is reproducible. ``PARAMINIT_FUZZ_EXAMPLES`` sets the number of
cases per test (default 250; the deep run in docs/reliability.md used 20000). The torch
drop-in's twin is ``tests/torch_dropin/test_torch_fuzz_schemes.py``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import paraminit as pi
import paraminit.numpy as pn
from fuzz_inputs import FUZZ, assert_within, scheme_calls
from paraminit import InitError


@FUZZ
@given(call=scheme_calls(), dtype=st.sampled_from(["float16", "float32", "float64"]),
       seed=st.integers(0, 2**64 - 1))
def test_numpy_sample_is_an_init_error_or_right(call, dtype, seed):
    scheme, shape, options = call
    try:
        spec = pi.resolve(scheme, shape, **options)
        values = pn.sample(spec, seed=seed, name="w", dtype=dtype)
    except InitError:
        return
    assert values.shape == shape and values.dtype == np.dtype(dtype)
    assert_within(values.astype(np.float64), spec)
    np.testing.assert_array_equal(values, pn.sample(spec, seed=seed, name="w", dtype=dtype))
