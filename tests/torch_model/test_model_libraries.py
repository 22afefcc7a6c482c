"""Layers of transformers (built from configs, no downloads): Conv1D's (in, out) layout,
fused q/k/v and gate/up projections, per-head interleaving, stacked MoE experts, the
libraries' norm classes; each block with its own fans and its values where the block lies."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import paraminit.numpy as pn
import paraminit.torch as pit
from paraminit import InitError
from paraminit.core.engines import Box
from paraminit.plan import InitWarning
from paraminit.torch._model import _write_row

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

SMALL = dict(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=64)


def gpt2():
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=50, n_embd=32, n_layer=2, n_head=4, n_positions=16))


def bloom():
    return transformers.BloomForCausalLM(transformers.BloomConfig(
        vocab_size=50, hidden_size=32, n_layer=2, n_head=4))


def falcon(**options):
    return transformers.FalconForCausalLM(transformers.FalconConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, **options))


def phi3():
    return transformers.Phi3ForCausalLM(transformers.Phi3Config(
        **SMALL, num_key_value_heads=2, pad_token_id=0))


def mixtral():
    return transformers.MixtralForCausalLM(transformers.MixtralConfig(
        **SMALL, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2))


def llama():
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(**SMALL, num_key_value_heads=2))


def bert():
    return transformers.BertForMaskedLM(transformers.BertConfig(**SMALL))


def expected(plan, name, seed=0):
    """The values paraminit.numpy gives a row's spec under the row's stream name."""
    row = plan[name]
    return torch.from_numpy(pn.sample(row.spec, seed=seed, name=row.name))


def test_gpt2_conv1d_is_read_in_out_with_q_k_v_along_its_out_axis():
    model = gpt2()
    plan = pit.init(model, "xavier", seed=0)
    weight = model.transformer.h[0].attn.c_attn.weight  # (in 32, out 96)
    for i, block in enumerate("qkv"):
        row = plan[f"transformer.h.0.attn.c_attn.weight[{block}]"]
        assert row.shape == (32, 32) and (row.fan_in, row.fan_out) == (32, 32)
        assert row.place.axis == 1
        assert torch.equal(weight[:, 32 * i:32 * (i + 1)], expected(plan, row.name))
    fc = plan["transformer.h.0.mlp.c_fc.weight"]  # (in 32, out 128): fan_in is 32
    assert (fc.fan_in, fc.fan_out) == (32, 128)
    assert fc.std == pytest.approx((2 / (32 + 128)) ** 0.5)


def test_bloom_q_k_v_interleaved_per_head():
    model = bloom()
    plan = pit.init(model, "he", seed=0)
    weight = model.transformer.h[0].self_attention.query_key_value.weight  # (heads*3*hd, in)
    per_head = weight.detach().view(4, 3, 8, 32)
    for i, block in enumerate("qkv"):
        row = plan[f"transformer.h.0.self_attention.query_key_value.weight[{block}]"]
        assert row.shape == (32, 32) and row.fan_out == 32
        assert torch.equal(per_head[:, i].reshape(32, 32), expected(plan, row.name))
    bias = model.transformer.h[0].self_attention.query_key_value.bias
    assert plan["transformer.h.0.self_attention.query_key_value.bias[v]"].shape == (32,)
    assert torch.count_nonzero(bias) == 0


@pytest.mark.parametrize(("options", "sizes"), [
    ({"multi_query": True}, (32, 8, 8)),  # all q heads, then one k and one v head
    ({"multi_query": False}, (32, 32, 32)),  # per head q, k, v
    ({"new_decoder_architecture": True, "num_kv_heads": 2}, (32, 16, 16)),
])
def test_falcon_layouts(options, sizes):
    model = falcon(**options)
    plan = pit.init(model, "he", seed=0, dry_run=True)
    rows = plan.rows_of("transformer.h.0.self_attention.query_key_value.weight")
    assert tuple(row.shape[0] for row in rows) == sizes
    assert all(row.fan_in == 32 for row in rows)


def test_falcon_new_architecture_places_each_groups_q_then_k_and_v():
    model = falcon(new_decoder_architecture=True, num_kv_heads=2)
    plan = pit.init(model, "he", seed=0)
    weight = model.transformer.h[0].self_attention.query_key_value.weight.detach()
    groups = weight.view(2, 4, 8, 32)  # per kv head: 2 q heads, then k, then v
    name = "transformer.h.0.self_attention.query_key_value.weight"
    assert torch.equal(groups[:, :2].reshape(32, 32), expected(plan, name + "[q]"))
    assert torch.equal(groups[:, 3].reshape(16, 32), expected(plan, name + "[v]"))


def test_phi3_grouped_query_sizes_and_gate_up_halves():
    model = phi3()
    plan = pit.init(model, "xavier", seed=0)
    attn = "model.layers.0.self_attn.qkv_proj.weight"
    assert [r.shape for r in plan.rows_of(attn)] == [(32, 32), (16, 32), (16, 32)]
    assert plan[attn + "[k]"].std == pytest.approx((2 / (32 + 16)) ** 0.5)
    weight = model.model.layers[0].self_attn.qkv_proj.weight
    assert torch.equal(weight[48:], expected(plan, attn + "[v]"))
    mlp = "model.layers.0.mlp.gate_up_proj.weight"
    assert [r.block for r in plan.rows_of(mlp)] == ["gate", "up"]


def test_mixtral_experts_each_have_their_own_fans_and_the_router_is_a_linear():
    model = mixtral()
    plan = pit.init(model, "he", seed=0)
    name = "model.layers.0.mlp.experts.down_proj"
    rows = plan.rows_of(name)
    assert len(rows) == 4 and all(r.shape == (32, 64) and r.fan_in == 64 for r in rows)
    experts = model.model.layers[0].mlp.experts.down_proj
    assert torch.equal(experts[2], expected(plan, name + "[2]"))
    assert plan["model.layers.0.mlp.gate.weight"].status == "init"
    assert all(row.status == "init" for row in plan)


@pytest.mark.parametrize("factory", [gpt2, bloom, phi3, mixtral, llama, bert, falcon])
def test_every_parameter_covered_measured_std_right_rerun_same_forward_finite(factory):
    model = factory()
    with warnings.catch_warnings():
        warnings.simplefilter("error", InitWarning)
        plan = pit.init(model, "he", seed=3, strict=True)
    assert all(row.status == "init" for row in plan)
    assert pit.audit(model, plan) == []
    again = factory()
    pit.init(again, "he", seed=3)
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name
    with torch.no_grad():
        out = model(input_ids=torch.arange(10).reshape(1, 10) % 50)
    assert torch.isfinite(out.logits).all()


def test_residual_output_projections_are_marked():
    plan = pit.init(gpt2(), "he", seed=0, dry_run=True)
    marked = {info.name for info in plan.params if info.residual == "out"}
    assert marked == {f"transformer.h.{i}.{m}.c_proj.weight" for i in (0, 1)
                      for m in ("attn", "mlp")}
    plan = pit.init(llama(), "he", seed=0, dry_run=True)
    marked = {info.name for info in plan.params if info.residual == "out"}
    assert marked == {f"model.layers.{i}.{m}" for i in (0, 1)
                      for m in ("self_attn.o_proj.weight", "mlp.down_proj.weight")}
    plan = pit.init(bert(), "he", seed=0, dry_run=True)
    marked = {info.name for info in plan.params if info.residual == "out"}
    assert marked == {f"bert.encoder.layer.{i}.{m}" for i in (0, 1)
                      for m in ("attention.output.dense.weight", "output.dense.weight")}


@pytest.mark.parametrize("factory", [gpt2, bloom, mixtral])
def test_a_ranks_part_of_a_block_equals_that_part_of_the_whole(factory):
    """The writer places each block's part a rank holds (any cut along any axis) exactly as
    the whole tensor has it: interleaved, (in, out) and stacked blocks alike."""
    model = factory()
    plan = pit.init(model, "he", seed=5)
    params = dict(model.named_parameters())
    for parameter in {row.parameter for row in plan if row.place is not None}:
        whole = params[parameter].detach()
        rows = plan.rows_of(parameter)
        for axis in range(whole.ndim):
            size = whole.shape[axis]
            for start, stop in {(0, size // 3), (size // 3, max(size // 3, size - 5)),
                                (min(7, size), size), (size // 2, size // 2 + 1)}:
                starts = [0] * whole.ndim
                stops = list(whole.shape)
                starts[axis], stops[axis] = start, stop
                box = Box(tuple(whole.shape), tuple(starts), tuple(stops))
                part = torch.full(box.box_shape, float("nan"))
                for row in rows:
                    _write_row(part, box, row, 5)
                index = tuple(slice(a, b) for a, b in zip(starts, stops, strict=True))
                assert torch.equal(part, whole[index]), (parameter, axis, start, stop)


class Gain(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.full((4,), 3.0))
        self.fc = torch.nn.Linear(4, 4)


def test_uncovered_parameters_warn_once_or_raise_when_strict():
    model = Gain()
    with pytest.warns(InitWarning, match=r"1 parameter\(s\) are covered by no rule .*'scale' "
                                         r"\(Gain, shape \(4,\)\)\. Fix: add a Rule") as caught:
        pit.init(model, seed=0)
    assert len([w for w in caught if issubclass(w.category, InitWarning)]) == 1
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(InitError, match=r"strict=True: .*'scale'.*Nothing was written"):
        pit.init(model, seed=1, strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    with warnings.catch_warnings():
        warnings.simplefilter("error", InitWarning)
        pit.init(model, [pit.Rule("scale", "ones")], seed=0, strict=True)
        pit.init(model, seed=0, dry_run=True)  # a dry run shows them in the plan only
    with pytest.raises(InitError, match="strict must be True or False"):
        pit.init(model, seed=0, strict="yes")


def test_interleaved_blocks_must_tile_the_axis():
    from paraminit.plan import ParamInfo
    info = ParamInfo("qkv.weight", (90, 8), role="weight", kind="linear", blocks=("q", "k", "v"),
                     block_groups=4)
    with pytest.raises(InitError, match=r"does not split along axis 0 into 12 equal blocks"):
        info.places()
    info = ParamInfo("qkv.weight", (40, 8), role="weight", kind="linear", blocks=("q", "k", "v"),
                     block_sizes=(16, 8, 8))
    with pytest.raises(InitError, match=r"cover 32 of axis 0's 40"):
        info.places()
    with pytest.raises(InitError, match=r"one size per block"):
        ParamInfo("w", (8, 8), blocks=("a", "b"), block_sizes=(8,))
    places = ParamInfo("w", (24, 2), blocks=("q", "k", "v"), block_groups=2).places()
    assert np.array_equal(places[1].indices(24), [4, 5, 6, 7, 16, 17, 18, 19])
