"""Fixup, SkipInit/ReZero and ZerO recipes: the plan's numbers, the values, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

import paraminit.torch as pit
from paraminit import InitError
from paraminit.core.structured import zero_matrix
from paraminit.torch import recipes
from paraminit.torch.recipes import ResidualScale, fixup, rezero, skipinit, zer_o


class Block(nn.Module):
    def __init__(self, width: int, layers: int = 2) -> None:
        super().__init__()
        parts: list[nn.Module] = []
        for i in range(layers):
            parts += [nn.Linear(width, width)] + ([nn.ReLU()] if i < layers - 1 else [])
        self.branch = nn.Sequential(*parts)

    def forward(self, x):
        return x + self.branch(x)


class Net(nn.Module):
    def __init__(self, *, blocks=64, width=16, layers=2, gated=False, inputs=8, classes=3):
        super().__init__()
        self.stem = nn.Linear(inputs, width)
        make = (lambda: ResidualScale(Block(width, layers).branch)) if gated else (
            lambda: Block(width, layers))
        self.blocks = nn.ModuleList([make() for _ in range(blocks)])
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def test_public_names():
    assert recipes.__all__ == sorted(recipes.__all__)
    assert {"fixup", "skipinit", "rezero", "zer_o", "ResidualScale"} <= set(recipes.__all__)


# --- Fixup --------------------------------------------------------------------------------

def test_fixup_scales_he_by_l_to_the_minus_half_for_m_2():
    model = Net(blocks=64, width=16)
    plan = pit.init(model, fixup(), seed=0)
    assert plan.preset == "fixup"
    first = plan["blocks.0.branch.0.weight"]
    # He: sqrt(2 / fan_in) = sqrt(2/16) = 0.35355339; L = 64, m = 2: 64^(-1/2) = 0.125
    assert first.std_scale == 0.125
    assert first.std == pytest.approx(math.sqrt(2 / 16) * 0.125, rel=1e-12)
    assert first.std == pytest.approx(0.04419417382415922, rel=1e-12)
    assert "Fixup L^(-1/(2m-2)), L = 64, m = 2" in first.scheme_text
    for i in range(64):
        assert plan[f"blocks.{i}.branch.0.weight"].std_scale == 0.125
        assert plan[f"blocks.{i}.branch.2.weight"].scheme == "zeros"
        assert torch.count_nonzero(model.blocks[i].branch[2].weight) == 0
    assert torch.count_nonzero(model.head.weight) == 0
    assert torch.count_nonzero(model.head.bias) == 0
    assert plan["stem.weight"].std == pytest.approx(math.sqrt(2 / 8)) and plan[
        "stem.weight"].std_scale is None
    measured = torch.cat([b.branch[0].weight.flatten() for b in model.blocks]).std().item()
    n = 64 * 16 * 16  # sampling error of a std: 1/sqrt(2n) relative
    assert abs(measured / first.std - 1) < 5 / math.sqrt(2 * n)


@pytest.mark.parametrize(("blocks", "layers", "scale"), [
    (8, 3, 8 ** -0.25),           # L = 8, m = 3: 8^(-1/4) = 0.59460356
    (16, 4, 16 ** (-1 / 6)),      # L = 16, m = 4: 16^(-1/6) = 0.62996052
    (4, 2, 0.5),                  # L = 4, m = 2: 4^(-1/2)
])
def test_fixup_exponent_for_other_branch_depths(blocks, layers, scale):
    plan = pit.init(Net(blocks=blocks, layers=layers), fixup(), dry_run=True)
    for i in range(layers - 1):
        assert plan[f"blocks.0.branch.{2 * i}.weight"].std_scale == pytest.approx(scale,
                                                                                  rel=1e-15)
    assert plan[f"blocks.0.branch.{2 * (layers - 1)}.weight"].scheme == "zeros"


def test_fixup_with_one_layer_branches_zeroes_it_and_scales_nothing():
    model = Net(blocks=5, layers=1)
    plan = pit.init(model, fixup(), seed=0)
    assert all(plan[f"blocks.{i}.branch.0.weight"].scheme == "zeros" for i in range(5))
    assert not any(row.std_scale for row in plan)


def test_fixup_sets_scalar_biases_to_0_and_multipliers_to_1():
    class FixupBlock(nn.Module):  # the paper's scalars, named as its reference code
        def __init__(self):
            super().__init__()
            self.bias1a, self.bias1b = nn.Parameter(torch.ones(1)), nn.Parameter(torch.ones(1))
            self.fc1, self.fc2 = nn.Linear(4, 4), nn.Linear(4, 4)
            self.scale = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x + self.scale * self.fc2(torch.relu(self.fc1(x + self.bias1a)) + self.bias1b)

    model = nn.Sequential(nn.Sequential(*[FixupBlock() for _ in range(3)]), nn.Linear(4, 2))
    pit.init(model, fixup(), seed=0)
    for block in model[0]:
        assert block.bias1a.item() == 0.0 and block.bias1b.item() == 0.0
        assert block.scale.item() == 1.0
    assert pit.audit(model, pit.init(model, fixup(), dry_run=True)) == []


def test_fixup_sets_a_residual_scale_to_1():
    model = Net(blocks=4, gated=True)
    pit.init(model, fixup(), seed=0)
    assert all(block.alpha.item() == 1.0 for block in model.blocks)


def test_fixup_keeps_a_shortcut_projection_standard():
    class Down(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3)
            self.downsample = nn.Conv2d(4, 4, 1)

    model = nn.Sequential(nn.Sequential(Down(), Down()), nn.Flatten(), nn.Linear(4, 2))
    plan = pit.init(model, fixup(), dry_run=True)
    assert plan["0.0.conv1.weight"].std_scale == pytest.approx(2 ** -0.5)  # L = 2, m = 2
    assert plan["0.0.conv2.weight"].scheme == "zeros"
    assert plan["0.0.downsample.weight"].scheme == "he_normal"
    assert plan["0.0.downsample.weight"].std_scale is None


def test_fixup_selectors_override_the_structure():
    model = Net(blocks=4)
    plan = pit.init(model, fixup(branches="blocks.*.weight", last="*.branch.0.weight",
                                 classifier="head.weight"), dry_run=True)
    assert plan["blocks.1.branch.0.weight"].scheme == "zeros"
    assert plan["blocks.1.branch.2.weight"].std_scale == 0.5
    assert plan.preset == ("fixup(branches='blocks.*.weight', last='*.branch.0.weight', "
                           "classifier='head.weight')")
    kept = pit.init(model, fixup(classifier=False), dry_run=True)
    assert kept["head.weight"].scheme == "he_normal"


def test_fixup_is_deterministic_and_the_forward_is_finite():
    a, b = Net(blocks=64), Net(blocks=64)
    pit.init(a, fixup(), seed=3)
    pit.init(b, fixup(), seed=3)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(p, q), name
    out = a(torch.randn(32, 8))
    assert torch.isfinite(out).all() and torch.count_nonzero(out) == 0  # head is 0


def test_user_rules_come_before_fixup():
    model = Net(blocks=4)
    plan = pit.init(model, [pit.Rule("head.weight", "normal", std=0.01)], preset=fixup(),
                    dry_run=True)
    assert plan["head.weight"].std == pytest.approx(0.01)
    assert plan["blocks.0.branch.2.weight"].scheme == "zeros"


# --- SkipInit and ReZero ------------------------------------------------------------------

@pytest.mark.parametrize("recipe", [skipinit, rezero])
def test_alpha_is_exactly_zero_and_the_block_is_the_identity(recipe):
    model = Net(blocks=6, gated=True)
    plan = pit.init(model, recipe(), seed=0)
    assert plan.preset == recipe.__name__
    for i, block in enumerate(model.blocks):
        assert plan[f"blocks.{i}.alpha"].scheme == "zeros"
        assert block.alpha.item() == 0.0 and block.alpha.requires_grad
        x = torch.randn(5, 16)
        assert torch.equal(block(x), x)
    # the branch keeps He: sqrt(2/16)
    assert plan["blocks.0.branch.0.weight"].std == pytest.approx(math.sqrt(2 / 16))
    assert plan["blocks.0.branch.2.weight"].std == pytest.approx(math.sqrt(2 / 16))


def test_residual_scale_computes_x_plus_alpha_branch():
    branch = nn.Linear(3, 3)
    block = ResidualScale(branch)
    assert block.alpha.shape == () and block.alpha.item() == 0.0
    with torch.no_grad():
        block.alpha.fill_(0.5)
    x = torch.randn(4, 3)
    assert torch.allclose(block(x), x + 0.5 * branch(x))


def test_skipinit_and_rezero_are_one_parametrisation():
    a, b = Net(blocks=3, gated=True), Net(blocks=3, gated=True)
    pit.init(a, skipinit(), seed=1)
    pit.init(b, rezero(), seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize("name", ["alpha", "resweight", "skipinit_gain"])
def test_scalars_are_recognised_by_name(name):
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.register_parameter(name, nn.Parameter(torch.ones(1)))

    model = nn.ModuleList([Gate(), Gate()])
    pit.init(model, skipinit(), seed=0)
    assert all(getattr(gate, name).item() == 0.0 for gate in model)


def test_a_selected_scalar():
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.gain = nn.Parameter(torch.ones(()))

    model = nn.ModuleList([Gate(), Gate()])
    plan = pit.init(model, rezero(select="*.gain"), seed=0)
    assert plan.preset == "rezero(select='*.gain')"
    assert all(gate.gain.item() == 0.0 for gate in model)


# --- ZerO ---------------------------------------------------------------------------------

def test_zer_o_values_are_exact():
    model = Net(blocks=4, width=16, inputs=8, classes=3)
    plan = pit.init(model, zer_o(), seed=0)
    assert plan.preset == "zer_o"
    w = model.stem.weight.detach().double().numpy()  # 8 -> 16 widens: p = 16, c = 1/4
    assert np.array_equal(w, zero_matrix(16, 8)) and np.all(np.abs(w) == 0.25)
    for block in model.blocks:
        assert torch.equal(block.branch[0].weight, torch.eye(16))
        assert torch.count_nonzero(block.branch[2].weight) == 0
        assert torch.count_nonzero(block.branch[0].bias) == 0
    assert torch.equal(model.head.weight, torch.eye(3, 16))  # narrows: partial identity


def test_zer_o_ignores_the_seed():
    a, b = Net(blocks=3), Net(blocks=3)
    pit.init(a, zer_o(), seed=0)
    pit.init(b, zer_o(), seed=123)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert torch.isfinite(a(torch.randn(4, 8))).all()


def test_zer_o_on_a_plain_network_is_algorithm_1_everywhere():
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 20), nn.ReLU(),
                          nn.Linear(20, 5))
    pit.init(model, zer_o())
    assert np.array_equal(model[0].weight.detach().numpy(), zero_matrix(20, 10).astype(np.float32))
    assert torch.equal(model[2].weight, torch.eye(20))
    assert torch.equal(model[4].weight, torch.eye(5, 20))


def test_zer_o_conv_centre_tap_and_gate_one():
    model = nn.ModuleList([ResidualScale(nn.Sequential(nn.Conv2d(4, 8, 3), nn.ReLU(),
                                                       nn.Conv2d(8, 4, 3)))
                           for _ in range(2)])
    pit.init(model, zer_o())
    first = model[0].branch[0].weight.detach().numpy()
    assert np.array_equal(first[:, :, 1, 1], zero_matrix(8, 4).astype(np.float32))
    assert np.count_nonzero(first) == 8 * 4
    assert torch.count_nonzero(model[0].branch[2].weight) == 0
    assert model[0].alpha.item() == 1.0


# --- bad input ----------------------------------------------------------------------------

def test_fixup_on_a_model_without_residual_branches():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with pytest.raises(InitError, match=(
            r"fixup: the model has no residual branches: no Linear/Conv weight sits in a "
            r"stack .*its weights are in '0', '2'\. Build the blocks as nn\.ModuleList.*"
            r"branches='blocks\.\*\.weight'")):
        pit.init(model, fixup())
    assert torch.count_nonzero(model[2].weight) > 0  # untouched


def test_skipinit_on_a_model_without_a_residual_scalar():
    with pytest.raises(InitError, match=(
            r"skipinit: the model has no residual scalar: no parameter named \*\.alpha, "
            r"\*\.resweight, \*\.skipinit_gain or labelled 'residual_scale' \(it has no "
            r"one-element parameter\)\. Wrap each residual branch in "
            r"paraminit\.torch\.recipes\.ResidualScale\(branch\)")):
        pit.init(Net(blocks=3), skipinit())


def test_a_selector_that_takes_nothing_or_too_much():
    with pytest.raises(InitError, match=r"rezero: the model has no residual scalar.*matches "
                                        r"select='\*\.gate'"):
        pit.init(Net(blocks=2, gated=True), rezero(select="*.gate"))
    with pytest.raises(InitError, match=r"skipinit: 'blocks\.0\.branch\.0\.weight' has shape "
                                        r"\(16, 16\); the residual scalar alpha is one number"):
        pit.init(Net(blocks=2, gated=True), skipinit(select="blocks.*"))
    with pytest.raises(InitError, match=r"fixup: branches='nothing\.\*' selects no parameter"):
        pit.init(Net(blocks=2), fixup(branches="nothing.*"))
    with pytest.raises(InitError, match=r"fixup: branches='blocks\.\*' selects "
                                        r"'blocks\.0\.branch\.0\.bias' \(kind bias\), not a "
                                        r"Linear/Conv weight"):
        pit.init(Net(blocks=2), fixup(branches="blocks.*"))
    with pytest.raises(InitError, match=r"fixup: the branch 'blocks\.0' must have exactly one "
                                        r"last layer; last='\*\.weight' selects 2"):
        pit.init(Net(blocks=2), fixup(last="*.weight"))
    with pytest.raises(InitError, match=r"fixup: classifier='\*\.weight' must select exactly "
                                        r"one weight; it selects 6"):
        pit.init(Net(blocks=2), fixup(classifier="*.weight"))


def test_a_selector_is_checked_when_the_recipe_is_made():
    with pytest.raises(InitError, match=r"fixup\(branches=''\): .*select must be"):
        fixup(branches="")
    with pytest.raises(InitError, match=r"skipinit\(select='role:weights'\): .*role"):
        skipinit(select="role:weights")


def test_fixup_without_a_classifier():
    model = nn.ModuleList([Block(4), Block(4)])
    with pytest.raises(InitError, match=r"fixup: the model has no classification layer .*"
                                        r"classifier=False"):
        pit.init(model, fixup())
    plan = pit.init(model, fixup(classifier=False), dry_run=True)
    assert plan["0.branch.2.weight"].scheme == "zeros"


def test_zer_o_with_branches_that_match_nothing():
    with pytest.raises(InitError, match=r"zer_o: branches='x\.\*' selects no parameter"):
        pit.init(Net(blocks=2), zer_o(branches="x.*"))


def test_residual_scale_needs_a_module():
    with pytest.raises(InitError, match=r"ResidualScale wraps a torch\.nn\.Module"):
        ResidualScale(lambda x: x)


# --- benchmark ----------------------------------------------------------------------------

def test_the_quick_fixup_benchmark_passes():
    from paraminit.experiments.papers import BENCHMARKS

    result = BENCHMARKS["fixup2019"].execute(quick=True)
    assert result["passed"], result["checks"]
    by_method = {r["method"]: r for r in result["records"]}
    assert set(by_method) == {"he", "fixup", "skipinit", "rezero"}
    assert by_method["he"]["initial_loss"] > 1e3  # 16 blocks: logits of order 3^8
    assert by_method["fixup"]["initial_loss"] == pytest.approx(math.log(10), rel=1e-6)  # head 0
    assert by_method["skipinit"]["loss_curve"] == by_method["rezero"]["loss_curve"]
    assert result["settings"]["blocks"] == 16 and result["settings"]["clip"] == 1.0


def test_the_benchmark_has_no_figure_and_the_report_skips_it():
    from paraminit.report.bench import figures

    assert figures({"name": "fixup2019"}) == []
