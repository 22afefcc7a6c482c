"""``init_`` (any registry scheme) and the paraminit additions lecun/variance_scaling/msra."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

import paraminit as pi  # noqa: E402
import paraminit.numpy as pn  # noqa: E402
import paraminit.torch as init  # noqa: E402

Z = 5.0
P_MIN = 1e-4
SHAPES = {"torch": [(48, 40), (16, 8, 3, 3), (12, 6, 5)],
          "jax": [(40, 48), (3, 3, 8, 16), (5, 6, 12)]}
RANKS = {"identity": (2, 2), "sparse": (2, 2), "dirac": (3, 5)}
OPTIONS = {"sparse": {"nonzeros": 5}}
DTYPES = {torch.float32: "float32", torch.float64: "float64"}


def _cases():
    for scheme in pi.schemes():
        low, high = RANKS.get(scheme.name, (2, 8))
        for layout, shapes in SHAPES.items():
            for shape in shapes:
                if low <= len(shape) <= high:
                    yield pytest.param(scheme.name, shape, layout,
                                       id=f"{scheme.name}-{layout}-{'x'.join(map(str, shape))}")


@pytest.mark.parametrize("dtype", list(DTYPES), ids=list(DTYPES.values()))
@pytest.mark.parametrize(("scheme", "shape", "layout"), list(_cases()))
def test_init_equals_numpy_sample_bit_for_bit(scheme, shape, layout, dtype):
    options = OPTIONS.get(scheme, {})
    tensor = torch.empty(shape, dtype=dtype)
    out = init.init_(tensor, scheme, seed=1234, name="layer.weight", layout=layout, **options)
    assert out is tensor
    expected = pn.sample(scheme, shape, seed=1234, name="layer.weight", dtype=DTYPES[dtype],
                         layout=layout, **options)
    assert tensor.numpy().dtype == expected.dtype
    if scheme == "orthogonal":  # torch's LAPACK factorises, NumPy's in the reference
        np.testing.assert_allclose(tensor.numpy(), expected, rtol=0,
                                   atol=1e-6 if dtype == torch.float32 else 1e-12)
    else:
        assert np.array_equal(tensor.numpy(), expected)


@pytest.mark.parametrize(("scheme", "options"), [
    ("he_normal", {"groups": 4, "mode": "fan_out"}),
    ("glorot_uniform", {"fan_convention": "torch", "groups": 4}),
    ("variance_scaling", {"scale": 2.0, "distribution": "uniform", "mode": "fan_geo_avg"}),
    ("truncated_normal", {"std": 0.1, "truncate": 1.5, "mean": 0.3}),
    ("lecun_normal", {"transposed": True, "stride": 2}),
    ("dirac", {"groups": 4}),
])
def test_init_passes_fan_and_scheme_options(scheme, options):
    shape = (32, 8, 3, 3)
    ours = init.init_(torch.empty(shape), scheme, seed=9, name="w", **options)
    expected = pn.sample(scheme, shape, seed=9, name="w", **options)
    assert np.array_equal(ours.numpy(), expected)


def test_init_names_key_independent_streams():
    a = init.init_(torch.empty(64, 32), "normal", seed=0, name="a.weight")
    b = init.init_(torch.empty(64, 32), "normal", seed=0, name="b.weight")
    again = init.init_(torch.empty(64, 32), "normal", seed=0, name="a.weight")
    assert torch.equal(a, again) and not torch.equal(a, b)
    assert abs(float(torch.corrcoef(torch.stack([a.reshape(-1), b.reshape(-1)]))[0, 1])) < (
        Z / math.sqrt(a.numel()))


def test_init_with_generator_reproduces_and_matches_the_drawn_seed():
    torch.manual_seed(4)
    first = init.init_(torch.empty(30, 20), "he_uniform", name="x")
    torch.manual_seed(4)
    seed = int(torch.randint(0, 2**63 - 1, (1,)).item())
    assert torch.equal(first, init.init_(torch.empty(30, 20), "he_uniform", seed=seed, name="x"))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("scheme", ["he_normal", "glorot_uniform", "truncated_normal",
                                    "orthogonal"])
def test_init_low_precision_is_float32_cast_once(scheme, dtype):
    shape = (64, 8, 3, 3)
    ours = init.init_(torch.empty(shape, dtype=dtype), scheme, seed=3)
    float32 = torch.from_numpy(pn.sample(scheme, shape, seed=3, dtype="float32"))
    cast = float32.to(dtype)
    spec = pi.resolve(scheme, shape)
    if spec.bounds is not None:  # clipped to the bounds rounded inward: only the last ulp
        low, high = spec.bounds
        assert low <= float(ours.min()) and float(ours.max()) <= high
        changed = ours != cast
        assert torch.equal(ours[~changed], cast[~changed])
        assert ((ours.double() - cast.double()).abs() <= 0.01 * spec.std).all()
    elif scheme == "orthogonal":  # another LAPACK: at most one rounding step apart
        ulp = torch.finfo(dtype).eps * cast.double().abs().clamp(min=2.0**-14)
        assert ((ours.double() - cast.double()).abs() <= ulp).all()
    else:
        assert torch.equal(ours, cast)


def test_init_on_meta_and_empty_tensors():
    meta = torch.empty(8, 4, device="meta")
    assert init.init_(meta, "he_normal", seed=0) is meta
    with pytest.warns(UserWarning, match="zero-element"):
        init.init_(torch.empty(0, 4), "he_normal", seed=0)


def test_init_accepts_aliases():
    a = init.init_(torch.empty(20, 10), "kaiming_normal", seed=1)
    b = init.init_(torch.empty(20, 10), "he_normal", seed=1)
    assert torch.equal(a, b)


# ---------------------------------------------------------------------------------------
# additions: correct per-group fans in torch's layout


def _check_law(values: torch.Tensor, law) -> None:
    x = values.double().reshape(-1).numpy()
    n = x.size
    assert stats.kstest(x, law.cdf).pvalue > P_MIN
    assert abs(x.std() / law.std() - 1) < Z / math.sqrt(2 * n)
    low, high = law.support()
    assert low <= x.min() and x.max() <= high


@pytest.mark.parametrize(("call", "law"), [
    # Conv2d(64 -> 64, 3x3, groups=4): torch weight (64, 16, 3, 3); fan_in = 16 x 9
    (lambda t, g: init.lecun_normal_(t, g, groups=4), stats.norm(0, 1 / math.sqrt(144))),
    (lambda t, g: init.lecun_uniform_(t, g, groups=4),
     stats.uniform(-math.sqrt(3 / 144), 2 * math.sqrt(3 / 144))),
    # fan_out per group = 64/4 x 9 = 144 (torch would count 576)
    (lambda t, g: init.msra_(t, "fan_out", g, groups=4), stats.norm(0, math.sqrt(2 / 144))),
    (lambda t, g: init.msra_(t, generator=g), stats.norm(0, math.sqrt(2 / 144))),
    # ungrouped: fan_out 576, AVERAGE: 4 / (144 + 576)
    (lambda t, g: init.msra_(t, "average", g), stats.norm(0, math.sqrt(4 / 720))),
    (lambda t, g: init.variance_scaling_(t, 2.0, "fan_in", "normal", g),
     stats.norm(0, math.sqrt(2 / 144))),
    (lambda t, g: init.variance_scaling_(t, 3.0, "fan_avg", "uniform", g),
     stats.uniform(-3 / math.sqrt(360), 6 / math.sqrt(360))),
    # Keras semantics: result std sqrt(scale/fan), cut at +-2 parent stds
    (lambda t, g: init.variance_scaling_(t, generator=g),
     stats.truncnorm(-2, 2, scale=1 / math.sqrt(144) / 0.87962566103423978)),
])
def test_additions_laws(call, law):
    tensor = torch.empty(64, 16, 3, 3)
    call(tensor, torch.Generator().manual_seed(0))
    _check_law(tensor, law)


def test_lecun_transposed_reads_the_forward_fan():
    # ConvTranspose2d(64 -> 32, k=4): torch weight (64, 32, 4, 4); each output sums
    # 64 x 16 = 1024 inputs (REFERENCE: Flax lecun std 0.03125)
    tensor = init.lecun_normal_(torch.empty(64, 32, 4, 4), torch.Generator().manual_seed(1),
                                transposed=True)
    _check_law(tensor, stats.norm(0, 0.03125))


@pytest.mark.parametrize(("call", "scheme", "options"), [
    (lambda t, g: init.lecun_normal_(t, g, groups=2), "lecun_normal", {"groups": 2}),
    (lambda t, g: init.lecun_uniform_(t, g), "lecun_uniform", {}),
    (lambda t, g: init.variance_scaling_(t, 0.5, "fan_out", "uniform", g), "variance_scaling",
     {"scale": 0.5, "mode": "fan_out", "distribution": "uniform"}),
    (lambda t, g: init.msra_(t, "fan_out", g, groups=2), "msra",
     {"variance_norm": "fan_out", "groups": 2}),
])
def test_additions_are_their_registry_scheme(call, scheme, options):
    ours = call(torch.empty(16, 4, 3), torch.Generator().manual_seed(8))
    seed = int(torch.randint(0, 2**63 - 1, (1,), generator=torch.Generator().manual_seed(8)))
    assert torch.equal(ours, init.init_(torch.empty(16, 4, 3), scheme, seed=seed, **options))


def test_tensor_level_fans_infer_no_groups_and_take_them_when_given():
    """docs/torch.md: a depthwise weight has torch's fan_out 288 unless groups= is passed."""
    weight = torch.empty(32, 1, 3, 3)
    assert pi.resolve("he_normal", (32, 1, 3, 3), mode="fan_out").std == pytest.approx(
        math.sqrt(2 / 288))
    assert pi.resolve("he_normal", (32, 1, 3, 3), mode="fan_out", groups=32).std == \
        pytest.approx(math.sqrt(2 / 9))
    init.init_(weight, "he_normal", mode="fan_out", groups=32, seed=0)
    assert float(weight.std()) == pytest.approx(math.sqrt(2 / 9), rel=5 * math.sqrt(1 / 576))
    init.msra_(weight, "fan_out", groups=32)
    assert float(weight.std()) == pytest.approx(math.sqrt(2 / 9), rel=5 * math.sqrt(1 / 576))
    conv = torch.nn.Conv2d(32, 32, 3, groups=32)
    assert init.init(conv, seed=0)["weight"].fan_out == 9
