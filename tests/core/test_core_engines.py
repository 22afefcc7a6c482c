"""The host engines: the compiled engine equals the NumPy reference bit for bit, everywhere.

Equal on every law and dtype, on whole tensors, flat ranges and N-d boxes (bit-identical to
the same box of the whole), across thread counts and processes; bounded laws stay inside
their bounds in every dtype; the engine choice and its fallback are explicit.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import paraminit as pi
import paraminit.numpy as pn
from paraminit import InitError
from paraminit.core import engines
from paraminit.core.engines import Box, compiled, prepare, reference
from paraminit.core.engines.law import TRUNCATED_FAR, truncated_law
from paraminit.core.spec import InitSpec
from paraminit.core.stream import Stream

pytestmark = pytest.mark.skipif(engines.engine_name() != "compiled",
                                reason="the compiled engine (numba) is not available")

_STORAGE = {"float64": np.float64, "float32": np.float32, "float16": np.uint16,
            "bfloat16": np.uint16}


# name -> (scheme, options): every law code, and truncations of every width
LAWS = {
    "constant": ("constant", {"value": 0.25}),
    "uniform": ("uniform", {"low": -0.3, "high": 0.7}),
    "normal": ("normal", {"std": 1.0}),
    "he_normal": ("he_normal", {}),
    "truncated": ("truncated_normal", {"std": 0.02}),
    "truncated_narrow": ("truncated_normal", {"std": 1.0, "truncate": 0.3}),
    "truncated_wide": ("truncated_normal", {"std": 1.0, "truncate": 5.5}),
}


def _spec(law: str, shape: tuple[int, ...]) -> InitSpec:
    scheme, options = LAWS[law]
    return pi.resolve(scheme, shape, **options)


def _run(engine, spec: InitSpec, dtype: str, box: Box, seed: int = 3, name: str = "w",
         law=None) -> np.ndarray:
    prepared = prepare(spec, dtype)
    out = np.empty(math.prod(box.box_shape), dtype=_STORAGE[dtype])
    run_starts, run_length = box.runs()
    engine.fill(out, dtype, law or prepared.law, Stream(seed, name), run_starts, run_length,
                prepared.clip)
    return out


def _assert_same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("dtype", list(_STORAGE))
@pytest.mark.parametrize("law", sorted(LAWS))
def test_compiled_equals_reference_on_every_law_and_dtype(law, dtype):
    shape = (301, 211)
    spec = _spec(law, shape)
    box = Box(shape, (1, 3), (300, 208))  # odd starts: runs begin on both lanes of a block
    _assert_same_bits(_run(compiled, spec, dtype, box), _run(reference, spec, dtype, box))


@pytest.mark.parametrize(("low", "high"), [(38.5, 39.0), (8.0, math.inf), (-39.0, -38.5),
                                           (35.0, 36.0), (-0.1, 12.0), (1e-3, 2e-3)])
@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16"])
def test_compiled_equals_reference_on_truncated_tails(low, high, dtype):
    spec = _spec("normal", (50_001,))
    law = truncated_law(0.0, 1.0, low, high)
    box = Box.flat(50_001, 1, 50_001)
    _assert_same_bits(_run(compiled, spec, dtype, box, law=law),
                      _run(reference, spec, dtype, box, law=law))


def test_far_law_is_exercised():
    # the deep-tail code path of the comparisons above
    assert truncated_law(0.0, 1.0, 38.5, 39.0).code == TRUNCATED_FAR


@st.composite
def _boxes(draw):
    shape = tuple(draw(st.lists(st.integers(1, 40), min_size=2, max_size=4)))  # 2-D: fans
    starts, stops = [], []
    for size in shape:
        a = draw(st.integers(0, size))
        b = draw(st.integers(a, size))
        starts.append(a)
        stops.append(b)
    return Box(shape, tuple(starts), tuple(stops))


@settings(deadline=None, max_examples=60)
@given(box=_boxes(), law=st.sampled_from(sorted(LAWS)),
       dtype=st.sampled_from(["float64", "float32", "float16"]))
def test_box_equals_the_same_box_of_the_whole(box, law, dtype):
    spec = _spec(law, box.shape)
    whole = _run(compiled, spec, dtype, Box.whole(box.shape)).reshape(box.shape)
    index = tuple(slice(a, b) for a, b in zip(box.starts, box.stops, strict=True))
    part = _run(compiled, spec, dtype, box)
    _assert_same_bits(part, np.ascontiguousarray(whole[index]).reshape(-1))
    _assert_same_bits(part, _run(reference, spec, dtype, box))


@pytest.mark.parametrize("law", ["uniform", "normal", "truncated"])
def test_long_runs_across_work_items_and_short_runs(law):
    # a run longer than one work item (compiled._CHUNK elements), split at odd places, and
    # one-column boxes (runs of length 1, many per work item)
    spec = _spec(law, (3, 40_003))
    whole = _run(compiled, spec, "float32", Box.whole(spec.shape)).reshape(spec.shape)
    for start, stop in [(0, 40_003), (1, 40_002), (8191, 24_577), (8192, 8193)]:
        box = Box(spec.shape, (0, start), (3, stop))
        _assert_same_bits(_run(compiled, spec, "float32", box),
                          np.ascontiguousarray(whole[:, start:stop]).reshape(-1))
    tall = _spec(law, (20_001, 3))
    column = Box(tall.shape, (0, 1), (20_001, 2))
    _assert_same_bits(_run(compiled, tall, "float64", column),
                      _run(reference, tall, "float64", column))


def test_counter_high_word_in_flat_ranges_of_a_huge_tensor():
    # elements around 2^33 live in blocks around 2^32: the counter's second word is used
    numel = 2**40
    spec = _spec("normal", (numel,))
    for start in (2**33 - 5, 2**33 + 1):
        box = Box.flat(numel, start, start + 9)
        _assert_same_bits(_run(compiled, spec, "float64", box),
                          _run(reference, spec, "float64", box))


def test_thread_count_does_not_change_values():
    numba = pytest.importorskip("numba")
    spec = pi.resolve("truncated_normal", (513, 1025), std=0.02)
    before = numba.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            engines.set_num_threads(threads)
            results.append(_run(compiled, spec, "bfloat16", Box.whole(spec.shape)))
    finally:
        numba.set_num_threads(before)
    _assert_same_bits(*results)


_DIGEST_SCRIPT = textwrap.dedent("""
    import hashlib, sys
    import paraminit.numpy as pn
    from paraminit.core.engines import engine_name, set_num_threads
    set_num_threads(int(sys.argv[1]))
    values = pn.sample("he_normal", (257, 129), seed=9, name="layer.weight", dtype="float32")
    print(engine_name(), hashlib.sha256(values.tobytes()).hexdigest())
""")


@pytest.mark.slow
def test_two_processes_and_thread_counts_agree_with_this_one():
    here = pn.sample("he_normal", (257, 129), seed=9, name="layer.weight", dtype="float32")
    expected = hashlib.sha256(here.tobytes()).hexdigest()
    for threads in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT, threads],
                              capture_output=True, text=True, timeout=120, check=True)
        assert done.stdout.split() == ["compiled", expected]


def test_reference_engine_is_chosen_by_environment():
    script = ("from paraminit.core.engines import engine_name; import paraminit.numpy as pn;"
              "print(engine_name(), pn.sample('normal', (5,), seed=1, dtype='float64')"
              ".tobytes().hex())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True,
                          env={**os.environ, "PARAMINIT_ENGINE": "reference"})
    expected = pn.sample("normal", (5,), seed=1, dtype="float64").tobytes().hex()
    assert done.stdout.split() == ["reference", expected]


def test_bad_engine_name_and_missing_numba(monkeypatch):
    engines._engine.cache_clear()
    try:
        monkeypatch.setenv("PARAMINIT_ENGINE", "fast")
        with pytest.raises(InitError, match=r"PARAMINIT_ENGINE must be one of 'compiled', "
                                            r"'reference'; received 'fast'"):
            engines.engine_name()
        engines._engine.cache_clear()
        monkeypatch.setenv("PARAMINIT_ENGINE", "compiled")
        monkeypatch.setitem(sys.modules, "paraminit.core.engines.compiled", None)
        monkeypatch.delattr(engines, "compiled")  # as if it had never been imported
        with pytest.warns(RuntimeWarning, match="compiled engine could not load .*numba"):
            assert engines.engine_name() == "reference"
    finally:
        engines._engine.cache_clear()
        monkeypatch.undo()
        assert engines.engine_name() == "compiled"


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts(threads):
    with pytest.raises(InitError, match=rf"threads must be a positive int; received "
                                        rf"{threads!r}".replace("(", r"\(")):
        engines.set_num_threads(threads)


# ---------------------------------------------------------------------------------------
# bounds and finiteness in every dtype


@pytest.mark.parametrize("dtype", list(_STORAGE))
@pytest.mark.parametrize(("scheme", "options"), [
    ("uniform", {"low": -0.1, "high": 0.1}),
    ("uniform", {"low": 1.0, "high": 1.0009765625}),  # one float16 ulp wide
    ("uniform", {"low": 0.1, "high": 0.3}),  # bounds no narrow dtype holds exactly
    ("truncated_normal", {"std": 0.02}),
    ("truncated_normal", {"std": 1.0, "truncate": 0.01}),
    ("xavier_uniform", {}),
])
def test_bounded_laws_never_leave_their_bounds(scheme, options, dtype):
    spec = pi.resolve(scheme, (400, 500), **options)
    low, high = spec.bounds
    out = _run(compiled, spec, dtype, Box.whole(spec.shape))
    values = _as_float64(out, dtype)
    assert np.isfinite(values).all()
    assert values.min() >= low and values.max() <= high
    _assert_same_bits(out, _run(reference, spec, dtype, Box.whole(spec.shape)))


@pytest.mark.parametrize("dtype", list(_STORAGE))
def test_normal_laws_are_finite(dtype):
    spec = pi.resolve("normal", (1000, 1000), std=1.0, mean=3.0)
    values = _as_float64(_run(compiled, spec, dtype, Box.whole(spec.shape)), dtype)
    assert np.isfinite(values).all()
    assert np.abs(values - 3.0).max() < 8.6 * (1 + 2.0**-7)


def _as_float64(out: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "float16":
        return out.view(np.float16).astype(np.float64)
    if dtype == "bfloat16":
        return (out.astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float64)
    return out.astype(np.float64)


def test_float16_and_bfloat16_rounding_matches_numpy_and_torch():
    # the compiled engine's own conversions against NumPy's float16 cast and torch's
    # bfloat16 cast, on values around every rounding edge (subnormals and overflow included)
    rng = np.random.default_rng(0)
    bits = np.concatenate([rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32),
                           np.arange(0x33000000, 0x33800000, 997, dtype=np.uint32),
                           np.array([0x477FEFFF, 0x477FF000, 0x477FF001, 0x387FC000,
                                     0x7F7FFFFF, 0x00000001], dtype=np.uint32)])
    singles = bits.view(np.float32)
    singles = singles[np.isfinite(singles)]
    half = np.array([compiled._half_bits(x) for x in singles[:20_000]], dtype=np.uint16)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(half, singles[:20_000].astype(np.float16).view(np.uint16))
    torch = pytest.importorskip("torch")
    brain = np.array([compiled._bfloat16_bits(x) for x in singles[:20_000]], dtype=np.uint16)
    expected = torch.from_numpy(singles[:20_000].copy()).to(torch.bfloat16).view(torch.int16)
    np.testing.assert_array_equal(brain, expected.numpy().view(np.uint16))


@pytest.mark.parametrize("start", [0, 1, 2**33 - 3])
def test_stream_values_by_the_engine_equal_the_reference(start):
    # Stream.uniform gives u itself through the uniform law 0.5 + 0.5 (2u - 1), exactly
    stream = Stream(4, "keys")
    index = np.arange(start, start + 50_001, dtype=np.uint64)
    _assert_same_bits(stream.uniform(start, start + 50_001),
                      reference.uniform_values(stream, index))
    _assert_same_bits(stream.normal(start, start + 50_001),
                      reference.normal_values(stream, index))


def test_truncation_wider_than_the_normal_reach_is_the_normal_law():
    # torch's trunc_normal_(std=0.02) on [-2, 2] truncates at +-100 stds: no Box-Muller value
    # reaches 8.6 stds, so the law is sampled as the normal itself
    from paraminit.core.engines.law import NORMAL, NORMAL_REACH

    assert truncated_law(0.1, 0.02, -100.0, 100.0) == truncated_law(0.1, 0.02, -9.0, 1e300)
    assert truncated_law(0.1, 0.02, -100.0, 100.0).code == NORMAL
    assert truncated_law(0.0, 1.0, -NORMAL_REACH, 8.5).code != NORMAL
    spec = pi.resolve("truncated_normal", (500, 400), std=0.02, truncate=100.0)
    normal = pi.resolve("normal", (500, 400), std=spec.parent_std)
    box = Box.whole(spec.shape)
    _assert_same_bits(_run(compiled, spec, "float32", box), _run(compiled, normal, "float32", box))
    assert np.abs(_run(compiled, spec, "float64", box)).max() < NORMAL_REACH * 0.02
