"""T-Fixup and DeepNorm: constants as numbers, plan stds = Xavier std x the scale per block,
measured stds, reruns, forward passes, and the errors for models without the structure."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import paraminit.torch as pit  # noqa: E402
from paraminit import InitError  # noqa: E402
from paraminit.torch.recipes import (  # noqa: E402
    DeepNormResidual,
    deepnorm,
    deepnorm_constants,
    t_fixup,
)

D, HEADS, FF, N = 32, 4, 64, 6


def encoder(layers: int = N, *, norms: bool = True) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True)
    model = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
    if not norms:
        for block in model.layers:
            block.norm1 = nn.Identity()
            block.norm2 = nn.Identity()
    return model


def transformer(n: int = 3, m: int = 2, *, norms: bool = True) -> nn.Transformer:
    model = nn.Transformer(D, HEADS, n, m, FF, dropout=0.0, batch_first=True)
    if not norms:
        for block in [*model.encoder.layers, *model.decoder.layers]:
            for name in ("norm1", "norm2", "norm3"):
                if hasattr(block, name):
                    setattr(block, name, nn.Identity())
        model.encoder.norm = None
        model.decoder.norm = None
    return model


def xavier_std(fan_in: int, fan_out: int) -> float:
    return math.sqrt(2.0 / (fan_in + fan_out))


def test_deepnorm_constants_as_numbers():
    one = deepnorm_constants(6)["stack"]
    assert one.alpha == pytest.approx(12 ** 0.25) == pytest.approx(1.8612097, abs=1e-7)
    assert one.beta == pytest.approx(48 ** -0.25) == pytest.approx(0.3799178, abs=1e-7)
    both = deepnorm_constants(6, 6)
    depth = (6 ** 4 * 6) ** (1 / 16)
    assert both["encoder"].alpha == pytest.approx(0.81 * depth)
    assert both["encoder"].beta == pytest.approx(1.15 / depth)  # torchscale's code
    assert deepnorm_constants(6, 6, source="paper")["encoder"].beta == pytest.approx(0.87 / depth)
    assert both["decoder"] == pytest.approx(((3 * 6) ** 0.25, (12 * 6) ** -0.25))


def test_deepnorm_plan_is_xavier_normal_times_beta_on_v_out_mlp():
    plan = pit.init(encoder(), deepnorm(), seed=0, dry_run=True)
    beta = 48 ** -0.25
    for i in range(N):
        rows = {r.block: r for r in plan.rows_of(f"layers.{i}.self_attn.in_proj_weight")}
        assert rows["q"].std == pytest.approx(xavier_std(D, D))
        assert rows["k"].std == pytest.approx(xavier_std(D, D))
        assert rows["v"].std == pytest.approx(xavier_std(D, D) * beta)
        assert plan[f"layers.{i}.self_attn.out_proj.weight"].std == pytest.approx(
            xavier_std(D, D) * beta)
        assert plan[f"layers.{i}.linear1.weight"].std == pytest.approx(xavier_std(D, FF) * beta)
        assert plan[f"layers.{i}.linear2.weight"].std == pytest.approx(xavier_std(FF, D) * beta)
        assert plan[f"layers.{i}.norm1.weight"].scheme == "ones"
    assert plan.preset == "deepnorm()"


def test_deepnorm_encoder_decoder_uses_each_stack_constants():
    plan = pit.init(transformer(3, 2), deepnorm(), seed=0, dry_run=True)
    enc_beta = 1.15 / (3 ** 4 * 2) ** (1 / 16)
    dec_beta = (12 * 2) ** -0.25
    assert plan["encoder.layers.0.linear1.weight"].std == pytest.approx(
        xavier_std(D, FF) * enc_beta)
    for attn in ("self_attn", "multihead_attn"):
        v = plan.rows_of(f"decoder.layers.1.{attn}.in_proj_weight")[2]
        assert v.block == "v" and v.std == pytest.approx(xavier_std(D, D) * dec_beta)


def test_t_fixup_plan_scales():
    plan = pit.init(encoder(norms=False), t_fixup(), seed=0, dry_run=True)
    scale = 0.67 * N ** -0.25
    assert scale == pytest.approx(0.4281, abs=1e-4)
    uniform = xavier_std(D, D)  # xavier_uniform's std is xavier's std
    rows = {r.block: r for r in plan.rows_of("layers.2.self_attn.in_proj_weight")}
    assert rows["q"].std == pytest.approx(uniform / math.sqrt(2))  # fairseq's q/k gain
    assert rows["k"].std == pytest.approx(uniform / math.sqrt(2))
    assert rows["v"].std == pytest.approx(uniform * scale)  # 1/sqrt(2) x sqrt(2) x scale
    assert plan["layers.2.self_attn.out_proj.weight"].std == pytest.approx(uniform * scale)
    assert plan["layers.2.linear2.weight"].std == pytest.approx(xavier_std(FF, D) * scale)
    assert plan["layers.2.linear2.weight"].scheme == "xavier_uniform"


def test_t_fixup_decoder_and_embeddings():
    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(50, D)
            self.core = transformer(3, 4, norms=False)

    plan = pit.init(Seq2Seq(), t_fixup(), seed=0, dry_run=True)
    dec = (9 * 4) ** -0.25
    assert plan["embed.weight"].std == pytest.approx(D ** -0.5 * dec)
    assert plan["core.decoder.layers.0.linear1.weight"].std == pytest.approx(
        xavier_std(D, FF) * dec)
    v = plan.rows_of("core.decoder.layers.3.multihead_attn.in_proj_weight")[2]
    assert v.std == pytest.approx(xavier_std(D, D) * dec)
    assert plan["core.encoder.layers.0.linear1.weight"].std == pytest.approx(
        xavier_std(D, FF) * 0.67 * 3 ** -0.25)


def test_explicit_layers_win():
    plan = pit.init(encoder(), deepnorm(layers=100), seed=0, dry_run=True)
    assert plan["layers.0.linear1.weight"].std == pytest.approx(
        xavier_std(D, FF) * 800 ** -0.25)
    assert "(8*100)" in plan["layers.0.linear1.weight"].reason


@pytest.mark.parametrize("recipe", [deepnorm(), t_fixup()], ids=["deepnorm", "t_fixup"])
def test_measured_std_rerun_and_forward(recipe):
    model = encoder(norms=False)
    plan = pit.init(model, recipe, seed=3)
    assert not [a for a in pit.audit(model, plan) if a.kind == "std_mismatch"]
    weight = model.layers[1].self_attn.in_proj_weight.detach()
    for row, block in zip(plan.rows_of("layers.1.self_attn.in_proj_weight"),
                          weight.split(D), strict=True):
        n = block.numel()
        assert abs(float(block.std()) / row.std - 1) < 5 * math.sqrt(1 / (2 * n))
    again = encoder(norms=False)
    pit.init(again, recipe, seed=3)
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)
    out = model(torch.randn(2, 7, D))
    assert torch.isfinite(out).all()


def test_deepnorm_residual_applies_alpha():
    residual = DeepNormResidual(D, alpha=2.0)
    x, branch = torch.randn(3, D), torch.randn(3, D)
    assert torch.allclose(residual(x, branch), residual.norm(2.0 * x + branch))
    assert "alpha=2" in repr(residual)


def test_t_fixup_refuses_norm_layers_unless_allowed():
    with pytest.raises(InitError, match=r"without layer norm.*'layers\.0\.norm1'.*nn\.Identity"):
        pit.init(encoder(), t_fixup(), dry_run=True)
    plan = pit.init(encoder(), t_fixup(allow_norms=True), dry_run=True)
    assert plan["layers.0.norm1.weight"].scheme == "ones"


@pytest.mark.parametrize("recipe", [deepnorm(), t_fixup()], ids=["deepnorm", "t_fixup"])
def test_model_without_attention_stack_is_an_error(recipe):
    mlp = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    with pytest.raises(InitError, match=r"stack\(s\) '<model>' hold blocks without an "
                                        r"nn\.MultiheadAttention.*Fix"):
        pit.init(mlp, recipe, dry_run=True)
    lone = nn.MultiheadAttention(D, HEADS)
    with pytest.raises(InitError, match=r"no stack of blocks.*Fix: build"):
        pit.init(lone, recipe, dry_run=True)


def test_argument_errors():
    with pytest.raises(InitError, match="layers"):
        deepnorm(layers=0)
    with pytest.raises(InitError, match="source"):
        deepnorm(source="code")
    with pytest.raises(InitError, match="decoder_layers=4 is for an encoder-decoder"):
        pit.init(encoder(), deepnorm(decoder_layers=4), dry_run=True)
