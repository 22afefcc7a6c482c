"""LSUV (Mishkin & Matas 2016): convergence, side effects, records and errors."""

from __future__ import annotations

import dataclasses
import math

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from paraminit import InitError  # noqa: E402
from paraminit.torch._generic import init_  # noqa: E402
from paraminit.torch._lsuv import LSUVRecord, lsuv  # noqa: E402


def _mlp(activation: type[nn.Module], depth: int = 10, width: int = 64) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(16, width), activation()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), activation()]
    layers.append(nn.Linear(width, 4))
    return nn.Sequential(*layers)


def _cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(),
        nn.Linear(16 * 7 * 7, 10),
    )


def _inputs(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


def _measured_stds(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[float, torch.Tensor]]:
    """An independent measurement: each weighted layer's output std and channel means."""
    found: dict[str, tuple[float, torch.Tensor]] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(getattr(module, "weight", None), nn.Parameter):
            def hook(module, args, output, name=name):
                dims = [d for d in range(output.dim()) if d != 1]  # channels: dim 1
                found[name] = (float(output.double().std(correction=0)),
                               output.double().mean(dim=dims))
            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for handle in handles:
            handle.remove()
    return found


@pytest.mark.slow
@pytest.mark.parametrize("activation", [nn.Tanh, nn.ReLU])
def test_lsuv_converges_on_a_deep_mlp(activation):
    model = _mlp(activation)
    x = _inputs(256, 16)
    records = lsuv(model, x)
    assert [r.name for r in records] == [str(i) for i in range(0, 20, 2)]
    assert all(r.converged and r.reached for r in records)
    measured = _measured_stds(model, x)
    for record in records:
        assert abs(record.final_std - 1.0) < 0.1
        assert measured[record.name][0] == pytest.approx(record.final_std, rel=1e-6)
        assert record.iterations <= 10
        assert record.scale > 0


@pytest.mark.slow
def test_lsuv_converges_on_a_small_cnn_with_centering():
    model = _cnn()
    x = _inputs(32, 3, 16, 16)
    records = lsuv(model, x, center=True, target_std=0.5, tol=0.05)
    assert [r.name for r in records] == ["0", "2", "4", "7"]
    assert all(r.converged for r in records)
    measured = _measured_stds(model, x)
    for record in records:
        std, means = measured[record.name]
        assert abs(std - 0.5) < 0.05
        if record.name != "4":  # the layer without a bias is only rescaled
            assert float(means.abs().max()) < 0.05


def test_lsuv_pre_initialises_orthonormally():
    model = _mlp(nn.Tanh, depth=3)
    lsuv(model, _inputs(64, 16), max_iter=0, seed=7)
    for name in ("0", "2", "4"):
        weight = model.get_submodule(name).weight
        assert torch.equal(weight, init_(torch.empty_like(weight), "orthogonal", seed=7,
                                         name=f"{name}.weight"))


@pytest.mark.slow
def test_lsuv_is_deterministic_and_rescales_only_weights():
    a, b = _mlp(nn.ReLU, depth=4), _mlp(nn.ReLU, depth=4)
    b.load_state_dict(a.state_dict())
    biases = [m.bias.clone() for m in a if isinstance(m, nn.Linear)]
    lsuv(a, _inputs(64, 16))
    lsuv(b, _inputs(64, 16))
    for (_, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(p, q)
    assert all(torch.equal(m.bias, bias) for m, bias in
               zip([m for m in a if isinstance(m, nn.Linear)], biases, strict=True))


def test_lsuv_restores_modes_removes_hooks_and_tracks_no_grad():
    model = nn.Sequential(nn.Linear(16, 32), nn.Dropout(0.5), nn.BatchNorm1d(32),
                          nn.Linear(32, 8))
    model.train()
    model[2].eval()  # mixed modes survive exactly
    running = model[2].running_mean.clone()
    lsuv(model, _inputs(64, 16))
    assert [m.training for m in model.modules()] == [True, True, True, False, True]
    assert torch.equal(model[2].running_mean, running)  # eval passes: BN stats untouched
    for module in model.modules():
        assert not module._forward_hooks
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert model[0].weight.grad_fn is None


def test_lsuv_handles_unreached_and_dead_layers():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(8, 8)
            self.dead = nn.Linear(8, 8, bias=False)
            self.unused = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.dead(self.used(x) * 0.0)

    records = {r.name: r for r in lsuv(Net(), _inputs(16, 8))}
    assert records["used"].converged
    assert records["dead"].final_std == 0.0 and not records["dead"].converged
    assert records["dead"].iterations == 0
    unused = records["unused"]
    assert not unused.reached and not unused.converged and math.isnan(unused.final_std)


def test_lsuv_accepts_tuple_and_dict_inputs():
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 8), nn.Linear(4, 8)

        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return self.a(x) + self.b(y)

    x, y = _inputs(32, 4), _inputs(32, 4) + 1
    assert [r.name for r in lsuv(Two(), (x, y))] == ["a", "b"]
    assert all(r.converged for r in lsuv(Two(), {"x": x, "y": y}))


def test_records_are_frozen_dataclasses():
    record = lsuv(nn.Linear(8, 8), _inputs(32, 8))[0]
    assert isinstance(record, LSUVRecord) and dataclasses.is_dataclass(record)
    assert record.name == ""
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.scale = 2.0  # type: ignore[misc]


def test_lsuv_errors_name_the_problem():
    with pytest.raises(InitError, match="ReLU has no layer with a weight of >= 2 dims"):
        lsuv(nn.ReLU(), _inputs(4, 4))
    model = _mlp(nn.Tanh, depth=3)
    model.train()
    with pytest.raises(InitError, match=r"forward pass failed on the given inputs \(Runtime"):
        lsuv(model, _inputs(4, 5))
    assert model.training and not any(m._forward_hooks for m in model.modules())
    with pytest.raises(InitError, match="tol must be a finite number > 0"):
        lsuv(model, _inputs(4, 16), tol=0)
    with pytest.raises(InitError, match="max_iter must be an int >= 0"):
        lsuv(model, _inputs(4, 16), max_iter=1.5)
    with pytest.raises(InitError, match="inputs must be a tensor"):
        lsuv(model, 3)
