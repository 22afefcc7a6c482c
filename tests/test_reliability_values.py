"""Issue 16, items 1-3, as filed: each example of a silent wrong value is now a right value
or an InitError naming the bounds, the dtype and a fix (the fuzz tests cover the classes;
these pin the examples themselves)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import paraminit.numpy as pn
from paraminit import InitError

torch = pytest.importorskip("torch")
import paraminit.torch as pt  # noqa: E402

# item 1: truncated normals that were all NaN


@pytest.mark.parametrize(("kwargs", "low", "high"), [
    ({"std": 1e-3, "a": 1.0, "b": 2.0}, 1.0, 2.0),  # a 1000 stds from the mean
    ({"std": 1e7}, -2.0, 2.0),  # nearly uniform on [-2, 2]
])
def test_torch_trunc_normal_examples_are_finite_in_bounds(kwargs, low, high):
    values = pt.trunc_normal_(torch.empty(10_000, dtype=torch.float64), **kwargs)
    assert torch.isfinite(values).all() and values.min() >= low and values.max() <= high
    if kwargs["std"] == 1e7:
        assert float(values.std()) == pytest.approx(4 / math.sqrt(12), rel=0.03)
    else:  # all the mass within about std²/(a - mean) = 1e-6 of a
        assert float(values.max()) < 1.0 + 1e-4


def test_numpy_narrow_truncation_example_has_its_std():
    values = pn.sample("truncated_normal", (100_000,), truncate=1e-6, seed=0, dtype="float64")
    assert np.isfinite(values).all()
    assert values.std() == pytest.approx(0.02, rel=0.01)


# item 2: bounds that overflow or cannot be honoured


def test_uniform_whose_width_overflows_float64_samples_its_law():
    values = pn.sample("uniform", (100_000,), low=-1e308, high=1e308, seed=0, dtype="float64")
    assert np.isfinite(values).all() and np.abs(values).max() <= 1e308
    assert (values / 1e308).std() == pytest.approx(1 / math.sqrt(3), rel=0.01)  # U(-1, 1)


@pytest.mark.parametrize(("scheme", "options", "dtype", "pattern"), [
    ("uniform", {"low": 1.0001, "high": 1.0002}, "float16",
     r"no float16 value lies in the bounds \[1.000100.*, 1.0002\].*widen the bounds"),
    ("uniform", {"low": -1e5, "high": 1e5}, "float16",
     r"the bounds \[-100000.0, 100000.0\] cannot be held by float16 .*wider dtype"),
    ("constant", {"value": 70000.0}, "float16",
     r"the value 70000.0 cannot be held by float16 .*wider dtype"),
    ("normal", {"std": 1e39}, "float32",
     r"std 1e\+39 .*cannot be held by float32 .*wider dtype"),
])
def test_laws_a_dtype_cannot_hold_are_init_errors(scheme, options, dtype, pattern):
    with pytest.raises(InitError, match=pattern):
        pn.sample(scheme, (4,), seed=0, dtype=dtype, **options)


# item 3: integers that wrapped


@pytest.mark.parametrize(("dtype", "scheme", "options", "pattern"), [
    (torch.uint8, "constant", {"value": 300.0},
     r"init_: torch.uint8 cannot hold the value 300.0 exactly \(integers in \[0, 255\]\)"),
    (torch.int64, "identity", {"gain": 2.7}, r"init_: torch.int64 cannot hold the value 2.7"),
])
def test_integers_never_wrap(dtype, scheme, options, pattern):
    tensor = torch.full((3, 3), 5, dtype=dtype)
    with pytest.raises(InitError, match=pattern):
        pt.init_(tensor, scheme, seed=0, **options)
    assert (tensor == 5).all()
