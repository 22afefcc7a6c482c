"""Rules as data: dict, JSON and TOML round trips; malformed input names the rule and line."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import paraminit.torch as pit  # noqa: E402
from paraminit import InitError  # noqa: E402
from paraminit.plan import rules_from_json  # noqa: E402

RULES = [
    pit.Rule(nn.Linear, "he_normal", mode="fan_out", bias="torch"),
    pit.Rule((nn.Conv2d, "ConvTranspose2d"), "xavier_uniform", gain=2.0, stride_aware=True),
    pit.Rule("encoder.*.weight", "orthogonal"),
    pit.Rule("recurrent", "orthogonal", gain=1.0),
    pit.Rule(nn.LSTM, "lecun_normal", forget_bias=1.0, blocks=True),
    pit.Rule("glob:weight", "zeros"),  # a literal name that reads as a role without the prefix
    pit.Rule("norm", "constant", value=0.5),
]


def test_dict_round_trip():
    for rule in RULES:
        data = rule.to_dict()
        json.dumps(data)  # JSON-ready
        assert pit.Rule.from_dict(data) == rule
    assert RULES[0].to_dict() == {"select": "torch.nn.Linear", "scheme": "he_normal",
                                  "options": {"mode": "fan_out", "bias": "torch"}}
    assert RULES[1].to_dict()["select"] == ["torch.nn.Conv2d", "torch.nn.ConvTranspose2d"]
    assert RULES[5].to_dict()["select"] == "glob:weight"


def test_json_and_toml_round_trip(tmp_path):
    assert pit.rules_from_json(pit.rules_to_json(RULES)) == RULES
    text = pit.rules_to_toml(RULES)
    assert text.count("[[rules]]") == len(RULES)
    assert pit.rules_from_toml(text) == RULES
    (tmp_path / "r.toml").write_text(text)
    (tmp_path / "r.json").write_text(json.dumps({"rules": [r.to_dict() for r in RULES]}))
    assert pit.load_rules(tmp_path / "r.toml") == pit.load_rules(tmp_path / "r.json") == RULES


def test_aliases_and_custom_types_by_dotted_name():
    rule = pit.Rule.from_dict({"select": "Linear", "scheme": "kaiming_normal"})
    assert rule.scheme == "he_normal" and rule.select[0].cls is nn.Linear
    # a class of an imported module, by its dotted path (never imported by the reader)
    rule = pit.Rule.from_dict({"select": f"{__name__}.Custom", "scheme": "zeros"})
    assert rule.select[0].cls is Custom
    assert pit.Rule.from_dict(rule.to_dict()) == rule


class Custom(nn.Module):
    pass


@pytest.mark.parametrize("data, message", [
    ({"select": "Linear", "scheme": "he_normal", "opts": {}}, r"rule #0: unknown key\(s\) 'opts'"),
    ({"select": "Linear"}, "missing key 'scheme'"),
    ({"select": "Linear", "scheme": "he_normall"}, "scheme must be one of.*he_normall"),
    ({"select": "Linear", "scheme": "he_normal", "options": {"mdoe": "fan_in"}},
     "unknown option.*'mdoe'"),
    ({"select": "Linear", "scheme": "he_normal", "options": {"mode": "fan_inn"}}, "fan_inn"),
    ({"select": "Linearr", "scheme": "zeros"}, r"'Linearr' names no .*torch\.nn type nor"),
    ({"select": "torch.nn.Linearr", "scheme": "zeros"},
     r"'torch\.nn\.Linearr' names no .*torch\.nn type nor"),
    ({"select": "role:weights", "scheme": "zeros"}, "role must be one of"),
    ({"select": "Linear", "scheme": "zeros", "options": {"bias": "xavier"}}, "option bias"),
    ({"select": "Linear", "scheme": "zeros", "options": {"forget_bias": "1"}}, "forget_bias"),
    ({"select": [], "scheme": "zeros"}, "must not be empty"),
    ("Linear", "a rule must be a table/dict"),
])
def test_malformed_rules(data, message):
    with pytest.raises(InitError, match=message):
        pit.init(nn.Linear(2, 2), [data], dry_run=True)


def test_json_errors_name_the_line():
    text = '[\n  {"select": "Linear", "scheme": "he_normal"},\n\n  {"select": "bias",\n' \
           '   "scheme": "zeros", "options": {"valu": 1}}\n]'
    with pytest.raises(InitError, match=r"rule #1 \(line 4\).*'valu'"):
        rules_from_json(text)
    with pytest.raises(InitError, match="line 2, column"):
        rules_from_json('[\n  {"select": }]')
    with pytest.raises(InitError, match="single key 'rules'"):
        rules_from_json('{"rulez": []}')


def test_toml_errors_name_the_line(tmp_path):
    text = ('[[rules]]\nselect = "Linear"\nscheme = "he_normal"\n\n'
            '[[rules]]\nselect = "bias"\nscheme = "zeros"\nshceme = "x"\n')
    with pytest.raises(InitError, match=r"rule #1 \(\[\[rules\]\] at line 5\).*'shceme'"):
        pit.rules_from_toml(text)
    with pytest.raises(InitError, match="line 2"):
        pit.rules_from_toml('[[rules]]\nselect = \n')
    with pytest.raises(InitError, match="unknown top-level key"):
        pit.rules_from_toml('preset = "he"\n')
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InitError, match=r"bad\.toml: rule #1"):
        pit.load_rules(path)
    with pytest.raises(InitError, match=r"\.json or \.toml"):
        pit.load_rules(tmp_path / "rules.yaml")


def test_toml_cannot_hold_none():
    with pytest.raises(InitError, match="no TOML form"):
        pit.rules_to_toml([pit.Rule("weight", "sparse", sparsity=None)])


def test_rules_from_file_drive_init(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[[rules]]\nselect = "Linear"\nscheme = "xavier_uniform"\n'
                    'options = { bias = "torch" }\n')
    plan = pit.init(nn.Linear(10, 10), pit.load_rules(path), dry_run=True)
    assert plan["weight"].scheme == "xavier_uniform" and plan["bias"].scheme == "uniform"
