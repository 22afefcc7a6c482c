"""The planner without a framework: plain ParamInfo in, a Plan out (issue 11).

Nothing here imports torch; the first test proves a plan is built with torch absent from
``sys.modules``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

import paraminit as pi
from paraminit import InitError
from paraminit.plan import (
    Kind,
    ParamInfo,
    Rule,
    register_recipe,
    resolve_plan,
    rules_from_json,
    rules_from_toml,
    rules_to_json,
    rules_to_toml,
)
from paraminit.plan.recipes import recipe_names

LSTM_GATES = ("i", "f", "g", "o")


def _model() -> list[ParamInfo]:
    """A small model described by hand: what an adapter's describe() would give."""
    return [
        ParamInfo("emb.weight", (50, 16), role="embedding", kind=Kind.EMBEDDING, module="emb",
                  module_type="Embed", type_names=("mylib.Embed",)),
        ParamInfo("h.0.attn.weight", (48, 16), role="weight", kind=Kind.ATTENTION_IN,
                  blocks=("q", "k", "v"), module="h.0.attn", module_type="Attention",
                  type_names=("mylib.Attention", "mylib.Layer"), layer=0, depth=2),
        ParamInfo("h.0.proj.weight", (16, 16), role="weight", kind=Kind.LINEAR, layer=0,
                  depth=2, residual="out", labels=frozenset({"residual_out"}),
                  module_type="Dense", type_names=("mylib.Dense", "mylib.Layer")),
        ParamInfo("h.0.proj.bias", (16,), role="bias", kind=Kind.BIAS, bias_fan=16,
                  module_type="Dense", type_names=("mylib.Dense", "mylib.Layer")),
        ParamInfo("rnn.w_hh", (32, 8), role="recurrent", kind=Kind.RNN_RECURRENT,
                  blocks=LSTM_GATES),
        ParamInfo("rnn.b_ih", (32,), role="bias", kind=Kind.RNN_BIAS_INPUT, blocks=LSTM_GATES,
                  bias_fan=8),
        ParamInfo("ln.scale", (16,), role="norm", kind=Kind.NORM_SCALE),
        ParamInfo("ln.shift", (16,), role="norm", kind=Kind.NORM_SHIFT),
        ParamInfo("conv.kernel", (3, 3, 4, 8), role="weight", kind=Kind.CONV,
                  fan_options={"layout": "jax", "groups": 1}, stride=(2, 2)),
        ParamInfo("gate", (16,)),  # a raw parameter nobody describes: role/kind other
    ]


def test_a_plan_is_built_with_no_framework_imported():
    script = textwrap.dedent("""
        import json, sys
        from paraminit.plan import Kind, ParamInfo, Rule, resolve_plan
        params = [ParamInfo("fc.weight", (32, 64), role="weight", kind=Kind.LINEAR,
                            type_names=("flax.linen.Dense",)),
                  ParamInfo("fc.bias", (32,), role="bias", kind=Kind.BIAS)]
        plan = resolve_plan(params, [Rule("type:flax.linen.Dense", "xavier_normal")], "he",
                            seed=0)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in
                        ("torch", "jax", "flax", "keras", "tensorflow"))
        print(json.dumps({"loaded": loaded, "rows": plan.to_records()}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True)
    result = json.loads(out.stdout)
    assert result["loaded"] == []
    weight, bias = result["rows"]
    assert weight["scheme"] == "xavier_normal" and weight["fan_in"] == 64
    assert weight["std"] == pytest.approx(math.sqrt(2 / (64 + 32)), rel=1e-12)
    assert bias["scheme"] == "zeros" and bias["rule"] == "preset 'he'"


def test_presets_cover_every_described_parameter_and_leave_unknown_ones():
    plan = resolve_plan(_model(), [], "he", seed=0)
    schemes = {row.name: row.scheme for row in plan}
    assert schemes["emb.weight"] == "normal" and plan["emb.weight"].std == 1.0
    assert [schemes[f"h.0.attn.weight[{b}]"] for b in "qkv"] == ["he_normal"] * 3
    assert plan["h.0.attn.weight[q]"].fan_in == 16 and plan["h.0.attn.weight[q]"].rows == (0, 16)
    assert [schemes[f"rnn.w_hh[{g}]"] for g in LSTM_GATES] == ["orthogonal"] * 4
    assert schemes["ln.scale"] == "ones" and schemes["ln.shift"] == "zeros"
    assert schemes["h.0.proj.bias"] == "zeros"
    assert plan["gate"].status == "uncovered" and plan["gate"].spec is None
    # the jax-layout kernel (k, k, in, out) reads fan_in = 3*3*4
    assert plan["conv.kernel"].fan_in == 36 and plan["conv.kernel"].fan_out == 72


def test_selectors_by_type_name_kind_label_name_and_role():
    rules = [
        Rule("name:h.0.proj.bias", "constant", value=0.5),
        Rule("label:residual_out", "normal", std=0.01),
        Rule("type:mylib.Layer", "lecun_normal", bias="torch"),  # a base class, by name
        Rule("kind:rnn_hh", "identity"),
        Rule("role:norm", "zeros"),
    ]
    plan = resolve_plan(_model(), rules, "xavier", seed=0)
    assert plan["h.0.proj.bias"].scheme == "constant"  # the first matching rule wins
    assert plan["h.0.proj.weight"].scheme == "normal"
    assert plan["h.0.attn.weight[k]"].scheme == "lecun_normal"
    assert plan["rnn.w_hh[f]"].scheme == "identity"
    assert plan["ln.scale"].scheme == "zeros"
    assert plan["conv.kernel"].scheme == "xavier_uniform"  # the preset
    assert plan["h.0.attn.weight[q]"].rule.startswith("rule #2: 'type:mylib.Layer'")


def test_type_selector_uses_the_adapters_isinstance_hook_when_given():
    class Layer:  # stands for a framework's class, not registered anywhere
        pass

    rule = Rule("type:mylib.Dense", "zeros")
    rule.select[0].cls = Layer  # as Rule(SomeClass, ...) would hold it
    seen = []

    def is_instance(info, cls):
        seen.append((info.name, cls))
        return info.name == "conv.kernel"

    plan = resolve_plan(_model(), [rule], "he", seed=0, is_instance=is_instance)
    assert plan["conv.kernel"].scheme == "zeros"
    assert plan["h.0.proj.weight"].scheme == "he_normal"  # its type name alone no longer counts
    assert ("conv.kernel", Layer) in seen


def test_forget_bias_and_protect_work_on_descriptions():
    plan = resolve_plan(_model(), [Rule("kind:rnn_bias_ih", "zeros", forget_bias=1.0)], "he",
                        seed=0, protect=["ln.*"])
    assert plan["rnn.b_ih[f]"].spec.mean == 1.0 and plan["rnn.b_ih[i]"].spec.mean == 0.0
    assert plan["ln.scale"].status == plan["ln.shift"].status == "protected"


# ---------------------------------------------------------------------------------------
# std_scale, lr_scale, reason


@pytest.mark.parametrize(("scheme", "options"), [
    ("normal", {"std": 0.02}), ("truncated_normal", {"std": 0.02}), ("uniform", {}),
    ("he_normal", {}), ("xavier_uniform", {}), ("orthogonal", {}), ("sparse", {}),
    ("identity", {}), ("zeros", {}),
])
def test_std_scale_multiplies_the_result_std_and_bounds(scheme, options):
    scale = 1 / math.sqrt(2 * 12)
    rule = Rule("label:residual_out", scheme, std_scale=scale, reason="1/sqrt(2*12): GPT-2",
                **options)
    row = resolve_plan(_model(), [rule], "he", seed=0)["h.0.proj.weight"]
    plain = pi.resolve(scheme, (16, 16), **options)
    assert row.std == pytest.approx(plain.std * scale, rel=1e-12)
    if plain.bounds is not None:
        assert row.spec.bounds == pytest.approx(tuple(b * scale for b in plain.bounds))
    assert row.std_scale == scale and row.reason == "1/sqrt(2*12): GPT-2"
    assert row.scheme_text.endswith(" x 0.204124 (1/sqrt(2*12): GPT-2)")
    assert "std x 0.204124 (1/sqrt(2*12): GPT-2)" in row.spec.explain()
    assert row.to_dict()["std_scale"] == scale


def test_std_scale_values_are_the_scaled_law():
    import paraminit.numpy as pn

    scale = 0.25
    plain = pi.resolve("normal", (400, 400), std=0.02)
    scaled = plain.scaled(scale)
    a = pn.sample(plain, seed=3, name="w")
    b = pn.sample(scaled, seed=3, name="w")
    assert (b == a * scale).mean() > 0.999  # the same normals, scaled (ulps aside)
    assert float(b.std()) == pytest.approx(0.02 * scale, rel=5 * math.sqrt(1 / (2 * b.size)))


@pytest.mark.parametrize(("scheme", "options"), [("dirac", {}), ("constant", {"value": 2.0}),
                                                 ("ones", {})])
def test_std_scale_refuses_fixed_values(scheme, options):
    info = ParamInfo("c.weight", (4, 4, 3), role="weight", kind=Kind.CONV)
    with pytest.raises(InitError, match=r"cannot initialise 'c.weight'.*std_scale=0.5 cannot "
                                        r"scale .*its values are fixed"):
        resolve_plan([info], [Rule("c.weight", scheme, std_scale=0.5, **options)], "he", seed=0)


def test_lr_scale_is_carried_on_rows_and_collected_for_optimisers():
    rules = [Rule("role:embedding", "normal", std=0.02, lr_scale=10.0, reason="muP input"),
             Rule("type:mylib.Layer", "he_normal", lr_scale=1 / 16)]
    plan = resolve_plan(_model(), rules, "he", seed=0)
    scales = plan.lr_scales()
    assert scales["emb.weight"] == 10.0 and scales["h.0.attn.weight"] == 1 / 16
    assert scales["ln.scale"] == 1.0 and plan["emb.weight"].std == 0.02  # values unchanged
    assert set(scales) == {info.name for info in _model()}


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, True, "2", None])
@pytest.mark.parametrize("option", ["std_scale", "lr_scale"])
def test_scale_options_are_validated(option, bad):
    with pytest.raises(InitError, match=rf"option {option} must be a finite number > 0"):
        Rule("weight", "he_normal", **{option: bad})


def test_reason_needs_a_scale_and_text():
    with pytest.raises(InitError, match="reason explains a std_scale or lr_scale"):
        Rule("weight", "he_normal", reason="why")
    with pytest.raises(InitError, match="option reason must be a non-empty str"):
        Rule("weight", "he_normal", std_scale=0.5, reason="")


# ---------------------------------------------------------------------------------------
# recipes


def test_a_registered_recipe_is_a_preset():
    def halves(params):
        return [Rule(tuple(f"name:{p.name}" for p in params if p.role == "weight"), "he_normal",
                     std_scale=0.5, reason="half-He test recipe")]

    register_recipe("half_he_test", halves)
    assert "half_he_test" in recipe_names()
    plan = resolve_plan(_model(), [Rule("role:norm", "ones")], "half_he_test", seed=0)
    assert plan["h.0.proj.weight"].std == pytest.approx(0.5 * math.sqrt(2 / 16))
    assert plan["h.0.proj.weight"].rule == "preset 'half_he_test'"
    assert plan["ln.shift"].scheme == "ones"  # the user's rule comes first
    assert plan["h.0.proj.bias"].status == "uncovered"  # this recipe says nothing of biases


def test_recipe_errors():
    register_recipe("broken_test", lambda params: "he")
    with pytest.raises(InitError, match=r"recipe 'broken_test' must return a list of Rule"):
        resolve_plan(_model(), [], "broken_test", seed=0)
    with pytest.raises(InitError, match=r"preset must be one of .*'he'.*received 'hee'"):
        resolve_plan(_model(), [], "hee", seed=0)
    with pytest.raises(InitError, match="register_recipe needs a non-empty name and a callable"):
        register_recipe("x", 3)


def test_a_recipe_emitting_thousands_of_exact_name_rules_resolves_fast():
    params = [ParamInfo(f"l{i}.weight", (4, 4), role="weight", kind=Kind.LINEAR)
              for i in range(3000)]
    register_recipe("per_name_test", lambda ps: [
        Rule(f"name:{p.name}", "normal", std=0.01 * (1 + i)) for i, p in enumerate(ps)])
    plan = resolve_plan(params, [], "per_name_test", seed=0)  # O(n) with the name index
    assert plan["l2999.weight"].std == pytest.approx(30.0)


# ---------------------------------------------------------------------------------------
# descriptions and selectors: errors, round trips


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"role": "weights"}, r"w: role must be one of 'bias', .*received 'weights'"),
    ({"kind": "dense"}, r"w: kind must be a paraminit.plan.Kind .*received 'dense'"),
    ({"shape": (2, -1)}, r"shape must be a sequence of non-negative ints"),
    ({"layer": -1}, r"layer must be"),
    ({"labels": frozenset({"\ud800"})}, r"label must be valid Unicode text"),
])
def test_param_info_is_validated(kwargs, pattern):
    fields = {"shape": (2, 2), **kwargs}
    with pytest.raises(InitError, match=pattern):
        ParamInfo("w", **fields)


@pytest.mark.parametrize(("select", "pattern"), [
    ("kind:dense", r"kind must be one of 'linear', .*received 'dense'"),
    ("name:", r"select 'name:' needs a value after the colon"),
    ("label:", r"select 'label:' needs a value after the colon"),
    ("type:Densee", r"select 'type:Densee' names no module type"),
])
def test_selector_errors(select, pattern):
    with pytest.raises(InitError, match=pattern):
        Rule(select, "zeros")


_SELECTORS = st.one_of(
    st.sampled_from([f"kind:{k.value}" for k in Kind]),
    st.sampled_from(["role:bias", "weight", "glob:weight", "type:mylib.Dense", "*.bias"]),
    st.text("abc.[]*?_0", min_size=1, max_size=8).map(lambda s: f"name:{s}"),
    st.text("abcxyz_", min_size=1, max_size=8).map(lambda s: f"label:{s}"),
)
_SCALES = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)


@given(select=st.lists(_SELECTORS, min_size=1, max_size=3), std_scale=_SCALES,
       lr_scale=st.one_of(st.none(), _SCALES))
def test_rules_round_trip_through_json_and_toml(select, std_scale, lr_scale):
    options = {"std_scale": std_scale, "reason": "a reason"}
    if lr_scale is not None:
        options["lr_scale"] = lr_scale
    rule = Rule(tuple(select), "normal", std=0.02, **options)
    assert rules_from_json(rules_to_json([rule])) == [rule]
    assert rules_from_toml(rules_to_toml([rule])) == [rule]
    info = ParamInfo("abc", (3, 3), role="weight", kind=Kind.LINEAR, labels=frozenset({"abc"}),
                     type_names=("mylib.Dense",))
    assert rules_from_json(rules_to_json([rule]))[0].matches(info) == rule.matches(info)


def test_std_scale_beyond_float64_is_an_init_error():
    with pytest.raises(InitError, match=r"std_scale=1e\+300 on normal .* beyond float64's range"):
        pi.resolve("normal", (3, 3), std=1e300).scaled(1e300)


_FUZZ_SCHEMES = sorted(s.name for s in pi.schemes())


@given(scheme=st.sampled_from(_FUZZ_SCHEMES),
       shape=st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple),
       kind=st.sampled_from(list(Kind)), blocks=st.sampled_from([(), ("a", "b"), LSTM_GATES]),
       std_scale=st.one_of(st.none(), st.sampled_from([5e-324, 1e-300, 1e-8, 0.5, 3.0, 1e8,
                                                       1e300, 1.7e308])),
       lr_scale=st.one_of(st.none(), st.floats(1e-300, 1e300)))
def test_fuzz_plans_are_init_errors_or_finite(scheme, shape, kind, blocks, std_scale, lr_scale):
    options = {k: v for k, v in (("std_scale", std_scale), ("lr_scale", lr_scale))
               if v is not None}
    try:
        info = ParamInfo("p", shape, role="weight", kind=kind, blocks=blocks)
        plan = resolve_plan([info], [Rule("p", scheme, **options)], "he", seed=0)
    except InitError:
        return
    for row in plan:
        assert math.isfinite(row.std) and math.isfinite(row.spec.mean)
        if row.spec.bounds is not None:
            assert all(math.isfinite(b) for b in row.spec.bounds)
        assert row.std_scale == std_scale and row.lr_scale == lr_scale


def test_a_rules_fan_option_that_contradicts_the_layer_is_an_init_error():
    info = ParamInfo("c.weight", (8, 2, 3, 3), role="weight", kind=Kind.CONV,
                     fan_options={"groups": 2}, module_type="Conv2d")
    same = resolve_plan([info], [Rule("c.weight", "he_normal", groups=2)], "he", seed=0)
    assert same["c.weight"].fan_in == 2 * 9
    with pytest.raises(InitError, match=r"'c.weight' \(Conv2d\) by rule #0.*gives groups=4 but "
                                        r"the layer has groups=2.*drop it from the rule"):
        resolve_plan([info], [Rule("c.weight", "he_normal", groups=4)], "he", seed=0)
