"""Fans and the std of every block, per module type, against the formula written out."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from model_helpers import assert_std, assert_uniform_bound  # noqa: E402

import paraminit.torch as pit  # noqa: E402


def _init(module, rules="he", **kw):
    plan = pit.init(module, rules, seed=11, **kw)
    return plan, dict(module.named_parameters())


def _block(params, plan, name):
    row = plan[name]
    tensor = params[row.parameter]
    return tensor if row.rows is None else tensor[row.rows[0]:row.rows[1]]


def test_linear_he_and_zero_bias():
    plan, p = _init(nn.Linear(256, 128))
    row = plan["weight"]
    assert (row.fan_in, row.fan_out) == (256, 128)
    assert row.std == pytest.approx(math.sqrt(2 / 256))
    assert_std(p["weight"], math.sqrt(2 / 256))
    assert torch.count_nonzero(p["bias"]) == 0


def test_conv_transpose2d_fans_of_the_transposed_view():
    # weight (in=64, out=32, 4, 4): each output sums in * k^2 = 1024 inputs
    plan, p = _init(nn.ConvTranspose2d(64, 32, 4))
    row = plan["weight"]
    assert (row.fan_in, row.fan_out) == (1024, 512)
    assert row.std == pytest.approx(math.sqrt(2 / 1024))
    assert_std(p["weight"], math.sqrt(2 / 1024))


def test_conv_transpose2d_stride_aware():
    module = nn.ConvTranspose2d(64, 32, 4, stride=2)
    plan, p = _init(module, [pit.Rule(nn.ConvTranspose2d, "he_normal", stride_aware=True)])
    assert plan["weight"].fan_in == 1024 / 4  # in * k^2 / s^2
    assert_std(p["weight"], math.sqrt(2 / 256))


def test_depthwise_conv_per_group_fans():
    plan, p = _init(nn.Conv2d(32, 32, 3, groups=32))
    row = plan["weight"]
    assert (row.fan_in, row.fan_out) == (9, 9)  # torch would count fan_out 288
    assert row.std == pytest.approx(0.4714045, rel=1e-6)
    assert_std(p["weight"], math.sqrt(2 / 9))
    plan, p = _init(nn.Conv2d(32, 32, 3, groups=32), "xavier")
    assert_uniform_bound(p["weight"], math.sqrt(6 / 18))


@pytest.mark.parametrize("cls, shape_in, kernel", [
    (nn.Conv1d, 6, (5,)), (nn.Conv3d, 6, (3, 3, 3)), (nn.ConvTranspose1d, 6, (5,)),
    (nn.ConvTranspose3d, 6, (3, 3, 3)),
])
def test_other_convolutions(cls, shape_in, kernel):
    module = cls(shape_in, 12, kernel, groups=2)
    plan, _ = _init(module, "lecun")
    rf = math.prod(kernel)
    fan_in = (shape_in // 2) * rf  # in/groups x kernel, transposed or not
    assert plan["weight"].fan_in == fan_in
    assert plan["weight"].std == pytest.approx(1 / math.sqrt(fan_in))


def test_multihead_attention_qkv_blocks():
    mha = nn.MultiheadAttention(512, 8)
    plan, p = _init(mha, "xavier")
    bound = math.sqrt(6 / (512 + 512))  # each of q, k, v is its own 512 x 512 map
    for label in "qkv":
        row = plan[f"in_proj_weight[{label}]"]
        assert row.block == label and row.shape == (512, 512)
        assert (row.fan_in, row.fan_out) == (512, 512)
        assert row.bound == pytest.approx(bound)
        block = _block(p, plan, row.name)
        assert_uniform_bound(block, bound, row.name)
        assert_std(block, bound / math.sqrt(3), row.name)
    assert torch.count_nonzero(p["in_proj_bias"]) == 0
    assert plan["out_proj.weight"].fan_in == 512
    # blocks are independent streams: q and k differ
    q, k = _block(p, plan, "in_proj_weight[q]"), _block(p, plan, "in_proj_weight[k]")
    assert not torch.equal(q, k)


def test_multihead_attention_separate_projections_and_bias_kv():
    mha = nn.MultiheadAttention(16, 2, kdim=8, vdim=4, add_bias_kv=True)
    plan, p = _init(mha)
    assert plan["k_proj_weight"].fan_in == 8 and plan["v_proj_weight"].fan_in == 4
    assert plan["q_proj_weight"].std == pytest.approx(math.sqrt(2 / 16))
    assert torch.count_nonzero(p["bias_k"]) == 0 and plan["bias_k"].role == "bias"


def test_mha_stacked_when_blocks_false():
    plan, _ = _init(nn.MultiheadAttention(64, 4), [pit.Rule(nn.MultiheadAttention,
                                                            "xavier_uniform", blocks=False)])
    row = plan["in_proj_weight"]
    assert row.block is None and (row.fan_in, row.fan_out) == (64, 192)


def test_lstm_two_layers_per_gate():
    lstm = nn.LSTM(128, 256, num_layers=2)
    plan, p = _init(lstm, [pit.Rule("bias", "zeros", forget_bias=1.0)])
    for layer, fan_in in ((0, 128), (1, 256)):
        for gate in "ifgo":
            row = plan[f"weight_ih_l{layer}[{gate}]"]
            assert row.shape == (256, fan_in) and (row.fan_in, row.fan_out) == (fan_in, 256)
            assert_std(_block(p, plan, row.name), math.sqrt(2 / fan_in), row.name)
            rec = plan[f"weight_hh_l{layer}[{gate}]"]
            assert rec.role == "recurrent" and rec.scheme == "orthogonal"
            q = _block(p, plan, rec.name).double()
            assert torch.allclose(q.T @ q, torch.eye(256, dtype=torch.float64), atol=1e-5)
        bias_ih, bias_hh = p[f"bias_ih_l{layer}"], p[f"bias_hh_l{layer}"]
        assert torch.all(bias_ih[256:512] == 1) and torch.count_nonzero(bias_hh) == 0
        assert torch.count_nonzero(bias_ih[:256]) == 0 and torch.count_nonzero(bias_ih[512:]) == 0


def test_lstm_rule_by_type_with_forget_bias():
    lstm = nn.LSTM(8, 16)
    plan, p = _init(lstm, [pit.Rule(nn.LSTM, "orthogonal", forget_bias=1.0)])
    assert plan["bias_ih_l0[f]"].scheme == "constant"
    assert torch.all(p["bias_ih_l0"][16:32] == 1) and torch.all(p["bias_hh_l0"] == 0)


def test_lstm_projection():
    plan, _ = _init(nn.LSTM(8, 16, proj_size=4))
    assert plan["weight_hh_l0[i]"].shape == (16, 4)
    assert plan["weight_hr_l0"].fan_in == 16 and plan["weight_hr_l0"].block is None


def test_gru_per_gate_and_rnn_whole():
    plan, p = _init(nn.GRU(64, 32), "xavier")
    for gate in "rzn":
        row = plan[f"weight_ih_l0[{gate}]"]
        assert (row.fan_in, row.fan_out) == (64, 32)
        assert_uniform_bound(_block(p, plan, row.name), math.sqrt(6 / 96), row.name)
        q = _block(p, plan, f"weight_hh_l0[{gate}]").double()
        assert torch.allclose(q @ q.T, torch.eye(32, dtype=torch.float64), atol=1e-5)
    plan, _ = _init(nn.RNN(10, 20))
    assert plan["weight_ih_l0"].block is None and plan["weight_ih_l0"].fan_in == 10


def test_embedding_normal_and_padding_row():
    emb = nn.Embedding(1000, 64, padding_idx=3)
    plan, p = _init(emb, "lecun")
    assert plan["weight"].role == "embedding" and plan["weight"].std == 1.0
    assert torch.count_nonzero(p["weight"][3]) == 0
    assert_std(torch.cat([p["weight"][:3], p["weight"][4:]]), 1.0)
    plan, p = _init(nn.EmbeddingBag(500, 32))
    assert_std(p["weight"], 1.0)


def test_bilinear_fans():
    plan, p = _init(nn.Bilinear(20, 30, 40))
    row = plan["weight"]  # (40, 20, 30): each output sums in1 * in2 products
    assert (row.fan_in, row.fan_out) == (600, 1200)
    assert_std(p["weight"], math.sqrt(2 / 600))


@pytest.mark.parametrize("module", [
    nn.LayerNorm(32), nn.RMSNorm(32), nn.BatchNorm2d(32), nn.GroupNorm(4, 32),
    nn.InstanceNorm1d(32, affine=True),
])
def test_norms_one_and_zero(module):
    with torch.no_grad():
        for param in module.parameters():
            param.uniform_(-3, 3)
    plan, p = _init(module, "orthogonal")
    assert {row.role for row in plan} == {"norm"}
    assert torch.all(p["weight"] == 1)
    if "bias" in p:
        assert torch.all(p["bias"] == 0)


@pytest.mark.parametrize("preset, std", [
    ("he", math.sqrt(2 / 300)), ("lecun", math.sqrt(1 / 300)),
    ("msra", math.sqrt(2 / 300)), ("xavier", math.sqrt(2 / 500)),
    ("orthogonal", 1 / math.sqrt(300)),
])
def test_presets_on_a_linear(preset, std):
    plan, p = _init(nn.Linear(300, 200), preset)
    assert plan["weight"].std == pytest.approx(std)
    assert_std(p["weight"], std, preset)
