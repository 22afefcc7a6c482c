"""μP (Tensor Programs V, Tables 3 and 8): multipliers, init laws and errors, checked against
the numbers of the tables and, when installed, against the ``mup`` package itself."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import paraminit.torch as pit  # noqa: E402
from paraminit import InitError  # noqa: E402
from paraminit.torch.recipes import MuReadout, attention_scale, mup, param_groups  # noqa: E402

Z = 5.0  # sampling-error multiple for std checks: |s/σ - 1| <= Z sqrt(1/(2n))


def mlp(width: int, head: type = nn.Linear, base: int = 64, inputs: int = 20,
        classes: int = 10) -> nn.Sequential:
    """20 -> 2w -> w -> 10 (a non-square hidden layer, so fan_in and fan_out multipliers
    differ when the base's ratio differs)."""
    if head is nn.Linear:
        readout = nn.Linear(width, classes)
    elif head is MuReadout:
        readout = MuReadout(width, classes, base_in_features=base)
    else:
        readout = head(width, classes)
    return nn.Sequential(nn.Linear(inputs, 2 * width), nn.ReLU(), nn.Linear(2 * width, width),
                         nn.ReLU(), readout)


def rows(plan):
    return {row.name: row for row in plan}


# -- the tables' numbers ------------------------------------------------------------------

def test_adam_table_3_init_form():
    plan = pit.init(mlp(256), mup(mlp(64)), seed=0)
    assert plan.preset == "mup(optimizer='adam')"
    w = 4.0  # 256 / 64 (and 512 / 128)
    assert plan.lr_scales() == {"0.weight": 1.0, "0.bias": 1.0, "2.weight": pytest.approx(1 / w),
                                "2.bias": 1.0, "4.weight": pytest.approx(1 / w), "4.bias": 1.0}
    r = rows(plan)
    assert r["0.weight"].std == pytest.approx(math.sqrt(2 / 20))  # He on fan_in 20
    assert r["2.weight"].std == pytest.approx(math.sqrt(2 / 512))
    assert r["4.weight"].std == 0.0 and r["4.bias"].std == 0.0  # zero readout (default)
    assert all(r[name].std == 0.0 for name in ("0.bias", "2.bias"))


def test_sgd_table_3_init_form_without_zero_readout():
    plan = pit.init(mlp(256), mup(mlp(64), optimizer="sgd", zero_readout=False), seed=0)
    w = 4.0
    scales = plan.lr_scales()
    assert scales["0.weight"] == pytest.approx(w)  # input: eta * fan_out
    assert scales["0.bias"] == scales["2.bias"] == pytest.approx(w)
    assert scales["2.weight"] == pytest.approx(1.0)  # hidden: eta (fan_out/fan_in mult 1)
    assert scales["4.weight"] == pytest.approx(1 / w)  # output: eta / fan_in
    assert scales["4.bias"] == 1.0
    # output: Var = gain^2/fan_in / w, i.e. ∝ 1/fan_in^2 (Table 3)
    assert rows(plan)["4.weight"].std == pytest.approx(math.sqrt(2 / 256) / math.sqrt(w))


def test_non_square_hidden_growth_under_sgd_and_adam():
    # base 20 -> 64 -> 64 -> 10, model 20 -> 512 -> 256: hidden fan_in x8, fan_out x4
    base = {"0.weight": (64, 20), "0.bias": (64,), "2.weight": (64, 64), "2.bias": (64,),
            "4.weight": (10, 64), "4.bias": (10,)}
    sgd = pit.init(mlp(256), mup(base, optimizer="sgd"), seed=0).lr_scales()
    adam = pit.init(mlp(256), mup(base), seed=0).lr_scales()
    assert sgd["2.weight"] == pytest.approx(4 / 8) and adam["2.weight"] == pytest.approx(1 / 8)
    assert sgd["0.weight"] == pytest.approx(8) and sgd["2.bias"] == pytest.approx(4)
    assert sgd["4.weight"] == adam["4.weight"] == pytest.approx(1 / 4)


def test_multiplier_form_table_8():
    recipe = mup(mlp(64, MuReadout), optimizer="sgd", zero_readout=False)
    plan = pit.init(mlp(256, MuReadout), recipe, seed=0)
    assert recipe.readout is None and "readout='" not in recipe.name  # chosen from the layer
    r = rows(plan)
    assert r["4.weight"].std == pytest.approx(math.sqrt(2 / 256) * 2.0)  # base std, 2/sqrt(64)
    assert plan.lr_scales()["4.weight"] == pytest.approx(4.0)  # SGD eta * fan_in
    adam = pit.init(mlp(256, MuReadout), mup(mlp(64, MuReadout)), seed=0)
    assert adam.lr_scales()["4.weight"] == 1.0


def test_values_have_the_planned_law_and_the_readout_is_exactly_zero():
    model = mlp(512)
    plan = pit.init(model, mup(mlp(64)), seed=3)
    assert torch.count_nonzero(model[4].weight) == 0 and torch.count_nonzero(model[4].bias) == 0
    weight = model[2].weight.detach().double()
    n = weight.numel()
    assert abs(float(weight.std()) / rows(plan)["2.weight"].std - 1) <= Z * math.sqrt(1 / (2 * n))


def test_delta_plans_the_base_model_itself():
    plan = pit.init(mlp(64), mup(mlp(64), delta=mlp(128), optimizer="sgd"), seed=0)
    assert set(plan.lr_scales().values()) == {1.0}  # every width multiplier is 1
    assert [row.reason.split(",")[0] for row in plan] == [
        "μP input", "μP vector", "μP hidden", "μP vector", "μP output", "μP finite"]


def test_embeddings_norms_and_attention_projections():
    class Net(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.emb = nn.Embedding(50, d)
            self.attn = nn.MultiheadAttention(d, 4)
            self.norm = nn.LayerNorm(d)
            self.head = nn.Linear(d, 50)

    plan = pit.init(Net(128), mup(Net(32), optimizer="sgd"), seed=0)
    scales, r = plan.lr_scales(), rows(plan)
    assert scales["emb.weight"] == pytest.approx(4.0) and r["emb.weight"].std == 1.0
    assert scales["attn.in_proj_weight"] == pytest.approx(1.0)  # 384x128 from 96x32: hidden
    assert r["attn.in_proj_weight[q]"].std == pytest.approx(math.sqrt(2 / 128))
    assert scales["norm.weight"] == pytest.approx(4.0) and r["norm.weight"].spec.mean == 1.0
    assert scales["head.weight"] == pytest.approx(0.25)
    adam = pit.init(Net(128), mup(Net(32)), seed=0).lr_scales()
    assert adam["attn.in_proj_weight"] == adam["attn.out_proj.weight"] == pytest.approx(0.25)
    assert adam["emb.weight"] == adam["norm.weight"] == 1.0


def test_param_groups_scale_lr_and_weight_decay():
    model = mlp(256)
    plan = pit.init(model, mup(mlp(64)), seed=0)
    groups = param_groups(model, plan, lr=0.01, weight_decay=0.1)
    assert [g["lr_scale"] for g in groups] == [pytest.approx(0.25), 1.0]
    assert groups[0]["lr"] == pytest.approx(0.0025) and groups[0]["weight_decay"] == \
        pytest.approx(0.4)
    assert {id(p) for p in groups[0]["params"]} == {id(model[2].weight), id(model[4].weight)}
    optimizer = torch.optim.AdamW(groups, lr=0.01)
    assert [g["lr"] for g in optimizer.param_groups] == [pytest.approx(0.0025), 0.01]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_init_form_and_multiplier_form_train_the_same_function(optimizer):
    """Table 3 (init + lr) and Table 8 (forward multiplier) are one parametrization: the
    readout values differ by exactly w, and outputs agree before and after training."""
    torch.manual_seed(0)
    x, y = torch.randn(32, 20, dtype=torch.float64), torch.randint(0, 10, (32,))
    models = {}
    for head in (nn.Linear, MuReadout):
        model = mlp(256, head).double()
        plan = pit.init(model, mup(mlp(64, head), optimizer=optimizer, zero_readout=False),
                        seed=5)
        groups = param_groups(model, plan, lr=0.05 if optimizer == "sgd" else 1e-3)
        opt = (torch.optim.SGD(groups) if optimizer == "sgd"
               else torch.optim.Adam(groups, eps=1e-16))
        models[head] = (model, opt)
    plain, multiplied = models[nn.Linear][0], models[MuReadout][0]
    torch.testing.assert_close(multiplied[4].weight / 4.0, plain[4].weight)
    for _ in range(3):
        for model, opt in models.values():
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    torch.testing.assert_close(multiplied(x), plain(x), rtol=1e-6, atol=1e-8)


def test_mu_readout_and_attention_scale():
    head = MuReadout(256, 10, base_in_features=64, output_mult=2.0)
    x = torch.randn(3, 256)
    torch.testing.assert_close(head(x), nn.functional.linear(x * 0.5, head.weight, head.bias))
    assert head.width_mult == 4.0
    assert attention_scale(64, 64) == pytest.approx(1 / 8)  # 1/sqrt(d) at the base width
    assert attention_scale(256, 64) == pytest.approx(8 / 256)  # then 1/d


# -- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "needle"), [
    (lambda: pit.init(mlp(64), mup(mlp(64))), "every parameter of the model has its base"),
    (lambda: pit.init(mlp(64), mup(nn.Sequential(nn.Linear(20, 64)))), "base does not match"),
    (lambda: pit.init(mlp(128), mup({**{n: tuple(p.shape) for n, p in
                                        mlp(64).named_parameters()}, "2.weight": (128,)})),
     "differ in their number of dims"),
    (lambda: pit.init(mlp(128), mup(mlp(64), readout="multiplier")), "is not a MuReadout"),
    (lambda: pit.init(mlp(128, MuReadout), mup(mlp(64, MuReadout), readout="init")),
     "is a MuReadout"),
    (lambda: mup(mlp(64), optimizer="rmsprop"), "optimizer must be one of"),
    (lambda: mup(mlp(64), scheme="xavier_uniform"), "scheme must be one of"),
    (lambda: mup(mlp(64), scheme_options={"mode": "fan_out"}), "mode must be 'fan_in'"),
    (lambda: mup(mlp(64), delta=mlp(64)), "delta has the base's shapes everywhere"),
    (lambda: mup([1, 2]), "base must be a torch model"),
    (lambda: pit.init(nn.Conv2d(3, 8, 5), mup({"weight": (8, 3, 3, 3), "bias": (8,)})),
     "kernel dim"),
    (lambda: param_groups(mlp(64), "plan", lr=0.1), "plan must be the Plan"),
    (lambda: param_groups(mlp(128), pit.init(mlp(128), mup(mlp(64))), lr=0.0), "lr must be > 0"),
])
def test_bad_input_names_the_argument_and_a_fix(make, needle):
    with pytest.raises(InitError, match=needle):
        make()


def test_a_mismatch_lists_the_names():
    with pytest.raises(InitError) as error:
        pit.init(mlp(128), mup({"0.weight": (64, 20)}))
    assert "'0.bias'" in str(error.value) and "Fix: build the base model" in str(error.value)


# -- the mup package ------------------------------------------------------------------------

def _mup_package():
    return pytest.importorskip("mup")


def _mup_lrs(model, optimizer, **kwargs):
    """Each parameter name -> the lr (and weight decay) mup's optimizer gives it at lr=1."""
    package = _mup_package()
    make = {"adam": package.MuAdam, "sgd": package.MuSGD}[optimizer]
    opt = make(model.parameters(), lr=1.0, **kwargs)
    by_id = {id(p): (g["lr"], g["weight_decay"]) for g in opt.param_groups for p in g["params"]}
    return {name: by_id[id(p)] for name, p in model.named_parameters()}


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("base", [{"width": 64}, {"shapes": True}])
def test_lr_multipliers_equal_mup(optimizer, base):
    package = _mup_package()
    shapes = {"0.weight": (64, 20), "0.bias": (64,), "2.weight": (64, 64), "2.bias": (64,),
              "4.weight": (10, 64), "4.bias": (10,)}
    base_model = mlp(64, package.MuReadout) if "width" in base else shapes
    model = mlp(256, package.MuReadout)
    package.set_base_shapes(model, base_model)
    theirs = _mup_lrs(model, optimizer, weight_decay=0.1)
    ours_model = mlp(256, package.MuReadout)
    plan = pit.init(ours_model, mup(base_model, optimizer=optimizer), seed=0)
    assert plan.lr_scales() == pytest.approx({name: lr for name, (lr, _) in theirs.items()})
    groups = param_groups(ours_model, plan, lr=1.0, weight_decay=0.1)
    ours = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert {name: ours[id(p)] for name, p in ours_model.named_parameters()} == pytest.approx(
        {name: wd for name, (_, wd) in theirs.items()})


def _std_close(tensor, target):
    n = tensor.numel()
    measured = float(tensor.detach().double().std(correction=0))
    assert abs(measured / target - 1) <= Z * math.sqrt(1 / (2 * n)), (measured, target)


def test_init_stds_equal_mup_kaiming_normal():
    package = _mup_package()
    torch.manual_seed(0)
    model = mlp(512, package.MuReadout)
    package.set_base_shapes(model, mlp(64, package.MuReadout), rescale_params=False)
    for module in (model[0], model[2], model[4]):
        package.init.kaiming_normal_(module.weight, nonlinearity="relu")
    plan = pit.init(mlp(512, package.MuReadout), mup(mlp(64, package.MuReadout),
                                                     zero_readout=False), dry_run=True)
    r = rows(plan)
    for name, module in (("0.weight", model[0]), ("2.weight", model[2]), ("4.weight", model[4])):
        _std_close(module.weight, r[name].std)
    assert r["4.weight"].std == pytest.approx(math.sqrt(2 / 64))  # the base width's


def test_init_stds_equal_mup_rescaled_torch_default():
    """set_base_shapes(rescale_params=True) on torch's default init: readout std x sqrt(w),
    i.e. our he_uniform(slope=sqrt(5)) (U(+-1/sqrt(fan_in))) with readout='multiplier'."""
    package = _mup_package()
    torch.manual_seed(1)
    model = mlp(512, package.MuReadout)
    package.set_base_shapes(model, mlp(64, package.MuReadout))
    torch_default = {"nonlinearity": "leaky_relu", "slope": math.sqrt(5.0)}
    plan = pit.init(mlp(512, package.MuReadout),
                    mup(mlp(64, package.MuReadout), zero_readout=False, scheme="he_uniform",
                        scheme_options=torch_default), dry_run=True)
    r = rows(plan)
    for name, module in (("0.weight", model[0]), ("2.weight", model[2]), ("4.weight", model[4])):
        _std_close(module.weight, r[name].std)
    assert r["4.weight"].std == pytest.approx(1 / math.sqrt(3 * 64))
    # mup keeps torch's bias law at the base width; μP allows any width-independent bias, and
    # this recipe starts every bias at 0.
    _std_close(model[2].bias, 1 / math.sqrt(3 * 128))
    assert r["2.bias"].std == 0.0


def test_zero_readout_equals_mup_readout_zero_init():
    package = _mup_package()
    model = nn.Sequential(nn.Linear(20, 256), nn.ReLU(),
                          package.MuReadout(256, 10, readout_zero_init=True))
    base = nn.Sequential(nn.Linear(20, 64), nn.ReLU(),
                         package.MuReadout(64, 10, readout_zero_init=True))
    package.set_base_shapes(model, base)
    ours = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), package.MuReadout(256, 10))
    pit.init(ours, mup(base), seed=0)
    assert torch.equal(ours[2].weight, model[2].weight) and torch.equal(ours[2].bias,
                                                                        model[2].bias)
    assert torch.count_nonzero(ours[2].weight) == 0


# -- the benchmark --------------------------------------------------------------------------

def test_quick_benchmark_transfers_the_learning_rate():
    pytest.importorskip("sklearn")
    from paraminit.experiments.papers import BENCHMARKS

    result = BENCHMARKS["mup2022"].execute(quick=True)
    assert [c["passed"] for c in result["checks"]] == [True] * 4, result["checks"]
    best = result["settings"]["best_log2_lr"]
    assert max(best["mup"]) - min(best["mup"]) <= 1 and best["sp"][0] - best["sp"][-1] >= 1
    sweeps = [r for r in result["records"] if r["kind"] == "lr_sweep"]
    assert len(sweeps) == 2 * 2 * len(result["settings"]["log2_lrs"])
    slopes = result["settings"]["coord_slopes"]
    assert slopes["sp"][-1] >= 0.3 and max(map(abs, slopes["mup"])) <= 0.15
    pytest.importorskip("matplotlib")
    from paraminit.report.bench import figures

    assert [stem for stem, _, _ in figures(result)] == ["lr_transfer"]
