"""paraminit.flax.init on NNX modules: rules, presets, recipes, coverage, dry runs, errors
(which leave the model unchanged), reproducibility and low-precision parameters."""

from __future__ import annotations

import math
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from flax_helpers import CNN, assert_std, mlp, values

import paraminit.flax as pif
from paraminit import InitError
from paraminit.plan import InitWarning, Rule


class Custom(nnx.Module):
    """A layer no describer knows: a raw nnx.Param."""

    def __init__(self, rngs: nnx.Rngs) -> None:
        self.fc = nnx.Linear(8, 8, rngs=rngs)
        self.gain = nnx.Param(jnp.full((8,), 3.0))


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_rules_by_glob_and_by_type():
    model = CNN(nnx.Rngs(0))
    plan = pif.init(model, [Rule("up.k*", "xavier_normal"), Rule(nnx.Conv, "lecun_normal")],
                    seed=0)
    assert plan["up.kernel"].scheme == "xavier_normal"
    assert plan["up.kernel"].std == pytest.approx(math.sqrt(2 / (1024 + 512)))
    assert plan["up.bias"].rule == "preset 'he'"
    assert plan["grouped.kernel"].scheme == "lecun_normal"
    assert plan["grouped.kernel"].std == pytest.approx(math.sqrt(1 / 18))
    assert plan["grouped.bias"].scheme == "zeros"  # a type rule leaves biases to the preset


def test_rules_by_dotted_type_name_and_kind():
    model = mlp()
    plan = pif.init(model, [Rule("type:flax.nnx.Linear", "xavier_uniform"),
                            Rule("role:bias", "constant", value=0.1)], seed=0)
    assert plan["layers.2.kernel"].scheme == "xavier_uniform"
    assert np.allclose(values(model)["layers.0.bias"], 0.1)


@pytest.mark.parametrize(("preset", "scheme", "std"), [
    ("he", "he_normal", math.sqrt(2 / 64)), ("lecun", "lecun_normal", math.sqrt(1 / 64)),
    ("xavier", "xavier_uniform", math.sqrt(2 / (64 + 32))),
])
def test_presets(preset, scheme, std):
    model = mlp()
    plan = pif.init(model, preset=preset, seed=0)
    assert plan["layers.0.kernel"].scheme == scheme
    assert plan["layers.0.kernel"].std == pytest.approx(std)
    assert_std(values(model)["layers.0.kernel"], std, preset)


def test_recipe_callable():
    seen = []

    def recipe(params):
        seen.extend(info.name for info in params)
        return [Rule("role:weight", "normal", std=0.02), Rule("role:bias", "zeros")]

    model = mlp()
    plan = pif.init(model, recipe, seed=0)
    assert "layers.0.kernel" in seen and plan.preset == "recipe"
    assert plan["layers.2.kernel"].std == pytest.approx(0.02)
    assert_std(values(model)["layers.0.kernel"], 0.02)


def test_uncovered_warns_and_keeps_strict_raises():
    model = Custom(nnx.Rngs(0))
    with pytest.warns(InitWarning, match="'gain'"):
        plan = pif.init(model, seed=0)
    assert plan["gain"].status == "uncovered"
    assert (values(model)["gain"] == 3.0).all()
    fresh = Custom(nnx.Rngs(0))
    before = values(fresh)
    with pytest.raises(InitError, match=r"strict=True.*'gain'.*Nothing was written"):
        pif.init(fresh, seed=0, strict=True)
    assert _same(values(fresh), before)
    covered = pif.init(Custom(nnx.Rngs(0)), [Rule("gain", "ones")], strict=True)
    assert covered["gain"].status == "init"


def test_dry_run_changes_nothing_and_protect_keeps():
    model = mlp()
    before = values(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = pif.init(model, seed=0, dry_run=True)
    assert not plan.applied and _same(values(model), before)
    plan = pif.init(model, seed=0, protect="layers.0.*")
    after = values(model)
    assert plan["layers.0.kernel"].status == "protected"
    assert np.array_equal(after["layers.0.kernel"], before["layers.0.kernel"])
    assert not np.array_equal(after["layers.2.kernel"], before["layers.2.kernel"])


def test_bad_rules_and_unfitting_schemes_leave_the_model_unchanged():
    model = mlp()
    before = values(model)
    with pytest.raises(InitError, match="mode must be one of"):
        pif.init(model, [Rule("layers.0.kernel", "he_normal", mode="fan_inn")])
    with pytest.raises(InitError, match="rules must be None"):
        pif.init(model, 3)
    with pytest.raises(InitError, match=r"cannot initialise 'layers.2.kernel'.*dirac"):
        pif.init(model, [Rule("layers.2.kernel", "dirac")])
    with pytest.raises(InitError, match=r"target must be a flax\.nnx\.Module"):
        pif.init([1, 2])
    with pytest.raises(InitError, match="protect must be"):
        pif.init(model, protect=[3])
    with pytest.raises(InitError, match=r"protect must be .*received 3"):
        pif.init(model, protect=3)
    assert _same(values(model), before)


def test_a_failure_while_sampling_writes_nothing():
    class Mixed(nnx.Module):
        def __init__(self, rngs: nnx.Rngs) -> None:
            self.fc = nnx.Linear(8, 8, rngs=rngs)
            self.steps = nnx.Param(jnp.zeros((4,), jnp.int32))

    model = Mixed(nnx.Rngs(0))
    before = values(model)
    with pytest.raises(InitError, match=r"'steps'.*dtype int32.*Nothing was written"):
        pif.init(model, [Rule("steps", "normal", std=1.0)], seed=0)
    assert _same(values(model), before)


def test_same_seed_same_values_other_seed_differs():
    a, b, c = mlp(0), mlp(1), mlp(2)
    pif.init(a, seed=5)
    pif.init(b, seed=5)
    pif.init(c, seed=6)
    assert _same(values(a), values(b))
    assert not np.array_equal(values(a)["layers.0.kernel"], values(c)["layers.0.kernel"])


def test_prefix_gives_the_values_of_the_whole_model():
    whole, part = mlp(), mlp()
    pif.init(whole, seed=0)
    pif.init(part.layers[2], seed=0, prefix="layers.2.")
    assert np.array_equal(values(whole)["layers.2.kernel"], values(part.layers[2])["kernel"])


def test_bfloat16_sampled_in_float32_and_cast_once():
    low, full = mlp(dtype=jnp.bfloat16), mlp()
    pif.init(low, seed=0)
    pif.init(full, seed=0)
    kernel = low.layers[0].kernel.get_value()
    assert kernel.dtype == jnp.bfloat16
    expected = jnp.asarray(full.layers[0].kernel.get_value()).astype(jnp.bfloat16)
    assert np.array_equal(np.asarray(kernel, np.float32), np.asarray(expected, np.float32))
    assert_std(np.asarray(kernel, np.float32), math.sqrt(2 / 64), "bf16")
    half = mlp(dtype=jnp.float16)
    pif.init(half, seed=0)
    assert half.layers[0].kernel.get_value().dtype == jnp.float16


def test_model_still_runs_and_stream_names_are_torch_style():
    model = mlp()
    plan = pif.init(model, seed=0)
    assert model(jnp.ones((3, 64))).shape == (3, 10)
    assert plan["layers.0.kernel"].stream == "layers.0.weight"
    assert plan["layers.0.bias"].stream == "layers.0.bias"
    assert pif.stream_name("embed.embedding") == "embed.weight"
    assert pif.stream_name("ln.scale") == "ln.weight"


def test_audit_finds_nothing_after_init_and_a_mismatch_after_tampering():
    model = mlp()
    plan = pif.init(model, seed=0)
    assert list(pif.audit(model, plan)) == []
    model.layers[0].kernel.set_value(model.layers[0].kernel.get_value() * 3)
    found = pif.audit(model, plan)
    assert [r.kind for r in found] == ["std_mismatch"] and found[0].name == "layers.0.kernel"
    assert "measured" in str(found)
    uncovered = pif.audit(Custom(nnx.Rngs(0)))
    assert [r.kind for r in uncovered] == ["uncovered"]
