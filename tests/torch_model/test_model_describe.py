"""paraminit.torch as an adapter of the neutral planner: describers, structure, scales."""

from __future__ import annotations

import math
import warnings

import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402

import paraminit.torch as pit  # noqa: E402
from paraminit import InitError  # noqa: E402
from paraminit.plan import Kind  # noqa: E402
from paraminit.torch._describe import describe  # noqa: E402


class Scale(nn.Module):
    """A user layer with a raw parameter: unknown until a describer is registered."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.full((width,), 3.0))


class Dense(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.kernel = nn.Parameter(torch.empty(n_in, n_out))  # (in, out), as Keras stores it


def test_a_registered_describer_makes_a_user_layer_known_to_presets():
    model = nn.Sequential(nn.Linear(4, 4), Scale(4))
    assert pit.init(model, seed=0)["1.gain"].status == "uncovered"
    pit.register_describer(Scale, lambda m, local, p: {"role": "norm", "kind": Kind.NORM_SCALE})
    plan = pit.init(model, seed=0)
    assert plan["1.gain"].scheme == "ones" and torch.equal(model[1].gain, torch.ones(4))


def test_a_describer_can_give_fan_options_for_another_layout():
    pit.register_describer(Dense, lambda m, local, p: {
        "role": "weight", "kind": Kind.LINEAR, "fan_options": {"layout": "jax"}})
    model = Dense(64, 8)
    plan = pit.init(model, "lecun", seed=0)
    assert plan["kernel"].fan_in == 64 and plan["kernel"].fan_out == 8
    assert float(model.kernel.detach().std()) == pytest.approx(1 / 8, rel=0.1)


@pytest.mark.parametrize(("returned", "pattern"), [
    ([1], r"returned \[1\] for 'w'; a describer returns a dict of ParamInfo fields or None"),
    ({"colour": "red"}, r"returned unknown fields for 'w'"),
    ({"role": "weights"}, r"role must be one of"),
])
def test_bad_describers_are_init_errors(returned, pattern):
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(2, 2))

    pit.register_describer(Odd, lambda m, local, p: returned)
    before = Odd().w.clone()
    model = Odd()
    with pytest.raises(InitError, match=pattern):
        pit.init(model, seed=0)
    assert torch.equal(model.w, before)


def test_register_describer_validates_its_arguments():
    with pytest.raises(InitError, match=r"module_type must be a torch\.nn\.Module subclass"):
        pit.register_describer(int, lambda *a: None)
    with pytest.raises(InitError, match="describer must be a callable"):
        pit.register_describer(Scale, "norm")


def test_layer_index_and_depth_of_stacked_blocks():
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    model = nn.ModuleDict({
        "encoder": nn.TransformerEncoder(layer, 3, enable_nested_tensor=False),
        "head": nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)),  # mixed: no stack
    })
    infos = {b.info.name: b.info for b in describe(model)}
    out = infos["encoder.layers.2.linear2.weight"]
    assert (out.layer, out.depth) == (2, 3)
    assert (infos["encoder.layers.0.self_attn.in_proj_weight"].layer, ) == (0, )
    assert infos["head.2.weight"].layer is None and infos["head.2.weight"].depth is None


def test_std_scale_by_depth_gives_the_measured_std():
    """GPT-2's scaled residual init, as a user writes it today (the recipe is issue 13's)."""
    depth = 4
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 256), depth,
                                  enable_nested_tensor=False)
    scale = 1 / math.sqrt(2 * depth)
    rules = [pit.Rule("*.linear2.weight", "normal", std=0.02, std_scale=scale,
                      reason=f"1/sqrt(2*{depth}): GPT-2 residual projection"),
             pit.Rule(nn.Linear, "normal", std=0.02)]
    plan = pit.init(model, rules, seed=1)
    row = plan["layers.3.linear2.weight"]
    assert row.std == pytest.approx(0.02 * scale)
    assert "x 0.353553 (1/sqrt(2*4): GPT-2 residual projection)" in row.scheme_text
    measured = float(model.layers[3].linear2.weight.detach().double().std())
    n = model.layers[3].linear2.weight.numel()
    assert measured == pytest.approx(0.02 * scale, rel=5 * math.sqrt(1 / (2 * n)))
    linear1 = model.layers[3].linear1.weight.detach().double()
    assert float(linear1.std()) == pytest.approx(0.02, rel=0.05)
    assert pit.audit(model, plan) == []


def test_type_selectors_use_isinstance_for_classes_and_names_for_text():
    class MyLinear(nn.Linear):
        pass

    model = nn.Sequential(MyLinear(4, 4), nn.Linear(4, 4))
    plan = pit.init(model, [pit.Rule(nn.Linear, "zeros")], seed=0)  # isinstance: both
    assert plan["0.weight"].scheme == plan["1.weight"].scheme == "zeros"
    name = f"{__name__}.test_type_selectors_use_isinstance_for_classes_and_names_for_text." \
           "<locals>.MyLinear"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = pit.init(model, [pit.Rule(f"type:{name}", "ones")], seed=0)  # by name: one
    assert plan["0.weight"].scheme == "ones" and plan["1.weight"].scheme == "he_normal"


def test_lr_scales_map_to_parameter_groups():
    model = nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 8))
    plan = pit.init(model, [pit.Rule("role:embedding", "normal", std=1.0, lr_scale=4.0,
                                     reason="muP embedding")], seed=0)
    scales = plan.lr_scales()
    groups = {}
    for name, param in model.named_parameters():
        groups.setdefault(scales[name], []).append(param)
    optimiser = torch.optim.Adam([{"params": ps, "lr": 1e-3 * s} for s, ps in groups.items()])
    assert sorted(g["lr"] for g in optimiser.param_groups) == [1e-3, 4e-3]
