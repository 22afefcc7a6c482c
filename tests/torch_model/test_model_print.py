"""A plan and an audit read as tables and serialise to JSON (issue 15, item 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402

import paraminit.torch as pit  # noqa: E402


class Gain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.gain = nn.Parameter(torch.ones(4))


def test_print_plan_is_a_table_with_every_row_and_its_status():
    model = nn.Sequential(nn.Linear(3, 5), Gain())
    plan = pit.init(model, [pit.Rule("1.proj.weight", "normal", std=0.02, std_scale=0.5,
                                     reason="half")], seed=0, protect=["0.bias"])
    text = str(plan)
    lines = text.splitlines()
    assert lines[0] == repr(plan)
    assert lines[1].split() == ["name", "module", "role", "status", "rule", "scheme", "fan_in",
                                "fan_out", "std", "bound"]
    assert len(lines) == 3 + len(plan)
    body = {line.split()[0]: line for line in lines[3:]}
    assert body["0.bias"].split()[3] == "protected"
    assert body["1.gain"].split()[3] == "uncovered"
    assert "normal(std=0.02) x 0.5 (half)" in body["1.proj.weight"]
    assert "0.01" in body["1.proj.weight"].split()


def test_plan_to_json_round_trips_its_rows():
    model = nn.LSTM(4, 3)
    plan = pit.init(model, "orthogonal", seed=5, dry_run=True)
    data = json.loads(plan.to_json())
    assert (data["preset"], data["seed"], data["applied"]) == ("orthogonal", 5, False)
    assert data["rows"] == json.loads(json.dumps(plan.to_records()))
    assert [r["name"] for r in data["rows"]][:2] == ["weight_ih_l0[i]", "weight_ih_l0[f]"]


def test_audit_prints_its_findings_and_is_still_a_list():
    model = Gain()
    plan = pit.init(model, seed=0)
    found = pit.audit(model, plan)
    assert isinstance(found, list) and len(found) == 1 and found[0].kind == "uncovered"
    text = str(found)
    assert text.startswith("audit: 1 finding(s)\nkind")
    assert "uncovered  gain" in text and "covered by no rule" in text
    data = json.loads(found.to_json())
    assert data["findings"][0]["name"] == "gain"
    assert [r["name"] for r in data["parameters"]] == [row.name for row in plan]
    clean = nn.Linear(200, 300)
    plan = pit.init(clean, seed=0)
    found = pit.audit(clean, plan)
    assert found == []
    text = str(found)
    assert text.startswith("audit: nothing to report\n\nname    module  scheme")
    # measured std beside the target, per row
    assert found.measured["weight"] == pytest.approx(plan["weight"].std, rel=0.02)
    weight_line = next(line for line in text.splitlines() if line.startswith("weight "))
    assert f"{plan['weight'].std:.6g}" in weight_line and weight_line.endswith("ok")
    assert f"{found.measured['weight']:.6g}" in weight_line
    record = json.loads(found.to_json())["parameters"][0]
    assert record["measured_std"] == pytest.approx(found.measured["weight"])
    assert record["std"] == pytest.approx(plan["weight"].std)


def test_audit_status_names_the_finding_of_each_row():
    model = nn.Linear(50, 40)
    plan = pit.init(model, seed=0)
    with torch.no_grad():
        model.weight.mul_(3.0)
    found = pit.audit(model, plan)
    _, rows = found.table()
    status = {row[0]: row[-1] for row in rows}
    assert status == {"weight": "std_mismatch", "bias": "ok"}


def test_explain_model_finds_a_module_in_the_current_directory(tmp_path):
    (tmp_path / "mynet.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        def build():
            return nn.Sequential(nn.Linear(3, 2))
    """))
    script = Path(sys.executable).with_name("paraminit")  # not `python -m`, which adds cwd
    if not script.exists():
        pytest.skip("the paraminit console script is not installed next to this Python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(script), "explain", "--model", "mynet:build", "--json"],
                          cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [r["name"] for r in json.loads(done.stdout)["plan"]] == ["0.weight", "0.bias"]


def test_dir_shows_the_public_names_only():
    names = dir(pit)
    assert {"init", "Rule", "Audit", "PRESETS", "probe"} <= set(names)
    assert not {"Any", "annotations", "import_module"} & set(names)
