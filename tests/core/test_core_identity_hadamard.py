"""ZerO's deterministic matrix (Zhao et al. 2022, Algorithm 1): scheme identity_hadamard."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import paraminit as pi
import paraminit.numpy as pn
from paraminit.core.structured import sylvester_hadamard, zero_matrix


def _sample(*args, **options):
    options.setdefault("seed", 0)
    return pn.sample(*args, dtype="float64", **options)

scipy_linalg = pytest.importorskip("scipy.linalg")


@pytest.mark.parametrize("order", [1, 2, 4, 8, 64, 256])
def test_sylvester_hadamard_is_scipys(order):
    assert np.array_equal(sylvester_hadamard(order), scipy_linalg.hadamard(order))


def test_square_and_narrowing_layers_get_the_partial_identity():
    assert np.array_equal(_sample("identity_hadamard", (4, 4)), np.eye(4))
    assert np.array_equal(_sample("identity_hadamard", (3, 5)),
                          np.eye(3, 5))


def test_a_widening_layer_gets_the_scaled_hadamard_block():
    # out = 6 > in = 3: p = 2^ceil(log2 6) = 8, c = 1/sqrt(8) = 0.35355339059327373
    w = _sample("identity_hadamard", (6, 3))
    c = 0.35355339059327373
    assert np.array_equal(w, c * np.array([[1, 1, 1], [1, -1, 1], [1, 1, -1], [1, -1, -1],
                                           [1, 1, 1], [1, -1, 1]]))
    # out = 8 (a power of 2), in = 8 is square: identity, not Hadamard
    assert np.array_equal(_sample("identity_hadamard", (8, 8)), np.eye(8))


def test_the_values_are_the_authors_reference_formula():
    # eye(m, p) @ hadamard(p) / 2^(ceil(log2 m)/2) @ eye(p, n) (ZerO_Init_on_matrix)
    m, n = 100, 30
    clog = math.ceil(math.log2(m))
    p = 2**clog
    reference = np.eye(m, p) @ (scipy_linalg.hadamard(p) / 2 ** (clog / 2)) @ np.eye(p, n)
    assert np.allclose(_sample("identity_hadamard", (m, n)), reference,
                       rtol=0, atol=1e-15)


@given(rows=st.integers(1, 130), cols=st.integers(1, 130))
def test_no_input_is_lost_and_no_output_is_dead(rows, cols):
    w = zero_matrix(rows, cols)
    assert np.linalg.matrix_rank(w) == min(rows, cols)
    if rows > cols:  # widening: every output reads every input with weight +-1/sqrt(p)
        p = 2 ** math.ceil(math.log2(rows))
        assert np.array_equal(np.abs(w), np.full((rows, cols), 1 / math.sqrt(p)))
        if rows == p:  # a whole Hadamard's columns: orthonormal
            assert np.allclose(w.T @ w, np.eye(cols), rtol=0, atol=1e-12)
    else:  # square or narrowing: the first `rows` inputs pass, the rest are dropped
        assert np.array_equal(w, np.eye(rows, cols))


def test_spec_moments_are_the_values_moments():
    spec = pi.resolve("identity_hadamard", (96, 80))
    w = _sample(spec)
    assert spec.mean == pytest.approx(float(w.mean()), rel=1e-12)
    assert spec.std == pytest.approx(float(w.std()), rel=1e-12)
    assert spec.gain == 1.0 and "H_128" in spec.formula


def test_a_conv_kernel_gets_the_matrix_at_its_centre_tap():
    w = _sample("identity_hadamard", (6, 3, 3, 3))
    assert np.array_equal(w[:, :, 1, 1], zero_matrix(6, 3))
    w[:, :, 1, 1] = 0
    assert not w.any()
    # torch's centre k//2 for an even kernel (k = 4 -> 2), as dirac
    w = _sample("identity_hadamard", (2, 2, 4))
    assert np.array_equal(w[:, :, 2], np.eye(2)) and not w[:, :, [0, 1, 3]].any()


def test_keras_layout_reads_in_and_out_from_the_layout():
    w = _sample("identity_hadamard", (3, 6), layout="jax")  # (in, out)
    assert np.array_equal(w, zero_matrix(6, 3).T)


def test_the_values_are_deterministic_and_gain_scales_them():
    a = _sample("identity_hadamard", (12, 5), seed=0, name="a")
    b = _sample("identity_hadamard", (12, 5), seed=7, name="b")
    assert np.array_equal(a, b)
    assert np.array_equal(_sample("identity_hadamard", (12, 5), gain=2.0),
                          2 * a)
    scaled = pi.resolve("identity_hadamard", (12, 5)).scaled(0.5)
    assert np.array_equal(_sample(scaled), 0.5 * a)


def test_torch_writes_the_same_values():
    torch = pytest.importorskip("torch")
    import paraminit.torch as pit

    w = torch.empty(10, 4, dtype=torch.float64)
    pit.init_(w, "identity_hadamard")
    assert np.array_equal(w.numpy(), zero_matrix(10, 4))


def test_bad_shapes_and_groups_are_errors():
    with pytest.raises(pi.InitError, match=r"identity_hadamard needs a 2-D to 5-D shape"):
        pi.resolve("identity_hadamard", (8,))
    with pytest.raises(pi.InitError, match=r"ungrouped weights; received groups=2 .*dirac"):
        pi.resolve("identity_hadamard", (8, 4, 3, 3), groups=2)
