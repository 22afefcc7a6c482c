"""GPT-2 and Megatron recipes: constants as numbers, parity with transformers' own GPT-2
init, values where the plan says, and errors for models without residual branches."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import paraminit.torch as pit
from paraminit import InitError
from paraminit.torch.recipes import gpt2, megatron

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()


def gpt2_model(layers=12, width=64):
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=300, n_embd=width, n_layer=layers, n_head=4, n_positions=32))


def llama_model(layers=4):
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=300, hidden_size=64, num_hidden_layers=layers, num_attention_heads=4,
        intermediate_size=128, num_key_value_heads=2))


def test_gpt2_constants():
    plan = pit.init(gpt2_model(), gpt2(), seed=0)
    assert plan["transformer.h.5.attn.c_proj.weight"].std == pytest.approx(0.02 / math.sqrt(24))
    assert plan["transformer.h.5.attn.c_proj.weight"].std == pytest.approx(0.004082482904638631)
    assert plan["transformer.h.0.mlp.c_proj.weight"].std_scale == pytest.approx(0.2041241452)
    for name in ("transformer.wte.weight", "transformer.wpe.weight",
                 "transformer.h.3.attn.c_attn.weight[v]", "transformer.h.3.mlp.c_fc.weight"):
        assert plan[name].std == pytest.approx(0.02), name
    assert plan["transformer.h.3.attn.c_attn.bias[q]"].scheme == "zeros"
    assert plan["transformer.ln_f.weight"].scheme == "ones"
    assert plan.preset == "gpt2(std=0.02)"
    assert "1/sqrt(2*12): GPT-2 residual projection" in str(plan)


def test_gpt2_matches_transformers_own_init_law():
    """transformers' GPT2PreTrainedModel._init_weights draws the same law: each
    parameter's std in a freshly built model (transformers' values) is the plan's std,
    within sampling error."""
    ours = gpt2_model(layers=6)
    plan = pit.init(ours, gpt2(), seed=1)
    theirs = dict(gpt2_model(layers=6).named_parameters())
    assert pit.audit(ours, plan) == []
    for row in plan:
        if row.block is not None or row.std == 0:
            continue
        values = theirs[row.parameter].detach().double()
        n = values.numel()
        assert abs(float(values.std(unbiased=False)) / row.std - 1) < 5 * math.sqrt(1 / (2 * n)), \
            row.name


def test_gpt2_values_rerun_and_forward():
    model = gpt2_model(layers=2)
    pit.init(model, gpt2(), seed=7)
    again = gpt2_model(layers=2)
    pit.init(again, gpt2(), seed=7)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(),
                                                 strict=True))
    assert model.lm_head.weight is model.transformer.wte.weight
    with torch.no_grad():
        logits = model(input_ids=torch.arange(16).reshape(1, 16)).logits
    assert torch.isfinite(logits).all()
    # tied head: logits of std ~ 0.02 * sqrt(d) * |h|, not sqrt(d) as N(0, 1) would give
    assert float(logits.std()) < 1.0


def test_user_rules_come_first():
    plan = pit.init(gpt2_model(layers=2), [pit.Rule("*.c_attn.bias", "constant", value=0.1)],
                    preset=gpt2(), seed=0)
    assert plan["transformer.h.0.attn.c_attn.bias[k]"].spec.mean == pytest.approx(0.1)
    assert plan["transformer.h.0.attn.c_proj.weight"].std == pytest.approx(0.01)


def test_megatron_constants():
    plan = pit.init(llama_model(layers=4), megatron(), seed=0)
    assert plan["model.layers.2.self_attn.o_proj.weight"].std == pytest.approx(0.02 / math.sqrt(8))
    assert plan["model.layers.2.mlp.down_proj.weight"].std == pytest.approx(0.00707106781)
    assert plan["model.layers.2.mlp.up_proj.weight"].std == pytest.approx(0.02)
    assert plan["lm_head.weight"].std == pytest.approx(0.02)
    plan = pit.init(llama_model(layers=4), megatron(per_layer=True), seed=0)
    for layer in range(4):
        row = plan[f"model.layers.{layer}.self_attn.o_proj.weight"]
        assert row.std == pytest.approx(0.02 / math.sqrt(2 * (layer + 1)))
    plan = pit.init(llama_model(layers=4), megatron(layers=32), seed=0)
    assert plan["model.layers.0.mlp.down_proj.weight"].std == pytest.approx(0.0025)


def test_megatron_truncated_is_torch_trunc_normal_with_parent_std():
    model = llama_model(layers=2)
    plan = pit.init(model, megatron(truncate=3.0), seed=0)
    row = plan["model.layers.0.self_attn.q_proj.weight"]
    assert row.spec.parent_std == pytest.approx(0.02)
    assert row.bound == pytest.approx(0.06)
    assert row.std == pytest.approx(0.02 * 0.9865783925581086, rel=1e-9)  # std of N(0,1) on [-3, 3]
    scaled = plan["model.layers.1.mlp.down_proj.weight"]
    assert scaled.bound == pytest.approx(0.06 / 2)
    weight = model.model.layers[1].mlp.down_proj.weight.detach()
    assert float(weight.abs().max()) <= 0.03
    assert pit.audit(model, plan) == []


def test_a_model_without_residual_branches_is_an_error():
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with pytest.raises(InitError, match=r"gpt2\(std=0.02\) scales the projections that close "
                                        r"each residual branch, but no layer is marked .* "
                                        r"e\.g\. '0\.weight'.*Fix: pass residual="):
        pit.init(mlp, gpt2(), seed=0)
    with pytest.raises(InitError, match=r"no weight matches residual=\['\*\.proj\.weight'\]"):
        pit.init(mlp, gpt2(residual="*.proj.weight"), seed=0)
    with pytest.raises(InitError, match=r"needs the number of blocks .*'2\.weight'.*layers=N"):
        pit.init(mlp, gpt2(residual="2.weight"), seed=0)
    plan = pit.init(mlp, gpt2(residual="2.weight", layers=3), seed=0)
    assert plan["2.weight"].std == pytest.approx(0.02 / math.sqrt(6))
    with pytest.raises(InitError, match=r"per_layer=True needs each residual projection's "
                                        r"block index; '2.weight'"):
        pit.init(mlp, megatron(residual="2.weight", per_layer=True), seed=0)
    before = [p.clone() for p in mlp.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, mlp.parameters(), strict=True))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: gpt2(std=0), r"std must be > 0"),
    (lambda: gpt2(std=float("inf")), r"std must be a finite number"),
    (lambda: gpt2(std=50.0), r"std must be at most 1"),
    (lambda: megatron(truncate=float("nan")), r"truncate must be"),
    (lambda: gpt2(layers=0), r"layers must be a positive int; received 0"),
    (lambda: gpt2(residual=3), r"residual must be None, a glob or a list of globs"),
    (lambda: megatron(truncate=-1), r"truncate must be > 0"),
    (lambda: megatron(per_layer="yes"), r"per_layer must be True or False"),
    (lambda: megatron(per_layer=True, layers=4), r"per_layer=True scales each block"),
])
def test_bad_arguments(call, message):
    with pytest.raises(InitError, match=message):
        call()


@settings(max_examples=60, deadline=None)
@given(std=st.floats(allow_nan=True, allow_infinity=True),
       truncate=st.none() | st.floats(allow_nan=True, allow_infinity=True),
       layers=st.none() | st.integers(-3, 10**6))
def test_fuzzed_arguments_give_a_sound_plan_or_an_init_error(std, truncate, layers):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    try:
        recipe = megatron(std, truncate=truncate, layers=layers, residual="2.weight")
        plan = pit.init(model, recipe, seed=0, dry_run=True)
    except InitError:
        return
    for row in plan:
        assert math.isfinite(row.std) and row.std >= 0
        assert row.bound is None or math.isfinite(row.bound)
