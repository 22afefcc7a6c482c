"""paraminit.flax.init on Linen params trees: typed by tracing the module, or by Flax's
default names; a new tree is returned and the given one is left as it was."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx, traverse_util
from flax.core import FrozenDict
from flax_helpers import LinenBlock, LinenCNN, LinenMLP, assert_std

import paraminit.flax as pif
from paraminit import InitError
from paraminit.plan import InitWarning, Rule


def _flat(tree):
    return {".".join(k): np.asarray(v, np.float32)
            for k, v in traverse_util.flatten_dict(dict(tree)).items()}


def test_mlp_with_module_and_without():
    x = jnp.ones((2, 64))
    variables = LinenMLP().init(jax.random.key(0), x)
    before = _flat(variables["params"])
    params, plan = pif.init(variables["params"], module=LinenMLP(), inputs=x, seed=0)
    assert _flat(variables["params"]).keys() == before.keys()
    assert all(np.array_equal(_flat(variables["params"])[k], before[k]) for k in before)
    assert plan["Dense_0.kernel"].std == pytest.approx(math.sqrt(2 / 64))
    assert plan["Dense_0.kernel"].stream == "Dense_0.weight"
    assert_std(params["Dense_0"]["kernel"], math.sqrt(2 / 64))
    by_names, plan2 = pif.init(variables["params"], seed=0)  # Dense_0 is a Dense by its name
    assert [r.scheme for r in plan2] == [r.scheme for r in plan]
    assert all(np.array_equal(_flat(by_names)[k], _flat(params)[k]) for k in before)
    assert LinenMLP().apply({"params": params}, x).shape == (2, 10)


def test_linen_and_nnx_models_with_one_naming_hold_the_same_values():
    class Twin(nnx.Module):
        def __init__(self, rngs):
            self.Dense_0 = nnx.Linear(64, 32, rngs=rngs)
            self.Dense_1 = nnx.Linear(32, 10, rngs=rngs)

    x = jnp.ones((1, 64))
    params, _ = pif.init(LinenMLP().init(jax.random.key(1), x)["params"], seed=3)
    twin = Twin(nnx.Rngs(0))
    pif.init(twin, seed=3)
    np.testing.assert_array_equal(np.asarray(params["Dense_1"]["kernel"]),
                                  np.asarray(twin.Dense_1.kernel.get_value()))


def test_grouped_conv_needs_the_trace_for_its_groups_and_variables_keep_their_stats():
    x = jnp.ones((1, 6, 6, 8))
    variables = LinenCNN().init(jax.random.key(0), x)
    new, plan = pif.init(variables, module=LinenCNN(), inputs=x, seed=0)
    assert set(new) == set(variables) and "batch_stats" in new
    assert new["batch_stats"] is variables["batch_stats"]
    conv = plan["Conv_0.kernel"]  # (3, 3, 2, 16), 4 groups: fan_in 18, fan_out 36
    assert (conv.fan_in, conv.fan_out) == (18, 36)
    up = plan["ConvTranspose_0.kernel"]  # (4, 4, 16, 8): fan_in 16*16, fan_out 8*16
    assert (up.fan_in, up.fan_out) == (256, 128)
    assert plan["BatchNorm_0.scale"].scheme == "ones"
    _, by_names = pif.init(variables, seed=0, dry_run=True)
    # without the module the groups are unknown: fan_in (read from the kernel) is right,
    # fan_out counts every output channel
    assert (by_names["Conv_0.kernel"].fan_in, by_names["Conv_0.kernel"].fan_out) == (18, 144)


def test_attention_and_lstm_typed_by_trace():
    tokens = jnp.zeros((2, 5), jnp.int32)
    module = LinenBlock()
    variables = module.init(jax.random.key(0), tokens)
    params, plan = pif.init(variables["params"], module=module, inputs=tokens, seed=0,
                            strict=True)
    query = plan["MultiHeadDotProductAttention_0.query.kernel"]  # (12, 4, 4) as (12, 16)
    assert (query.fan_in, query.fan_out) == (12, 16)
    out = plan["MultiHeadDotProductAttention_0.out.kernel"]  # (4, 4, 12) as (16, 12)
    assert (out.fan_in, out.fan_out) == (16, 12)
    assert plan["Embed_0.embedding"].std == 1.0
    # nn.RNN scans the cell built in the parent's scope: its params are the cell's
    assert plan["OptimizedLSTMCell_0.hf.kernel"].scheme == "orthogonal"
    assert plan["OptimizedLSTMCell_0.if.kernel"].scheme == "he_normal"
    hf = np.asarray(params["OptimizedLSTMCell_0"]["hf"]["kernel"])
    np.testing.assert_allclose(hf.T @ hf, np.eye(32), atol=1e-5)
    assert module.apply({"params": params}, tokens).shape == (2, 5, 32)
    _, by_names = pif.init(variables["params"], seed=0, strict=True, dry_run=True)
    assert [(r.name, r.scheme, r.fan_in, r.fan_out) for r in by_names] == [
        (r.name, r.scheme, r.fan_in, r.fan_out) for r in plan]


class Named(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(4, name="head")(nn.Dense(8)(x))


def test_untypeable_paths_warn_or_raise_and_rules_cover_them():
    x = jnp.ones((2, 3))
    params = Named().init(jax.random.key(0), x)["params"]
    before = _flat(params)
    with pytest.warns(InitWarning, match="'head.kernel'"):
        new, plan = pif.init(params, seed=0)  # "head" is no default name
    assert plan["head.kernel"].status == "uncovered"
    np.testing.assert_array_equal(_flat(new)["head.kernel"], before["head.kernel"])
    with pytest.raises(InitError, match="strict=True"):
        pif.init(params, seed=0, strict=True)
    _, covered = pif.init(params, [Rule("head.kernel", "lecun_normal"),
                                   Rule("head.bias", "zeros")], seed=0, strict=True)
    assert covered["head.kernel"].scheme == "lecun_normal"
    _, traced = pif.init(params, module=Named(), inputs=x, strict=True)
    assert traced["head.kernel"].fan_in == 8


def test_linen_errors():
    x = jnp.ones((2, 64))
    params = LinenMLP().init(jax.random.key(0), x)["params"]
    with pytest.raises(InitError, match="module= needs inputs="):
        pif.init(params, module=LinenMLP())
    with pytest.raises(InitError, match="cannot trace LinenMLP"):
        pif.init(params, module=LinenMLP(), inputs="not an array")
    with pytest.raises(InitError, match="do not belong to this module"):
        pif.init({"Other_0": params["Dense_0"]}, module=LinenMLP(), inputs=x)
    with pytest.raises(InitError, match="module= and inputs= are for Linen"):
        pif.init(nnx.Linear(2, 2, rngs=nnx.Rngs(0)), module=LinenMLP(), inputs=x)


def test_frozen_dict_stays_frozen_and_jit_init_params_work():
    x = jnp.ones((2, 64))
    variables = jax.jit(LinenMLP().init)(jax.random.key(0), x)
    frozen = FrozenDict(variables)
    new, _ = pif.init(frozen, module=LinenMLP(), inputs=x)
    assert isinstance(new, FrozenDict)
    assert list(pif.audit(new, pif.init(frozen, dry_run=True)[1])) == []
