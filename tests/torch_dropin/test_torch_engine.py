"""The torch-native engine: the same bits as the NumPy reference, on the tensor's device."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

import paraminit as pi  # noqa: E402
import paraminit.torch as init  # noqa: E402
from paraminit import InitError  # noqa: E402
from paraminit.core.engines import Box, Prepared, prepare, reference  # noqa: E402
from paraminit.core.engines import torch_engine as te  # noqa: E402
from paraminit.core.engines.cast import bfloat16_bits  # noqa: E402
from paraminit.core.engines.law import (  # noqa: E402
    CONSTANT,
    NORMAL,
    TRUNCATED,
    TRUNCATED_FAR,
    UNIFORM,
    element_law,
)
from paraminit.core.stream import Stream, philox4x32_10  # noqa: E402
from paraminit.torch import _write  # noqa: E402

DTYPES = ("float64", "float32", "float16", "bfloat16")
TORCH = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
         "bfloat16": torch.bfloat16}
SHAPE = (37, 29)
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _truncated(low: float, high: float, shape=SHAPE, std: float = 0.5,
               centred: bool = False) -> pi.InitSpec:
    """N(mean, parent²) cut to [low, high] parent stds; std is the result's. ``centred``
    moves the mean so that the values straddle 0: an interval 1/1000 of its distance from
    the mean wide holds no bfloat16 value otherwise."""
    spec = dataclasses.replace(pi.resolve("truncated_normal", shape, std=std),
                               truncation=(low, high))
    if centred:
        spec = dataclasses.replace(spec, mean=-0.5 * (low + high) * spec.parent_std)
    return spec


def _specs(shape=SHAPE) -> dict[str, pi.InitSpec]:
    return {
        "constant": pi.resolve("constant", shape, value=0.3),
        "uniform": pi.resolve("uniform", shape),
        "uniform-asym": pi.resolve("uniform", shape, low=0.1, high=0.3),
        "normal": pi.resolve("normal", shape, mean=0.5, std=2.0),
        "he_normal": pi.resolve("he_normal", shape),
        "truncated": pi.resolve("truncated_normal", shape),
        "truncated-narrow": pi.resolve("truncated_normal", shape, mean=1.0, std=0.5,
                                       truncate=0.5),
        "truncated-asym": _truncated(-3.0, 10.0, shape),
        "tail-38.5-39": _truncated(38.5, 39.0, shape),
        "tail-minus-39": _truncated(-39.0, -38.5, shape),
        "tail-35-36": _truncated(35.0, 36.0, shape),
        "tail-1000": _truncated(-1000.0, -999.0, shape, std=0.001, centred=True),
        "tail-8-inf": _truncated(8.0, math.inf, shape),
    }


SPECS = _specs()


def _prepare(spec: pi.InitSpec, dtype: str) -> Prepared:
    # A one-sided interval has no upper bound to clip to (the drop-ins refuse infinite
    # bounds); clip it to a finite number every dtype holds.
    bounds = spec.bounds
    if bounds is not None and not math.isfinite(bounds[1]):
        bounds = (bounds[0], 1e4)
    return prepare(spec, dtype, bounds)


def _bits(tensor: torch.Tensor) -> torch.Tensor:
    """Bit patterns, so that equal means bit-identical (signed zeros included)."""
    tensor = tensor.detach().cpu().contiguous()
    return tensor.view({8: torch.int64, 4: torch.int32, 2: torch.int16}[tensor.element_size()])


def _reference(prepared: Prepared, stream: Stream, box: Box) -> torch.Tensor:
    """The oracle: :func:`reference.fill` into a host tensor of the box's shape."""
    law, name, clip = prepared
    out = torch.empty(box.box_shape, dtype=TORCH[name])
    flat = out.view(-1)
    if name in ("float16", "bfloat16"):
        view = flat.view(torch.int16).numpy().view(np.uint16)
    else:
        view = flat.numpy()
    if flat.numel():
        run_starts, run_length = box.runs()
        reference.fill(view, name, law, stream, run_starts, run_length, clip)
    return out


def _engine(prepared: Prepared, stream: Stream, box: Box, device="cpu") -> torch.Tensor:
    out = torch.empty(box.box_shape, dtype=TORCH[prepared.dtype], device=device)
    te.fill_tensor(out, prepared, stream, box)
    return out


def _assert_same(got: torch.Tensor, expected: torch.Tensor) -> None:
    assert got.dtype == expected.dtype and got.shape == expected.shape
    got_bits, expected_bits = _bits(got), _bits(expected)
    if not torch.equal(got_bits, expected_bits):
        wrong = int((got_bits != expected_bits).sum())
        ulps = int((got_bits.long() - expected_bits.long()).abs().max())
        raise AssertionError(f"{wrong} of {got.numel()} values differ, by up to {ulps} ulp")


# ---------------------------------------------------------------------------------------
# Philox4x32-10 in int64 tensors

KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_philox_known_answers(counter, key, expected):
    words = te.philox4x32_10(tuple(torch.tensor([c]) for c in counter), key)
    assert tuple(int(w[0]) for w in words) == expected
    # Python-int counter words (the stream's constant tag) take the same path.
    words = te.philox4x32_10((torch.tensor([counter[0]]), counter[1], counter[2],
                              counter[3]), key)
    assert tuple(int(w[0]) for w in words) == expected


def test_philox_equals_the_numpy_reference():
    rng = np.random.default_rng(5)
    counter = tuple(rng.integers(0, 2**32, 5000, dtype=np.uint64) for _ in range(4))
    key = (0xFFFFFFFF, 0x12345678)
    expected = philox4x32_10(counter, key)
    got = te.philox4x32_10(tuple(torch.from_numpy(c.astype(np.int64)) for c in counter), key)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == torch.int64 and int(g.min()) >= 0
        np.testing.assert_array_equal(g.numpy().astype(np.uint64), e)


# ---------------------------------------------------------------------------------------
# the device operations that are not + - * /


def test_sqrt_is_correctly_rounded():
    rng = np.random.default_rng(0)
    x = np.concatenate([
        np.exp2(rng.uniform(-60.0, 12.0, 300_000)),
        np.ldexp(1.0, np.arange(-200, 200)).astype(np.float64),
        (rng.integers(2**26, 2**27, 20_000).astype(np.float64)) ** 2,
    ])
    x = np.concatenate([x, np.nextafter(x, 0.0), np.nextafter(x, np.inf)])
    expected = np.sqrt(x)
    np.testing.assert_array_equal(te._sqrt(torch.from_numpy(x)).numpy(), expected)
    # the correction takes any start within one ulp to the correctly rounded root
    for start in (np.nextafter(expected, 0.0), np.nextafter(expected, np.inf)):
        got = te._round_sqrt(torch.from_numpy(x), torch.from_numpy(start))
        np.testing.assert_array_equal(got.numpy(), expected)


def test_frexp_and_log_equal_the_reference():
    rng = np.random.default_rng(1)
    x = np.concatenate([np.exp2(rng.uniform(-1000.0, 1000.0, 100_000)),
                        rng.uniform(0.0, 1.0, 100_000) + 2.0**-53,
                        np.exp2(rng.uniform(-1074.0, -1022.0, 1000)),  # subnormal
                        [0.5, 1.0, 2.0**-53, 5e-324, 2.0**-1022, np.finfo(np.float64).max]])
    mantissa, exponent = te._frexp(torch.from_numpy(x))
    expected_mantissa, expected_exponent = np.frexp(x)
    np.testing.assert_array_equal(mantissa.numpy(), expected_mantissa)
    np.testing.assert_array_equal(exponent.numpy(), expected_exponent)
    np.testing.assert_array_equal(te._log(torch.from_numpy(x)).numpy(), reference._log(x))


def _float32_samples() -> np.ndarray:
    """float32 values over the whole finite range, with every half and bfloat16 edge."""
    rng = np.random.default_rng(2)
    bits = rng.integers(0, 2**32, 400_000, dtype=np.uint64).astype(np.uint32)
    edges = [65504.0, 65519.0, 65519.996, 65520.0, 65536.0, 2.0**-24, 2.0**-25,
             1.5 * 2.0**-25, 2.0**-14, 2.0**-14 - 2.0**-25, 6.0e-8, 3.4e38, 1.0]
    values = np.concatenate([bits.view(np.float32), np.array(edges, np.float32)])
    # ties: float32s halfway between two float16s, subnormal and normal
    half = rng.integers(0, 0x7BFF, 50_000).astype(np.uint16).view(np.float16)
    upper = np.nextafter(half, np.float16(np.inf))
    ties = (half.astype(np.float32) + upper.astype(np.float32)) / np.float32(2)
    # ties of bfloat16: the low 16 bits exactly 0x8000
    bf = (rng.integers(0, 0x7F7F, 50_000, dtype=np.uint32) << 16) | np.uint32(0x8000)
    values = np.concatenate([values, ties, bf.view(np.float32)])
    values = np.concatenate([values, -values])
    return values[np.isfinite(values)]


def test_half_conversions_round_to_nearest_even_as_the_policy():
    values = _float32_samples()
    single = torch.from_numpy(values)
    with np.errstate(over="ignore"):
        half = values.astype(np.float16)
    assert torch.equal(single.to(torch.float16).view(torch.int16),
                       torch.from_numpy(half.view(np.int16)))
    assert torch.equal(single.to(torch.bfloat16).view(torch.int16),
                       torch.from_numpy(bfloat16_bits(values).view(np.int16)))


# ---------------------------------------------------------------------------------------
# the same bits as the reference: every law, every dtype


def test_the_specs_cover_every_law_code():
    codes = {element_law(spec).code for spec in SPECS.values()}
    assert codes == {CONSTANT, UNIFORM, NORMAL, TRUNCATED, TRUNCATED_FAR}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spec_name", list(SPECS))
def test_whole_tensor_equals_the_reference(spec_name, dtype):
    prepared = _prepare(SPECS[spec_name], dtype)
    stream = Stream(11, "layer.weight")
    box = Box.whole(SHAPE)
    _assert_same(_engine(prepared, stream, box), _reference(prepared, stream, box))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spec_name", ["uniform", "normal", "truncated", "tail-38.5-39"])
def test_a_box_with_odd_starts_equals_the_reference(spec_name, dtype):
    prepared = _prepare(SPECS[spec_name], dtype)
    stream = Stream(3, "w")
    for box in (Box(SHAPE, (5, 1), (36, 28)), Box(SHAPE, (3, 0), (4, 29)),
                Box(SHAPE, (0, 7), (37, 8)), Box.flat(math.prod(SHAPE), 101, 998)):
        _assert_same(_engine(prepared, stream, box), _reference(prepared, stream, box))


_SHAPES = st.lists(st.integers(1, 9), min_size=2, max_size=3).map(tuple)


@st.composite
def _boxes(draw):
    shape = draw(_SHAPES)
    starts, stops = [], []
    for size in shape:
        start = draw(st.integers(0, size))
        starts.append(start)
        stops.append(draw(st.integers(start, size)))
    return Box(shape, tuple(starts), tuple(stops))


@given(box=_boxes(), spec_name=st.sampled_from(sorted(SPECS)), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**64 - 1), per_pass=st.sampled_from([1, 2, 3, 8, 1 << 20]))
def test_any_box_equals_the_reference(box, spec_name, dtype, seed, per_pass):
    spec = dataclasses.replace(SPECS[spec_name], shape=box.shape)
    prepared = _prepare(spec, dtype)
    stream = Stream(seed, "block.3.attn")
    saved = te._PASS_ELEMENTS
    te._PASS_ELEMENTS = per_pass
    try:
        _assert_same(_engine(prepared, stream, box), _reference(prepared, stream, box))
    finally:
        te._PASS_ELEMENTS = saved


@pytest.mark.slow
@pytest.mark.parametrize("per_pass", [1, 2, 3, 8, 64, 1000])
@pytest.mark.parametrize("spec_name", ["normal", "uniform", "truncated", "tail-1000"])
def test_pass_boundaries_change_nothing(monkeypatch, spec_name, per_pass):
    monkeypatch.setattr(te, "_PASS_ELEMENTS", per_pass)
    shape = (9, 7) if per_pass < 8 else SHAPE  # a pass of one element is slow
    spec = dataclasses.replace(SPECS[spec_name], shape=shape)
    prepared = _prepare(spec, "float32")
    stream = Stream(8, "w")
    rows, columns = shape
    for box in (Box.whole(shape), Box(shape, (1, 3), (rows - 1, columns - 2)),
                Box(shape, (2, 0), (rows - 2, columns)), Box.flat(rows * columns, 7, 50)):
        _assert_same(_engine(prepared, stream, box), _reference(prepared, stream, box))


def test_a_large_tensor_in_several_passes(monkeypatch):
    monkeypatch.setattr(te, "_PASS_ELEMENTS", 1 << 14)
    shape = (301, 257)
    stream = Stream(2, "big")
    for spec in (pi.resolve("he_normal", shape), pi.resolve("truncated_normal", shape)):
        prepared = _prepare(spec, "bfloat16")
        for box in (Box.whole(shape), Box(shape, (3, 5), (300, 256))):
            _assert_same(_engine(prepared, stream, box), _reference(prepared, stream, box))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bounds_are_never_exceeded(dtype):
    shape = (128, 96)
    stream = Stream(4, "bounded")
    for spec in (pi.resolve("uniform", shape, low=0.1, high=0.3),
                 pi.resolve("he_uniform", shape), pi.resolve("truncated_normal", shape),
                 pi.resolve("truncated_normal", shape, mean=1.0, std=0.5, truncate=0.5),
                 _truncated(38.5, 39.0, shape),
                 _truncated(-1000.0, -999.0, shape, std=0.001, centred=True)):
        prepared = _prepare(spec, dtype)
        values = _engine(prepared, stream, Box.whole(shape)).double()
        assert bool(torch.isfinite(values).all())
        low, high = spec.bounds
        assert float(values.min()) >= low and float(values.max()) <= high
        assert prepared.clip[0] <= float(values.min()) <= float(values.max()) <= prepared.clip[1]


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_nan_or_inf(dtype):
    shape = (64, 64)
    stream = Stream(6, "finite")
    for spec in _specs(shape).values():
        values = _engine(_prepare(spec, dtype), stream, Box.whole(shape))
        assert bool(torch.isfinite(values).all())


# ---------------------------------------------------------------------------------------
# destinations: non-contiguous views, checks before writing


def test_fill_tensor_writes_a_non_contiguous_view():
    prepared = _prepare(SPECS["normal"], "float32")
    stream = Stream(9, "w")
    box = Box.whole(SHAPE)
    storage = torch.full((SHAPE[1], SHAPE[0]), 7.0)
    view = storage.T
    assert not view.is_contiguous()
    te.fill_tensor(view, prepared, stream, box)
    _assert_same(view.contiguous(), _reference(prepared, stream, box))
    strided = torch.full((SHAPE[0], 2 * SHAPE[1]), 7.0)
    te.fill_tensor(strided[:, ::2], prepared, stream, box)
    _assert_same(strided[:, ::2].contiguous(), _reference(prepared, stream, box))
    assert bool((strided[:, 1::2] == 7.0).all())


def test_fill_tensor_checks_before_writing():
    prepared = _prepare(SPECS["uniform"], "float32")
    stream = Stream(0, "w")
    wrong_dtype = torch.zeros(SHAPE, dtype=torch.float64)
    with pytest.raises(InitError, match="dtype"):
        te.fill_tensor(wrong_dtype, prepared, stream, Box.whole(SHAPE))
    wrong_size = torch.zeros(3, 4)
    with pytest.raises(InitError, match="elements"):
        te.fill_tensor(wrong_size, prepared, stream, Box.whole(SHAPE))
    assert not wrong_dtype.any() and not wrong_size.any()


def test_mps_is_refused_with_the_fix():
    with pytest.raises(InitError, match=r"(?i)float64, which the mps device.*on the cpu"):
        te.check_device(torch.device("mps"))


def test_mps_tensor_is_refused_before_any_write(monkeypatch):
    tensor = torch.zeros(SHAPE)
    monkeypatch.setattr(torch.Tensor, "device", property(lambda self: torch.device("mps")))
    with pytest.raises(InitError, match="mps"):
        te.fill_tensor(tensor, _prepare(SPECS["normal"], "float32"), Stream(0), Box.whole(SHAPE))
    with pytest.raises(InitError, match="mps"):
        init.normal_(tensor)
    assert not tensor.any()


def test_write_spec_keeps_cpu_tensors_on_the_compiled_engine(monkeypatch):
    # any CPU tensor, contiguous or not (through a contiguous CPU temporary), is written by
    # the compiled engine: 40x faster there than the torch-native engine
    calls = []
    real = te.fill_tensor
    monkeypatch.setattr(te, "fill_tensor", lambda *a: calls.append(a) or real(*a))
    init.init_(torch.empty(8, 6).T, "he_normal", seed=1, name="w")
    init.init_(torch.empty(6, 8), "he_normal", seed=1, name="w")
    assert calls == []


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_dropins_give_the_same_values_on_a_non_contiguous_tensor(dtype):
    for function, kwargs in ((init.normal_, {"std": 0.3}), (init.uniform_, {"a": -2.0}),
                             (init.trunc_normal_, {"std": 0.5, "a": -0.4, "b": 0.9}),
                             (init.kaiming_normal_, {}), (init.xavier_uniform_, {})):
        torch.manual_seed(3)
        expected = function(torch.empty(12, 20, dtype=dtype), **kwargs)
        storage = torch.zeros(20, 12, dtype=dtype)
        torch.manual_seed(3)
        function(storage.T, **kwargs)
        _assert_same(storage.T.contiguous(), expected)


def test_init_on_a_non_contiguous_tensor_equals_numpy_sample():
    import paraminit.numpy as pn

    weight = torch.zeros(64, 48, 3).permute(1, 0, 2)
    init.init_(weight, "truncated_normal", seed=5, name="enc.w", layout="jax")
    expected = pn.sample("truncated_normal", (48, 64, 3), seed=5, name="enc.w", layout="jax",
                         dtype="float32")
    np.testing.assert_array_equal(weight.contiguous().numpy(), expected)


def test_the_core_does_not_import_torch():
    code = ("import sys, paraminit.numpy, paraminit.core.engines; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------
# CUDA: the same bits on the GPU


@CUDA
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spec_name", list(SPECS))
def test_cuda_equals_the_reference(spec_name, dtype):  # pragma: no cover - needs a GPU
    prepared = _prepare(SPECS[spec_name], dtype)
    stream = Stream(11, "layer.weight")
    for box in (Box.whole(SHAPE), Box(SHAPE, (5, 1), (36, 28))):
        got = _engine(prepared, stream, box, device="cuda")
        assert got.device.type == "cuda"
        _assert_same(got, _reference(prepared, stream, box))


@CUDA
def test_cuda_dropins_write_on_the_device(monkeypatch):  # pragma: no cover - needs a GPU
    monkeypatch.setattr(_write, "_fill_cpu", None)  # no host staging
    torch.manual_seed(0)
    expected = init.kaiming_normal_(torch.empty(64, 32))
    torch.manual_seed(0)
    got = init.kaiming_normal_(torch.empty(32, 64, device="cuda").T)
    _assert_same(got, expected)


@CUDA
def test_cuda_large_tensor_in_several_passes(monkeypatch):  # pragma: no cover - needs a GPU
    monkeypatch.setattr(te, "_DEVICE_PASS_ELEMENTS", 1 << 12)
    shape = (301, 257)
    prepared = _prepare(pi.resolve("he_normal", shape), "float16")
    box = Box(shape, (1, 3), (300, 250))
    _assert_same(_engine(prepared, Stream(1, "w"), box, device="cuda"),
                 _reference(prepared, Stream(1, "w"), box))
