"""A rule's ``std_scale`` as a mapping scales each block of a stacked weight by its own
factor (T-Fixup and DeepNorm scale MHA's v block, not q and k)."""

from __future__ import annotations

import math

import pytest

from paraminit import InitError
from paraminit.plan import ParamInfo, Rule, resolve_plan
from paraminit.plan._io import rules_from_json, rules_from_toml, rules_to_json, rules_to_toml

D = 16
IN_PROJ = ParamInfo("attn.in_proj_weight", (3 * D, D), role="weight", kind="mha_in",
                    blocks=("q", "k", "v"))
LINEAR = ParamInfo("fc.weight", (D, D), role="weight", kind="linear")
SCALES = {"q": 1.0, "k": 1.0, "v": 0.25}


def test_each_block_gets_its_factor():
    rule = Rule("kind:mha_in", "xavier_normal", std_scale=SCALES, reason="v only")
    plan = resolve_plan([IN_PROJ], [rule], "xavier", seed=0)
    xavier = math.sqrt(2.0 / (D + D))
    rows = {row.block: row for row in plan.rows_of("attn.in_proj_weight")}
    for label, factor in SCALES.items():
        assert rows[label].std == pytest.approx(xavier * factor, rel=1e-12)
        assert rows[label].std_scale == factor and rows[label].reason == "v only"


def test_mapping_must_name_every_block():
    rule = Rule("kind:mha_in", "xavier_normal", std_scale={"q": 1.0, "v": 0.5})
    with pytest.raises(InitError, match=r"maps blocks \['q', 'v'\].*blocks \['q', 'k', 'v'\]"):
        resolve_plan([IN_PROJ], [rule], "xavier", seed=0)


def test_mapping_on_a_parameter_without_blocks_is_an_error():
    rule = Rule("fc.weight", "xavier_normal", std_scale=SCALES)
    with pytest.raises(InitError, match=r"whole \(no blocks\).*give one factor"):
        resolve_plan([LINEAR], [rule], "xavier", seed=0)


@pytest.mark.parametrize("bad", [{}, {"q": 0.0}, {"": 1.0}, {"q": math.nan}])
def test_bad_mappings_are_refused_when_built(bad):
    with pytest.raises(InitError, match="std_scale"):
        Rule("kind:mha_in", "xavier_normal", std_scale=bad)


def test_mapping_round_trips_through_json_and_toml():
    rule = Rule("kind:mha_in", "xavier_normal", std_scale=SCALES, reason="v only")
    assert rules_from_json(rules_to_json([rule])) == [rule]
    assert rules_from_toml(rules_to_toml([rule])) == [rule]
