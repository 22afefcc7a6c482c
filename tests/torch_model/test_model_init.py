"""init(): rules, tied weights, protect, atomicity, prefixes, audit, meta, skip_default_init."""

from __future__ import annotations

import math
import re

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import paraminit.torch as pit  # noqa: E402
from paraminit import InitError  # noqa: E402


class TinyLM(nn.Module):
    """Embedding tied to the output head, a norm, an attention block, a custom parameter."""

    def __init__(self, vocab: int = 50, d: int = 16) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.block = nn.TransformerEncoderLayer(d, 2, 32, dropout=0.0)
        self.bn = nn.BatchNorm1d(d)
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight
        self.temperature = nn.Parameter(torch.ones(1))


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_plan_rows_have_the_promised_fields():
    plan = pit.init(nn.Linear(4, 3), dry_run=True)
    for row in plan:
        assert {"name", "scheme", "fan_in", "fan_out", "std"} <= set(row.to_dict())
    assert plan["weight"].scheme == "he_normal" and plan["bias"].scheme == "zeros"
    assert plan.preset == "he" and "preset='he'" in repr(plan)


def test_dry_run_changes_nothing():
    model = TinyLM()
    before = _state(model)
    plan = pit.init(model, "xavier", dry_run=True)
    assert not plan.applied and _same(before, _state(model))


def test_first_matching_rule_wins_and_dict_rules():
    net = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
    with pytest.warns(pit.InitWarning, match="rule #2"):
        plan = pit.init(net, [
            {"select": "1.weight", "scheme": "zeros"},
            pit.Rule(nn.Linear, "xavier_normal"),
            pit.Rule("weight", "ones"),
        ], seed=1, preset="lecun")
    assert plan["0.weight"].scheme == "xavier_normal"
    assert plan["1.weight"].scheme == "zeros" and torch.count_nonzero(net[1].weight) == 0
    assert plan["0.bias"].rule == "preset 'lecun'"  # a type rule leaves biases to the preset


def test_values_depend_only_on_seed_and_name():
    a, b = nn.Linear(16, 16), nn.Linear(16, 16)
    pit.init(a, seed=3)
    pit.init(b, seed=3)
    assert torch.equal(a.weight, b.weight)
    pit.init(b, seed=4)
    assert not torch.equal(a.weight, b.weight)
    from paraminit import numpy as pn

    expected = pn.sample("he_normal", (16, 16), seed=3, name="weight", dtype="float32")
    assert torch.equal(a.weight, torch.from_numpy(expected))


def test_submodule_alone_equals_in_model():
    whole = TinyLM()
    part = TinyLM()
    pit.init(whole, "xavier", seed=9)
    pit.init(part.block, "xavier", seed=9, prefix="block.")
    for name, value in part.block.named_parameters():
        assert torch.equal(value, dict(whole.block.named_parameters())[name]), name


def test_tied_weights_initialised_once():
    model = TinyLM()
    plan = pit.init(model, seed=2)
    assert model.head.weight is model.wte.weight
    (row,) = plan.rows_of("wte.weight")
    assert row.aliases == ("head.weight",) and "head.weight" not in plan
    # an embedding tied to an output projection gets the projection's law under a preset
    # (not N(0, 1), which as the projection gives logits of std ~sqrt(d)): no conflict left
    assert row.scheme == "he_normal" and row.fan_in == model.wte.weight.shape[1]
    assert not any("tied parameter" in note for note in row.notes)
    plan = pit.init(model, "torch_default", seed=2)  # torch's own laws: the first owner's
    (row,) = plan.rows_of("wte.weight")
    assert row.scheme == "normal" and any("tied parameter" in note for note in row.notes)


def test_tied_disagreeing_rules_warn():
    model = TinyLM()
    with pytest.warns(pit.InitWarning, match="tied parameter 'wte.weight' = 'head.weight'"):
        pit.init(model, [pit.Rule(nn.Linear, "xavier_uniform"),
                         pit.Rule("temperature", "ones")])


def test_rule_matching_nothing_warns():
    with pytest.warns(pit.InitWarning, match="rule #0 .* matches no parameter"):
        pit.init(nn.Linear(3, 3), [pit.Rule(nn.Conv2d, "he_normal")])
    with pytest.warns(pit.InitWarning, match="rule #1 .* earlier rules"):
        pit.init(nn.Linear(3, 3), [pit.Rule("weight", "zeros"), pit.Rule("weight", "ones")])


def test_protect_keeps_values():
    model = TinyLM()
    before = _state(model)
    plan = pit.init(model, protect=["ln.*", "block.self_attn.in_proj_weight"])
    after = _state(model)
    for key in ("ln.weight", "ln.bias", "block.self_attn.in_proj_weight"):
        assert torch.equal(before[key], after[key]), key
        assert plan[key].status == "protected"
    assert not torch.equal(before["block.linear1.weight"], after["block.linear1.weight"])


def test_atomic_on_a_scheme_that_does_not_fit():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4, 2))
    before = _state(net)
    with pytest.raises(InitError, match=r"'2.weight' \(Linear.*dirac needs"):
        pit.init(net, [pit.Rule(nn.Conv2d, "he_normal"), pit.Rule("2.weight", "dirac")])
    assert _same(before, _state(net))


def test_atomic_when_sampling_fails_late():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    net[1].register_parameter(
        "steps", nn.Parameter(torch.zeros(3, dtype=torch.int64), requires_grad=False))
    before = _state(net)
    with pytest.raises(InitError, match=r"1\.steps"):
        pit.init(net, [pit.Rule("1.steps", "normal", std=1.0)])
    assert _same(before, _state(net))


def test_glob_rule_on_bias_with_fan_scheme_is_an_error():
    with pytest.raises(InitError, match=r"'0\.bias'.*narrow the rule"):
        pit.init(nn.Sequential(nn.Linear(3, 3)), [pit.Rule("0.*", "he_normal")])


def test_bias_option_torch_style():
    layer = nn.Linear(100, 50)
    plan = pit.init(layer, [pit.Rule(nn.Linear, "xavier_uniform", bias="torch")])
    assert plan["bias"].bound == pytest.approx(0.1)
    assert float(layer.bias.detach().abs().max()) <= 0.1 and torch.count_nonzero(layer.bias) == 50
    pit.init(layer, [pit.Rule(nn.Linear, "xavier_uniform", bias=0.5)])
    assert torch.all(layer.bias == 0.5)


def test_audit_reports_raw_parameter_and_std_mismatch():
    model = TinyLM()
    plan = pit.init(model, seed=0)
    records = pit.audit(model, plan)
    kinds = {(r.kind, r.name) for r in records}
    assert ("uncovered", "temperature") in kinds
    assert not [r for r in records if r.kind == "std_mismatch"]
    with torch.no_grad():
        model.block.linear1.weight.mul_(1.5)
        model.ln.bias.fill_(0.1)
    records = pit.audit(model, plan)
    mismatched = {r.name for r in records if r.kind == "std_mismatch"}
    assert mismatched == {"block.linear1.weight", "ln.bias"}
    record = next(r for r in records if r.name == "block.linear1.weight")
    assert record.measured / record.target == pytest.approx(1.5, rel=0.05)
    assert record.tolerance == pytest.approx(5 * math.sqrt(1 / (2 * 32 * 16)))


def test_audit_covered_by_rule_and_initialised_twice():
    model = TinyLM()
    plan = pit.init(model, [pit.Rule("temperature", "ones")])
    assert not [r for r in pit.audit(model, plan) if r.kind == "uncovered"]
    a = nn.Linear(4, 4)
    net = nn.Sequential(a, nn.Linear(4, 4))
    net[1].weight = nn.Parameter(a.weight.data)  # a second Parameter on the same memory
    records = pit.audit(net, pit.init(net))
    assert [r.kind for r in records] == ["initialised_twice"]


def test_audit_default_plan():
    model = nn.Linear(64, 64)  # torch's default init: std 1/sqrt(3*64), He wants sqrt(2/64)
    assert {r.kind for r in pit.audit(model)} == {"std_mismatch"}
    pit.init(model)
    assert pit.audit(model) == []


def test_bad_arguments():
    with pytest.raises(InitError, match="preset must be one of"):
        pit.init(nn.Linear(2, 2), "kaiming")
    with pytest.raises(InitError, match="seed must be"):
        pit.init(nn.Linear(2, 2), seed=-1)
    for protect in (5, ["weight", 5]):  # not names: an InitError, not a TypeError
        with pytest.raises(InitError, match=re.escape(
                f"protect must be parameter names or globs (str); received {protect!r}")):
            pit.init(nn.Linear(2, 2), protect=protect)
    with pytest.raises(InitError, match=r"model must be a torch\.nn\.Module"):
        pit.init(torch.zeros(3))
    with pytest.raises(InitError, match="lazy module"):
        pit.init(nn.LazyLinear(3))


# ---------------------------------------------------------------------------------------
# meta materialisation and skip_default_init


def test_meta_materialisation_equals_eager():
    with torch.device("meta"):
        meta = TinyLM()
    eager = TinyLM()
    rules = [pit.Rule("temperature", "ones"), pit.Rule("bias", "zeros", forget_bias=1.0)]
    pit.init(eager, rules, seed=7)
    plan = pit.init(meta, rules, seed=7, device="cpu")
    assert plan.applied
    assert not any(p.is_meta for p in meta.parameters())
    assert not any(b.is_meta for b in meta.buffers())
    assert meta.head.weight is meta.wte.weight  # still tied
    assert _same(_state(eager), _state(meta))
    out = meta.head(meta.ln(meta.block(meta.wte(torch.zeros(2, 3, dtype=torch.long)))))
    assert torch.isfinite(out).all()


def test_meta_rnn_and_mha_work_after_materialisation():
    with torch.device("meta"):
        net = nn.ModuleDict({"rnn": nn.LSTM(4, 8), "mha": nn.MultiheadAttention(8, 2)})
    pit.init(net, device="cpu")
    out, _ = net["rnn"](torch.randn(3, 2, 4))
    attended, _ = net["mha"](out, out, out)
    assert torch.isfinite(attended).all()


def test_meta_errors_leave_model_untouched():
    with torch.device("meta"):
        model = TinyLM()
    with pytest.raises(InitError, match="device="):
        pit.init(model)
    with pytest.raises(InitError, match=r"'temperature'.*meta device and uncovered"):
        pit.init(model, device="cpu")
    assert all(p.is_meta for p in model.parameters())

    class WithBuffer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.register_buffer("table", torch.arange(4.0))

    with torch.device("meta"):
        odd = WithBuffer()
    with pytest.raises(InitError, match="buffer 'table'"):
        pit.init(odd, device="cpu")
    assert odd.fc.weight.is_meta


def test_skip_default_init_skips_and_restores(monkeypatch):
    calls = []
    original = nn.init.kaiming_uniform_
    monkeypatch.setattr(nn.init, "kaiming_uniform_",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    reset = nn.Linear.reset_parameters
    with pit.skip_default_init():
        layer = nn.Linear(64, 64)
        lstm = nn.LSTM(4, 4)
        assert nn.Linear.reset_parameters is not reset
    assert calls == [] and nn.Linear.reset_parameters is reset
    pit.init(layer)
    pit.init(lstm)
    assert pit.audit(layer) == []
    nn.Linear(3, 3)
    assert calls == [1]
    with pytest.raises(RuntimeError, match="boom"), pit.skip_default_init():
        raise RuntimeError("boom")
    assert nn.Linear.reset_parameters is reset


def test_init_keeps_torchs_thread_count():
    """The compiled engine's OpenMP layer must not change the threads torch trains with."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        pit.init(nn.Linear(64, 64), seed=0)
        pit.init_(torch.empty(300, 300), "he_normal", seed=0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
