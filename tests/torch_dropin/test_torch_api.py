"""The public surface: names, signatures against torch.nn.init, deprecations, lazy probe."""

from __future__ import annotations

import inspect
import warnings

import pytest

torch = pytest.importorskip("torch")

import torch.nn.init as tinit  # noqa: E402

import paraminit  # noqa: E402
import paraminit.torch as init  # noqa: E402

PRIVATE = [
    "_calculate_fan_in_and_fan_out", "_calculate_correct_fan", "_no_grad_uniform_",
    "_no_grad_normal_", "_no_grad_trunc_normal_", "_no_grad_fill_", "_no_grad_zero_",
]
DEPRECATED = ["uniform", "normal", "constant", "eye", "dirac", "xavier_uniform",
              "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"]
ADDITIONS = ["init_", "lecun_normal_", "lecun_uniform_", "msra_", "variance_scaling_"]


def _params(fn) -> list[tuple]:
    return [(p.name, p.kind, p.default, type(p.default))
            for p in inspect.signature(fn).parameters.values()]


def test_all_is_sorted_and_complete():
    assert init.__all__ == sorted(init.__all__)
    assert set(tinit.__all__) <= set(init.__all__)
    assert {*ADDITIONS, "probe"} <= set(init.__all__)
    for name in init.__all__:
        if name != "probe":
            assert callable(getattr(init, name)), name


def test_torch_all_is_what_we_checked():
    # If torch grows a public initializer, this test names it.
    assert set(tinit.__all__) == {
        "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_",
        "zeros_", "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
        "kaiming_normal_", "orthogonal_", "sparse_", *DEPRECATED,
    }


@pytest.mark.parametrize("name", [*tinit.__all__, *PRIVATE])
def test_signature_matches_torch(name):
    # Names, kinds, defaults and the defaults' types (0 vs 0.0 as torch has them).
    assert _params(getattr(init, name)) == _params(getattr(tinit, name))


def test_additions_signatures():
    kw, pos = inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    sig = inspect.signature(init.init_)
    assert [(p.name, p.kind, p.default) for p in sig.parameters.values()] == [
        ("tensor", pos, inspect.Parameter.empty), ("scheme", pos, inspect.Parameter.empty),
        ("seed", kw, None), ("name", kw, ""), ("layout", kw, "torch"), ("generator", kw, None),
        ("options", inspect.Parameter.VAR_KEYWORD, inspect.Parameter.empty),
    ]
    assert list(inspect.signature(init.variance_scaling_).parameters) == [
        "tensor", "scale", "mode", "distribution", "generator", "groups", "transposed"]
    assert inspect.signature(init.variance_scaling_).parameters["distribution"].default == (
        "truncated_normal")
    assert list(inspect.signature(init.msra_).parameters) == [
        "tensor", "variance_norm", "generator", "groups", "transposed"]
    for fn in (init.lecun_normal_, init.lecun_uniform_):
        assert list(inspect.signature(fn).parameters) == [
            "tensor", "generator", "groups", "transposed"]


def test_functions_are_annotated_and_documented():
    for name in [*init.__all__, *PRIVATE]:
        if name in DEPRECATED or name == "probe":
            continue
        fn = getattr(init, name)
        assert fn.__doc__, name
        sig = inspect.signature(fn)
        assert sig.return_annotation is not inspect.Signature.empty, name
        assert all(p.annotation is not inspect.Parameter.empty
                   for p in sig.parameters.values()), name


@pytest.mark.parametrize("old", DEPRECATED)
def test_deprecated_names_warn_like_torch(old):
    args = {"sparse": (0.1,), "constant": (0.5,)}.get(old, ())
    shape = (6, 4, 3) if old == "dirac" else (6, 4)
    with pytest.warns(FutureWarning) as ours:
        torch.manual_seed(3)
        new = getattr(init, old)(torch.empty(shape), *args)
    with pytest.warns(FutureWarning) as theirs:
        getattr(tinit, old)(torch.empty(shape), *args)
    assert str(ours[0].message) == str(theirs[0].message) == (
        f"`nn.init.{old}` is now deprecated in favor of `nn.init.{old}_`."
    )
    assert ours[0].filename == __file__  # stacklevel points at the caller
    torch.manual_seed(3)
    assert torch.equal(new, getattr(init, old + "_")(torch.empty(shape), *args))


def test_underscore_names_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        init.normal_(torch.empty(3, 3))
        init.kaiming_uniform_(torch.empty(3, 3))


def test_reachable_from_the_top_level():
    assert paraminit.torch is init
    assert "torch" in dir(paraminit)


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nonexistent_'"):
        init.nonexistent_  # noqa: B018


def test_probe_is_lazy_attribute():
    from paraminit.torch._probe import probe

    assert init.probe is probe
    assert "probe" in dir(init)
