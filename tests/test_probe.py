"""paraminit.torch.probe: per-layer statistics, exact gradients, and the model left as it was."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import paraminit.torch as pit  # noqa: E402
from paraminit import InitError, resolve  # noqa: E402
from paraminit.torch import init_  # noqa: E402
from paraminit.torch._probe import LayerProbe, probe  # noqa: E402


def _mlp(depth: int, width: int, scheme: str, *, inputs: int = 16, seed: int = 0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(inputs if i == 0 else width, width), nn.ReLU()]
    layers.append(nn.Linear(width, 3))
    net = nn.Sequential(*layers)
    for name, p in net.named_parameters():
        if p.dim() == 2:
            init_(p, scheme, seed=seed, name=name)
        else:
            nn.init.zeros_(p)
    return net


def test_records_follow_the_layers_and_their_activations():
    net = _mlp(3, 8, "he_normal")
    records = probe(net, torch.randn(64, 16), torch.randint(0, 3, (64,)))
    assert [r.name for r in records] == ["0", "2", "4", "6"]
    assert [r.activation for r in records] == ["1", "3", "5", None]
    assert [r.kind for r in records] == ["Linear"] * 4
    assert [r.units for r in records] == [8, 8, 8, 3]
    assert records[0].weight_name == "0.weight" and records[0].weight_shape == (8, 16)
    assert all(isinstance(r, LayerProbe) for r in records)
    assert records[-1].act_std == records[-1].pre_std  # no activation after the output layer
    assert set(records[0].to_dict()) >= {"act_mean", "act_std", "act_rms", "dead_fraction",
                                         "grad_norm", "weight_grad_norm", "weight_std",
                                         "target_std", "weight_std_ratio"}


def test_statistics_equal_a_direct_computation():
    torch.manual_seed(1)
    net = _mlp(2, 16, "xavier_uniform")
    x, y = torch.randn(50, 16), torch.randint(0, 3, (50,))
    records = probe(net, x, y)
    with torch.no_grad():
        hidden = torch.relu(net[0](x))
    assert records[0].act_std == pytest.approx(float(hidden.double().std(correction=0)))
    assert records[0].act_mean == pytest.approx(float(hidden.double().mean()))
    assert records[0].act_rms == pytest.approx(float(hidden.double().square().mean().sqrt()))
    with torch.no_grad():
        pre = net[0](x).double()
    assert records[0].pre_std == pytest.approx(float(pre.std(correction=0)))
    # gradients: against plain autograd on a copy
    outputs = {}
    net[2].register_forward_hook(lambda m, i, o: outputs.setdefault("h", o))
    loss = nn.functional.cross_entropy(net(x), y)
    h = outputs["h"]
    grad_w, grad_h = torch.autograd.grad(loss, [net[2].weight, h])
    assert records[1].weight_grad_norm == pytest.approx(float(grad_w.norm()), rel=1e-5)
    assert records[1].grad_norm == pytest.approx(float(grad_h.norm()), rel=1e-5)


@pytest.mark.slow
def test_variance_through_depth_follows_the_theory():
    """Var(z_{l+1}) = n Var(w) E[relu(z_l)^2] = n Var(w) Var(z_l) / 2 (He et al. 2015, Eq. 7):
    He (Var w = 2/n) keeps it, Xavier on a square net (Var w = 1/n) halves it per layer."""
    x = torch.randn(512, 512, generator=torch.Generator().manual_seed(0))
    depth = 12
    he = probe(_mlp(depth, 512, "he_normal", inputs=512), x)
    xavier = probe(_mlp(depth, 512, "xavier_normal", inputs=512), x)
    he_change = math.log2(he[depth - 1].act_rms ** 2 / he[0].act_rms ** 2)
    xavier_change = math.log2(xavier[depth - 1].act_rms ** 2 / xavier[0].act_rms ** 2)
    assert abs(he_change) < 1.0
    assert xavier_change == pytest.approx(-(depth - 1), abs=1.0)


def test_dead_units_and_target_std():
    net = _mlp(2, 6, "he_normal")
    with torch.no_grad():
        net[2].bias[:2] = -1e6  # these two ReLUs never fire
    specs = {name: resolve("he_normal", tuple(p.shape)) for name, p in net.named_parameters()
             if p.dim() == 2}
    records = probe(net, torch.randn(40, 16), specs=specs)
    assert records[1].dead_fraction == pytest.approx(2 / 6)
    assert records[0].dead_fraction == 0.0
    assert records[0].target_std == pytest.approx(math.sqrt(2 / 16))
    assert records[0].weight_std_ratio == pytest.approx(1.0, abs=0.3)
    zeros = _mlp(2, 6, "zeros")
    assert [r.dead_fraction for r in probe(zeros, torch.randn(10, 16))] == [1.0, 1.0, 1.0]


def test_the_model_is_left_as_it_was():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                        nn.Linear(16, 4))
    net.train()
    net[4].eval()  # mixed modes must come back exactly
    net[0].weight.requires_grad_(False)
    marker = torch.full_like(net[4].weight, 7.0)
    net[4].weight.grad = marker
    state = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.randn(32, 8), torch.randint(0, 4, (32,))
    rng = torch.get_rng_state()
    records = probe(net, x, y, mode="train")
    assert torch.equal(rng, torch.get_rng_state())
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())  # BN stats too
    assert [m.training for m in net.modules()] == [True, True, True, True, True, False]
    assert net[4].weight.grad is marker and net[2].__dict__.get("_forward_hooks") == {}
    assert all(not m._forward_hooks for m in net.modules())
    assert net[0].bias.grad is None and not net[0].weight.requires_grad
    assert records[0].weight_grad_norm is None  # frozen: no gradient asked for
    assert records[-1].weight_grad_norm > 0


def test_forward_only_custom_loss_and_inputs():
    net = _mlp(1, 4, "he_uniform")
    with torch.no_grad():  # works inside no_grad too
        forward = probe(net, torch.randn(8, 16))
    assert all(r.grad_norm is None and r.weight_grad_norm is None for r in forward)
    custom = probe(net, torch.randn(8, 16), loss_fn=lambda out: out.square().sum())
    assert custom[0].grad_norm > 0

    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, u, v):
            return self.a(u) + self.b(v), "extra"

    pair = Pair()
    records = probe(pair, (torch.randn(5, 3), torch.randn(5, 3)),
                    loss_fn=lambda out: out[0].sum())
    assert [r.name for r in records] == ["a", "b"]
    with pytest.raises(InitError, match="loss_fn"):
        probe(pair, (torch.randn(5, 3), torch.randn(5, 3)), torch.zeros(5))
    with pytest.raises(InitError, match=r"nn\.Module"):
        probe("not a model", torch.zeros(1))  # type: ignore[arg-type]


def test_conv_units_and_repeated_calls():
    conv = nn.Sequential(nn.Conv2d(1, 5, 3, padding=1), nn.Tanh(), nn.Flatten(),
                         nn.Linear(5 * 6 * 6, 2))
    records = probe(conv, torch.randn(4, 1, 6, 6), torch.tensor([0, 1, 0, 1]))
    assert records[0].units == 5 and records[0].activation == "1"
    assert records[1].activation is None  # Flatten changes the shape: not an activation

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(4, 4)

        def forward(self, x):
            return self.layer(torch.relu(self.layer(x)))

    names = [r.name for r in probe(Twice(), torch.randn(3, 4), loss_fn=lambda o: o.sum())]
    assert names == ["layer", "layer#2"]


def test_probe_is_exposed_on_paraminit_torch():
    from paraminit.torch import probe as imported

    net = _mlp(1, 4, "he_normal")
    assert imported(net, torch.randn(2, 16))[0].name == "0"
    assert pit.probe(net, torch.randn(2, 16))[0].name == "0"
