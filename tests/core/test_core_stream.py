"""Counter-based streams: Philox known answers, chunk invariance, independence, seeds."""

from __future__ import annotations

import hashlib
import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import paraminit as pi
import paraminit.numpy as pn
from paraminit import InitError
from paraminit.core.engines.reference import _mantissa, _unit
from paraminit.core.stream import MAX_SEED, Stream, philox4x32_10

# ---------------------------------------------------------------------------------------
# Philox4x32-10 known-answer vectors (Random123 kat_vectors: philox4x32_10)

KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_philox_known_answers(counter, key, expected):
    words = philox4x32_10(tuple(np.array([c], dtype=np.uint64) for c in counter), key)
    assert tuple(int(w[0]) for w in words) == expected


def test_philox_vectorised_equals_scalar():
    counters = [KAT[i][0] for i in range(3)]
    columns = tuple(np.array([c[j] for c in counters], dtype=np.uint64) for j in range(4))
    out = philox4x32_10(columns, KAT[2][1])
    for i, counter in enumerate(counters):
        single = philox4x32_10(tuple(np.array([c], dtype=np.uint64) for c in counter),
                               KAT[2][1])
        assert tuple(int(w[i]) for w in out) == tuple(int(w[0]) for w in single)
    assert all(int(w.max()) <= 0xFFFFFFFF for w in out)


# ---------------------------------------------------------------------------------------
# golden values: these pin docs/streams.md §5 -- any change to the stream recipe (key
# derivation, counter layout, uniform mapping, Box-Muller lanes) breaks them. Computed
# once with the reference implementation and pasted here.

# stream v2 (docs/streams.md): v1's libm Box-Muller differed in the last ulp of two values.
GOLDEN_NORMAL_STD1 = [
    -1.2048537041140714, -0.19055909399191706, -0.07550835006896182, 1.3140877113396456,
]
GOLDEN_UNIFORM_01 = [0.47521278429864855, 0.5249650789753092, 0.4205196746280343,
                     0.25913510338296886]


def test_golden_normal_default_std():
    # scheme "normal" has std 0.01 by default: the docs' values times 0.01
    got = pn.sample("normal", (4,), seed=0, name="w", dtype="float64")
    assert got.tolist() == [-0.012048537041140714, -0.0019055909399191707,
                            -0.0007550835006896183, 0.013140877113396456]


def test_golden_values_of_docs():
    normal = pn.sample("normal", (4,), seed=0, name="w", dtype="float64", std=1.0)
    uniform = pn.sample("uniform", (4,), seed=0, name="w", dtype="float64", low=0.0, high=1.0)
    assert normal.tolist() == GOLDEN_NORMAL_STD1
    assert uniform.tolist() == GOLDEN_UNIFORM_01


# ---------------------------------------------------------------------------------------
# the documented recipe, re-derived here


def test_uniform_mapping_of_docs():
    # key and counter re-derived from the SHA-256 recipe of docs/streams.md §1
    name = b"layer.weight"
    digest = hashlib.sha256(b"paraminit/philox4x32-10/v1" + (7).to_bytes(8, "little")
                            + len(name).to_bytes(8, "little") + name).digest()
    h = np.frombuffer(digest, dtype="<u4").astype(np.uint64)
    blocks = np.arange(3, dtype=np.uint64)
    words = philox4x32_10((blocks, blocks * 0, blocks * 0 + h[2], blocks * 0 + h[3]),
                          (int(h[0]), int(h[1])))
    u = Stream(7, "layer.weight").uniform(0, 6)
    for element in range(6):
        block, lane = divmod(element, 2)
        high, low = int(words[2 * lane][block]), int(words[2 * lane + 1][block])
        mantissa = high * 2**20 + (low >> 12)
        assert u[element] == (mantissa + 0.5) * 2.0**-52


def test_normal_box_muller_of_docs():
    stream = Stream(7, "layer.weight")
    u = stream.uniform(0, 8)
    z = stream.normal(0, 8)
    for block in range(4):
        u0, u1 = u[2 * block], u[2 * block + 1]
        r, theta = math.sqrt(-2 * math.log(u0)), 2 * math.pi * u1
        assert z[2 * block] == pytest.approx(r * math.cos(theta), rel=1e-14, abs=1e-15)
        assert z[2 * block + 1] == pytest.approx(r * math.sin(theta), rel=1e-14, abs=1e-15)


def test_high_counter_word_is_used():
    stream = Stream(0, "w")
    far = 2 * 2**32  # block 2**32: counter (0, 1, h2, h3), not block 0
    assert not np.array_equal(stream.uniform(far, far + 4), stream.uniform(0, 4))
    whole = stream.uniform(far - 3, far + 5)
    np.testing.assert_array_equal(whole[3:], stream.uniform(far, far + 5))


# ---------------------------------------------------------------------------------------
# whole vs chunks

_split_points = st.lists(st.integers(0, 97), max_size=6).map(sorted)


def _chunks(total: int, cuts: list[int]) -> list[tuple[int, int]]:
    edges = [0, *(min(c, total) for c in cuts), total]
    return list(itertools.pairwise(edges))


@given(start=st.integers(0, 50), cuts=_split_points, method=st.sampled_from(["uniform", "normal"]))
def test_stream_chunks_equal_whole(start, cuts, method):
    stream = Stream(3, "chunky")
    total = 97
    whole = getattr(stream, method)(start, start + total)
    parts = [getattr(stream, method)(start + a, start + b) for a, b in _chunks(total, cuts)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


_ELEMENTWISE_SPECS = {
    "uniform": lambda: pi.resolve("he_uniform", (13, 9)),
    "normal": lambda: pi.resolve("he_normal", (13, 9)),
    "truncated_normal": lambda: pi.resolve("truncated_normal", (13, 9), std=0.3, mean=0.1),
    "truncated_1sigma": lambda: pi.resolve("truncated_normal", (13, 9), truncate=1.0),
    "constant": lambda: pi.resolve("constant", (13, 9), value=0.25),
}


@given(
    law=st.sampled_from(sorted(_ELEMENTWISE_SPECS)),
    cuts=_split_points,
    dtype=st.sampled_from(["float16", "float32", "float64"]),
)
def test_sample_elements_chunks_equal_whole(law, cuts, dtype):
    spec = _ELEMENTWISE_SPECS[law]()
    whole = pn.sample(spec, seed=11, name="p", dtype=dtype).ravel()
    total = whole.size
    parts = [pn.sample_elements(spec, seed=11, name="p", start=a, stop=b, dtype=dtype)
             for a, b in _chunks(total, [c * total // 97 for c in cuts])]
    joined = np.concatenate(parts)
    assert joined.dtype == whole.dtype
    np.testing.assert_array_equal(joined, whole)


@given(start=st.integers(0, 116), length=st.integers(0, 8))
def test_sample_elements_odd_starts(start, length):
    spec = _ELEMENTWISE_SPECS["normal"]()
    stop = min(start + length, 117)
    whole = pn.sample(spec, seed=5, name="odd", dtype="float64").ravel()
    np.testing.assert_array_equal(
        pn.sample_elements(spec, seed=5, name="odd", start=start, stop=stop, dtype="float64"),
        whole[start:stop],
    )


def test_sample_elements_defaults_to_everything():
    spec = pi.resolve("xavier_normal", (8, 5))
    np.testing.assert_array_equal(pn.sample_elements(spec, seed=0, name="x"),
                                  pn.sample(spec, seed=0, name="x").ravel())


# ---------------------------------------------------------------------------------------
# reproducibility and independence


def test_bit_identical_reruns():
    for scheme in ("he_normal", "xavier_uniform", "truncated_normal", "orthogonal", "sparse"):
        a = pn.sample(scheme, (64, 48), seed=123, name="w")
        b = pn.sample(scheme, (64, 48), seed=123, name="w")
        assert a.tobytes() == b.tobytes(), scheme


def test_stream_is_pure_function_of_seed_and_name():
    assert Stream(5, "a") == Stream(5, "a")
    np.testing.assert_array_equal(Stream(5, "a").normal(0, 10), Stream(5, "a").normal(0, 10))
    # no hidden state: a second draw of the same range repeats it
    stream = Stream(5, "a")
    first = stream.uniform(0, 10)
    np.testing.assert_array_equal(stream.uniform(0, 10), first)


_N_INDEP = 40_000
# |sample correlation| of independent streams is ~ N(0, 1/n); 5 sigma
_CORR_TOL = 5 / math.sqrt(_N_INDEP)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Stream(0, "fc1.weight"), Stream(0, "fc2.weight")),
        (Stream(0, "w"), Stream(1, "w")),
        (Stream(1, "w"), Stream(2, "w")),
        (Stream(0, "w"), Stream(0, "w", purpose="mask")),
        (Stream(0, "ab"), Stream(0, "a", purpose="b")),  # the length prefix separates these
        (Stream(0, ""), Stream(0, " ")),
        (Stream(MAX_SEED, "w"), Stream(0, "w")),
    ],
)
def test_distinct_streams_look_independent(a, b):
    for method in ("uniform", "normal"):
        x, y = getattr(a, method)(0, _N_INDEP), getattr(b, method)(0, _N_INDEP)
        assert not np.any(x == y)
        assert abs(np.corrcoef(x, y)[0, 1]) < _CORR_TOL


def test_within_stream_no_lag_or_lane_correlation():
    z = Stream(9, "lag").normal(0, 2 * _N_INDEP)
    u = Stream(9, "lag").uniform(0, 2 * _N_INDEP)
    for x in (z, u):
        # lanes of a block (Box-Muller cos/sin pair; the two uniforms of a block)
        assert abs(np.corrcoef(x[0::2], x[1::2])[0, 1]) < _CORR_TOL
        # neighbouring blocks
        assert abs(np.corrcoef(x[0:-2:2], x[2::2])[0, 1]) < _CORR_TOL
    # Box-Muller pair: z0^2 and z1^2 independent too
    assert abs(np.corrcoef(z[0::2] ** 2, z[1::2] ** 2)[0, 1]) < _CORR_TOL


def test_different_names_give_different_tensors():
    a = pn.sample("he_normal", (32, 32), seed=0, name="a")
    b = pn.sample("he_normal", (32, 32), seed=0, name="b")
    c = pn.sample("he_normal", (32, 32), seed=1, name="a")
    assert not np.array_equal(a, b) and not np.array_equal(a, c)


def test_raw_streams_pass_ks():
    n = 50_000
    for seed, name in ((0, "ks"), (2**63, "émbed.weight")):
        stream = Stream(seed, name)
        assert stats.kstest(stream.uniform(0, n), "uniform").pvalue > 1e-3
        assert stats.kstest(stream.normal(1, n + 1), "norm").pvalue > 1e-3  # odd start


# ---------------------------------------------------------------------------------------
# uniform strictly inside (0, 1)


def test_uniform_strictly_inside_unit_interval_sampled():
    u = Stream(0, "range").uniform(0, 200_000)
    assert u.min() > 0.0 and u.max() < 1.0


def test_uniform_extreme_words_never_hit_0_or_1():
    # docs/streams.md §3: u = (m + 0.5) 2^-52 "is never 0 or 1", for every pair of words,
    # including the extreme ones m = 0 and m = 2^52 - 1.
    lowest = _unit(_mantissa(np.array([0], dtype=np.uint64), np.array([0], dtype=np.uint64)))
    highest = _unit(_mantissa(np.array([0xFFFFFFFF], dtype=np.uint64),
                              np.array([0xFFFFFFFF], dtype=np.uint64)))
    assert 0.0 < lowest[0] < 2.0**-52
    assert 1.0 - 2.0**-52 <= highest[0] < 1.0


# ---------------------------------------------------------------------------------------
# seeds


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 1.0, True, "0", None, np.float64(3)])
def test_bad_seeds_raise(seed):
    with pytest.raises(InitError, match=r"seed must be an int in \[0, 2\*\*64 - 1\]"):
        Stream(seed, "w")
    with pytest.raises(ValueError, match="seed"):
        pn.sample("he_normal", (4, 4), seed=seed)


@pytest.mark.parametrize("seed", [0, 1, MAX_SEED, np.uint64(MAX_SEED), np.int64(42)])
def test_good_seeds(seed):
    np.testing.assert_array_equal(
        pn.sample("he_normal", (4, 4), seed=seed), pn.sample("he_normal", (4, 4), seed=int(seed))
    )


def test_bad_name_and_range():
    with pytest.raises(InitError, match="name must be a str; received 3"):
        Stream(0, 3)
    with pytest.raises(InitError, match="start must be a non-negative int"):
        Stream(0, "w").uniform(-1, 3)
    with pytest.raises(InitError, match="stop must be >= start"):
        Stream(0, "w").normal(5, 3)
