"""Fans and stds per Flax layer type, against hand-computed values.

Flax stores a Dense kernel as (in, out) and a Conv kernel as (*k, in/groups, out)
(flax/nnx/nn/linear.py, flax/linen/linear.py); He et al. 2015 §2.2: std = sqrt(2/fan_in);
Glorot & Bengio 2010 §4.2: uniform bound sqrt(6/(fan_in + fan_out)); LeCun et al. 1998 §4.6:
std = sqrt(1/fan_in).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from flax_helpers import CNN, Block, Recurrent, assert_std, mlp, values

import paraminit.flax as pif
from paraminit.plan import Kind


def test_mlp_kernels_read_in_out():
    model = mlp()
    plan = pif.init(model, seed=0)
    first, second = plan["layers.0.kernel"], plan["layers.2.kernel"]
    assert (first.fan_in, first.fan_out) == (64, 32)  # kernel (64, 32): in 64, out 32
    assert (second.fan_in, second.fan_out) == (32, 10)
    assert first.std == pytest.approx(math.sqrt(2 / 64))  # 0.1767767
    assert plan["layers.0.bias"].scheme == "zeros"
    got = values(model)
    assert_std(got["layers.0.kernel"], math.sqrt(2 / 64), "fc0")
    assert not got["layers.0.bias"].any()


def test_grouped_conv_and_conv_transpose():
    model = CNN(nnx.Rngs(0))
    plan = pif.init(model, seed=0)
    grouped = plan["grouped.kernel"]  # (3, 3, 8/4, 16): fan_in 2*9, fan_out 16/4*9
    assert (grouped.fan_in, grouped.fan_out) == (18, 36)
    assert grouped.std == pytest.approx(1 / 3)  # sqrt(2/18)
    up = plan["up.kernel"]  # Flax ConvTranspose (4, 4, 64, 32): fan_in 64*16, fan_out 32*16
    assert (up.fan_in, up.fan_out) == (1024, 512)
    lecun = pif.init(CNN(nnx.Rngs(0)), "lecun", dry_run=True)
    assert lecun["up.kernel"].std == pytest.approx(0.03125)  # REFERENCE.md: Flax lecun std
    assert_std(values(model)["grouped.kernel"], 1 / 3, "grouped")
    for name in ("norm.scale", "gn.scale"):
        assert plan[name].scheme == "ones" and plan[name.replace("scale", "bias")].scheme == \
            "zeros"


def test_embed_and_attention_per_head_fans():
    model = Block(nnx.Rngs(0))
    plan = pif.init(model, "xavier", seed=0)
    assert plan["embed.embedding"].scheme == "normal" and plan["embed.embedding"].std == 1.0
    query = plan["attn.query.kernel"]  # (12, 4, 4) read as Flax does: (12, 4*4)
    assert (query.fan_in, query.fan_out) == (12, 16)
    assert query.shape == (12, 16)
    assert query.bound == pytest.approx(math.sqrt(6 / (12 + 16)))
    out = plan["attn.out.kernel"]  # (4, 4, 12) read as (4*4, 12)
    assert (out.fan_in, out.fan_out) == (16, 12)
    got = values(model)
    assert got["attn.query.kernel"].shape == (12, 4, 4)
    assert np.abs(got["attn.query.kernel"]).max() <= math.sqrt(6 / 28) * (1 + 1e-6)
    assert_std(got["embed.embedding"], 1.0, "embedding")
    infos = {info.name: info for info in plan.params}
    assert infos["attn.query.kernel"].kind == Kind.ATTENTION_SEPARATE
    assert infos["attn.out.bias"].kind == Kind.ATTENTION_OUT_BIAS
    for name in ("ln.scale", "rms.scale"):
        assert plan[name].scheme == "ones"
        assert (got[name] == 1).all()


def test_recurrent_kernels_orthogonal_per_gate():
    model = Recurrent(nnx.Rngs(0))
    plan = pif.init(model, seed=0)
    got = values(model)
    stacked = got["lstm.cell.dense_h.kernel"]  # (32, 4*32): gates i, f, g, o along axis 1
    for i, gate in enumerate("ifgo"):
        row = plan[f"lstm.cell.dense_h.kernel[{gate}]"]
        assert row.scheme == "orthogonal" and (row.fan_in, row.fan_out) == (32, 32)
        block = stacked[:, 32 * i:32 * (i + 1)]
        np.testing.assert_allclose(block.T @ block, np.eye(32), atol=1e-5)
        entry = plan[f"lstm.cell.dense_i.kernel[{gate}]"]  # (16, 32) per gate
        assert entry.std == pytest.approx(math.sqrt(2 / 16))
    for gate in "rzn":
        assert plan[f"gru.dense_h.kernel[{gate}]"].scheme == "orthogonal"
        assert plan[f"gru.dense_i.bias[{gate}]"].scheme == "zeros"
    assert plan["cell.hf.kernel"].scheme == "orthogonal"
    assert plan["cell.if_.kernel"].scheme == "he_normal"
    infos = {info.name: info for info in plan.params}
    assert infos["cell.hf.kernel"].role == "recurrent"
    assert infos["cell.hf.bias"].kind == Kind.RNN_BIAS_RECURRENT
    carry = model.lstm.cell.initialize_carry((2, 16), nnx.Rngs(0))
    assert model.lstm.cell(carry, jnp.ones((2, 16)))[1].shape == (2, 32)


def test_every_parameter_is_covered():
    for model in (mlp(), CNN(nnx.Rngs(0)), Block(nnx.Rngs(0)), Recurrent(nnx.Rngs(0))):
        plan = pif.init(model, seed=0, strict=True)
        assert {row.status for row in plan} == {"init"}
        assert {row.parameter for row in plan} == set(values(model))
