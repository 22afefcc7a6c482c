"""``paraminit explain --model pkg.module:factory``: the plan table, JSON and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from paraminit.cli import main

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _factories_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))


def test_explain_model_table(capsys):
    assert main(["explain", "--model", "model_factories:small"]) == 0
    out = capsys.readouterr().out
    assert "init plan of model_factories:small" in out
    assert "0.weight" in out and "he_normal" in out and "27" in out  # fan_in 3 x 3 x 3
    assert "uncovered" in out and "2.gain" in out


def test_explain_model_json(capsys, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text('[{"select": "2.gain", "scheme": "ones"}]')
    assert main(["explain", "--model", "model_factories:small", "--rules", str(rules),
                 "--preset", "xavier", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {row["name"]: row for row in data["plan"]}
    assert rows["0.weight"]["scheme"] == "xavier_uniform"
    assert rows["0.weight"]["fan_in"] == 27 and rows["0.weight"]["fan_out"] == 72
    assert rows["2.gain"]["scheme"] == "ones"
    assert data["audit"] == []


@pytest.mark.parametrize("argv, message", [
    (["explain"], "needs a SCHEME and --shape"),
    (["explain", "he_normal"], "needs a SCHEME and --shape"),
    (["explain", "--model", "model_factories"], "pkg.module:factory"),
    (["explain", "--model", "no_such_module_xyz:f"], "cannot import"),
    (["explain", "--model", "model_factories:missing"], "no attribute"),
    (["explain", "--model", "model_factories:not_a_model"], "not a torch.nn.Module"),
    (["explain", "--model", "model_factories:small", "--preset", "kaiming"], "preset must be"),
])
def test_explain_errors_exit_2(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_explain_scheme_still_works(capsys):
    assert main(["explain", "he_normal", "--shape", "256,128,3,3"]) == 0
    assert "0.04166667" in capsys.readouterr().out
