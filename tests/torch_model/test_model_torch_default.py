"""``"torch_default"`` draws the laws torch's ``reset_parameters`` uses.

The values come from paraminit's stream, so parity is of the law: for every parameter the
plan's bound/std equals torch's formula, our values and a freshly constructed torch module's
values both have that std within sampling error, both stay within the bound and reach it.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from model_helpers import assert_std, assert_uniform_bound  # noqa: E402

import paraminit.torch as pit  # noqa: E402


def _torch_laws(module: nn.Module) -> dict[str, tuple[str, float]]:
    """Each parameter's law in torch's reset_parameters, written out from torch's source."""
    laws: dict[str, tuple[str, float]] = {}
    for mod_name, mod in module.named_modules():
        for local, p in mod.named_parameters(recurse=False):
            name = f"{mod_name}.{local}" if mod_name else local
            if isinstance(mod, nn.MultiheadAttention):
                if local == "in_proj_weight":  # xavier_uniform_ on the stacked (3E, E)
                    laws[name] = ("uniform", math.sqrt(6 / (p.shape[0] + p.shape[1])))
                elif local == "in_proj_bias":
                    laws[name] = ("zero", 0.0)
            elif isinstance(mod, nn.RNNBase):
                laws[name] = ("uniform", 1 / math.sqrt(mod.hidden_size))
            elif isinstance(mod, nn.Embedding):
                laws[name] = ("normal", 1.0)
            elif isinstance(mod, (nn.LayerNorm, nn.BatchNorm2d)):
                laws[name] = ("one" if local == "weight" else "zero", 0.0)
            elif isinstance(mod, nn.Bilinear):
                laws[name] = ("uniform", 1 / math.sqrt(mod.in1_features))
            elif isinstance(mod, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                w = mod.weight
                fan_in = w.shape[1] * math.prod(w.shape[2:])  # torch's literal fan_in
                if local == "bias" and mod_name.endswith("out_proj"):
                    laws[name] = ("zero", 0.0)  # MHA zeroes out_proj.bias
                else:
                    laws[name] = ("uniform", 1 / math.sqrt(fan_in))
    return laws


def _check(values: torch.Tensor, law: tuple[str, float], what: str) -> None:
    kind, scale = law
    if kind == "uniform":
        assert_uniform_bound(values, scale, what)
        assert_std(values, scale / math.sqrt(3), what)
    elif kind == "normal":
        assert_std(values, scale, what)
    else:
        assert torch.all(values == (1.0 if kind == "one" else 0.0)), what


class Zoo(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(300, 400)
        self.conv = nn.Conv2d(16, 64, 5, groups=4)
        self.deconv = nn.ConvTranspose2d(64, 32, 4)
        self.bil = nn.Bilinear(30, 20, 50)
        self.emb = nn.Embedding(500, 64)
        self.lstm = nn.LSTM(64, 96, num_layers=2)
        self.gru = nn.GRU(64, 80)
        self.mha = nn.MultiheadAttention(128, 4)
        self.ln = nn.LayerNorm(64)
        self.bn = nn.BatchNorm2d(16)


def test_torch_default_matches_torch_laws():
    torch.manual_seed(0)
    reference = Zoo()  # values from torch's own reset_parameters
    ours = Zoo()
    plan = pit.init(ours, "torch_default", seed=5)
    laws = _torch_laws(reference)
    params = dict(ours.named_parameters())
    assert set(laws) == set(params)
    for name, law in laws.items():
        _check(dict(reference.named_parameters())[name], law, f"torch {name}")
        _check(params[name], law, f"paraminit {name}")
        (row,) = plan.rows_of(name)  # torch_default initialises stacked tensors whole
        if law[0] == "uniform":
            assert row.bound == pytest.approx(law[1], rel=1e-12), name
        elif law[0] == "normal":
            assert row.std == pytest.approx(law[1]), name


def test_torch_default_is_not_torch_values():
    torch.manual_seed(0)
    a = nn.Linear(10, 10)
    b = nn.Linear(10, 10)
    pit.init(b, "torch_default")
    assert not torch.equal(a.weight, b.weight)  # same law, paraminit's stream


def test_mha_bias_kv_xavier_normal():
    mha = nn.MultiheadAttention(256, 4, add_bias_kv=True)
    plan = pit.init(mha, "torch_default")
    # xavier_normal_ on (1, 1, E): fan_in = fan_out = E -> std 1/sqrt(E)
    assert plan["bias_k"].std == pytest.approx(1 / math.sqrt(256))
    assert torch.count_nonzero(mha.out_proj.bias) == 0
