"""Issue 16, items 4, 6 and 7 (and the CLI part of 5): atomic model init, protect through
shared memory, compare's late option check before --out, linear rule parsing, rich-safe
terminal output, and one-line exit-2 errors."""

from __future__ import annotations

import contextlib
import io
import json
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_run import run_main

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import paraminit.torch as pit  # noqa: E402
from paraminit import InitError  # noqa: E402
from paraminit.plan._io import line_numbers  # noqa: E402
from paraminit.report.terminal import CompareProgress, render_table  # noqa: E402


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _unchanged(model: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(p, before[name]) for name, p in model.named_parameters())


# ---------------------------------------------------------------------------------------
# item 4: nothing is half-written


def test_expanded_parameter_refused_before_any_write():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    model[1].weight = nn.Parameter(torch.zeros(1, 4).expand(4, 4))
    before = _snapshot(model)
    with pytest.raises(InitError, match=r"parameter '1.weight' \(Linear\) cannot be written: its "
                       r"elements share memory \(strides \(0, 1\).*nn.Parameter\(weight.clone"
                       r"\(\)\). Nothing was written"):
        pit.init(model)
    assert _unchanged(model, before)


def test_inference_tensor_refused_before_any_write():
    with torch.inference_mode():
        late = nn.Linear(4, 4)
    model = nn.Sequential(nn.Linear(4, 4), late)
    before = _snapshot(model)
    with pytest.raises(InitError, match=r"parameter '1.weight' \(Linear\) cannot be written: it "
                       r"was created under torch.inference_mode\(\).*Nothing was written"):
        pit.init(model)
    assert _unchanged(model, before)
    assert pit.init(model, dry_run=True)["1.weight"].status == "init"  # a plan is fine


def test_protected_parameter_sharing_memory_is_refused():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    model[1].weight = nn.Parameter(model[0].weight.data)  # distinct Parameters, one memory
    before = _snapshot(model)
    with pytest.raises(InitError, match=r"parameter '1.weight' is protected but shares memory "
                       r"with '0.weight', which this init writes.*Protect '0.weight' as well"):
        pit.init(model, protect="1.weight")
    assert _unchanged(model, before)
    plan = pit.init(model, protect=["0.weight", "1.weight"])  # both kept: no contradiction
    assert plan.applied and torch.equal(model[1].weight, before["1.weight"])


def test_protected_slice_of_a_shared_buffer_is_refused():
    storage = torch.zeros(32)
    model = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False))
    model[0].weight = nn.Parameter(storage[:16].view(4, 4))
    model[1].weight = nn.Parameter(storage[12:28].view(4, 4))  # overlaps by 4 elements
    with pytest.raises(InitError, match="is protected but shares memory"):
        pit.init(model, protect="0.weight")
    model[1].weight = nn.Parameter(storage[16:].view(4, 4))  # adjacent, not overlapping
    pit.init(model, protect="0.weight")
    assert torch.equal(model[0].weight, torch.zeros(4, 4))


def test_compare_bad_late_option_keeps_the_earlier_report(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.html").write_text("earlier run")
    (out / "results.json").write_text('{"complete": true}')
    code, _, err = run_main(["compare", "--quick", "--methods", "zeros,lsuv:tol=-1",
                             "--out", str(out)])
    assert code == 2
    assert "method 'lsuv:tol=-1': lsuv: tol must be a finite number > 0; received -1" in err
    assert err.count("\n") == 1
    assert (out / "report.html").read_text() == "earlier run"
    assert (out / "results.json").read_text() == '{"complete": true}'


# ---------------------------------------------------------------------------------------
# item 6: rule parsing is linear (the line of each rule from one pass)


def test_line_numbers_of_many_offsets_equal_the_direct_count():
    text = "".join(f"{'x' * (i % 7)}\n" * (i % 3) + "{}" for i in range(20_000))
    offsets = [i for i, c in enumerate(text) if c == "{"]
    lines = line_numbers(text, offsets)
    # the direct (quadratic) count, on a sample of offsets
    for k in range(0, len(offsets), 997):
        assert lines[k] == text.count("\n", 0, offsets[k]) + 1
    assert lines[-1] == text.count("\n") + 1
    with pytest.raises(ValueError, match="offsets must ascend"):
        line_numbers(text, [5, 3])


@pytest.mark.slow
def test_twenty_thousand_json_rules_parse_with_their_lines():
    rules = [{"select": f"layer{i}.weight", "scheme": "normal", "options": {"std": 0.02}}
             for i in range(20_000)]
    text = json.dumps({"rules": rules}, indent=1)
    parsed = pit.rules_from_json(text)
    assert len(parsed) == 20_000 and parsed[-1].select[0].value == "layer19999.weight"
    rules[-1]["options"]["std"] = -1
    broken = json.dumps({"rules": rules}, indent=1)
    # the last rule's "{" is on the line before its "select"
    line = broken.count("\n", 0, broken.index('"select": "layer19999.weight"'))
    with pytest.raises(InitError, match=rf"rule #19999 \(line {line}\): .*"
                                        r"std must be > 0"):
        pit.rules_from_json(broken)


def test_rules_json_finds_an_escaped_rules_key():
    text = '{"\\u0072ules": [\n{"select": "a", "scheme": "zeros"},\n {"select": "b", ' \
           '"scheme": "bogus"}]}'
    with pytest.raises(InitError, match=r"rule #1 \(line 3\): .*scheme must be one of"):
        pit.rules_from_json(text)
    assert pit.rules_from_json('{"rules": [], "\\u0072ules": []}') == []


@pytest.mark.parametrize(("call", "pattern"), [
    (lambda: pit.rules_from_json("[" * 100_000 + "]" * 100_000),
     r"rules JSON: nested deeper than Python's recursion limit"),
    (lambda: pit.rules_from_toml("a = " + "[" * 100_000 + "]" * 100_000),
     r"rules TOML: nested deeper than Python's recursion limit"),
    (lambda: pit.rules_from_json('[{"select": "a", "scheme": "normal", "options": {"std": 1'
                                 + "0" * 5000 + "}}]"), r"rules JSON: Exceeds the limit"),
    (lambda: pit.rules_from_json('[{"select": "a", "scheme": "normal", "options": {"std": 1'
                                 + "0" * 400 + "}}]"), r"std must be a finite number"),
    (lambda: pit.rules_from_toml('[[rules]]\nselect = "a"\nscheme = "normal"\noptions = {std '
                                 '= 1' + "0" * 400 + "}"), r"std must be a finite number"),
    (lambda: pit.rules_from_json(3), r"rules JSON: expected the document as a str"),
    (lambda: pit.rules_from_json(b"\xff[]"), r"rules JSON: not UTF-8 text"),
    (lambda: pit.load_rules("/nonexistent/rules.json"),
     r"rules file '/nonexistent/rules.json' cannot be read \(No such file or directory\)"),
    (lambda: pit.load_rules(3), r"path must be a str or os.PathLike"),
])
def test_rule_documents_raise_init_error(call, pattern):
    with pytest.raises(InitError, match=pattern):
        call()


def test_load_rules_directory_and_bad_encoding(tmp_path):
    folder = tmp_path / "rules.json"
    folder.mkdir()
    with pytest.raises(InitError, match=r"cannot be read \(Is a directory\)"):
        pit.load_rules(folder)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[[rules]]\nselect = "\xe9"\nscheme = "zeros"\n')
    with pytest.raises(InitError, match=r"not UTF-8 text .*save the rules file as UTF-8"):
        pit.load_rules(latin)


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(),
              st.text(max_size=5), st.sampled_from(["normal", "zeros", "he_normal", "Linear",
                                                    "weight", "std", "rules", "\ud800"])),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["select", "scheme", "options", "std", "mode", "bias",
                                         "rules", "gain", "nonzeros", "groups"]),
                        children, max_size=3)),
    max_leaves=12)


@pytest.mark.slow
@settings(derandomize=True, max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(document=_JSON, wrap=st.booleans())
def test_fuzz_rule_documents_raise_only_init_error(document, wrap):
    data = {"rules": document} if wrap else document
    text = json.dumps(data, indent=1)  # \u escapes for every non-ASCII character
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in (lambda: pit.rules_from_json(text),
                     lambda: pit.rules_from_json(json.dumps(data, ensure_ascii=False)),
                     lambda: pit.init(nn.Linear(2, 2), document, dry_run=True)):
            with contextlib.suppress(InitError):
                call()


# ---------------------------------------------------------------------------------------
# item 7: user strings are never rich markup


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rich_table_shows_markup_literally():
    stream = _Terminal()
    render_table("plan of [bold]x", ("name [/]", "b"), [("[/]", "[red]y[/red]")], stream=stream)
    text = stream.getvalue()
    assert "[/]" in text and "[red]y[/red]" in text and "plan of [bold]x" in text


def test_rich_progress_shows_markup_literally():
    stream = _Terminal()
    with CompareProgress(stream=stream) as progress:
        event = {"run": 1, "runs": 1, "method": "[/]", "seed": 0}
        progress({"event": "run_start", "steps": 2, **event})
        progress({"event": "step", "step": 1, "loss": 1.0, **event})
        progress({"event": "measure", "task": "[/bold]", "done": 1, "total": 2})
        progress({"event": "run_end", "record": {"verdict": "trains"}, **event})
    text = stream.getvalue()  # the last frame, drawn when the bars stop, shows both as typed
    assert "last: [/] trains" in text and "[/bold]" in text


def test_model_with_markup_names_renders(monkeypatch):
    model = nn.Sequential()
    model.add_module("[/]", nn.Linear(2, 2))
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    columns, rows = pit.init(model, dry_run=True).table()
    render_table("plan", columns, rows)
    assert "[/].weight" in terminal.getvalue() and "[/].bias" in terminal.getvalue()


# ---------------------------------------------------------------------------------------
# the CLI: every InitError and file error is exit 2 with one line


@pytest.mark.parametrize(("argv", "message"), [
    (["explain", "--model", "torch.nn:Identity", "--rules", "/nonexistent/r.json"],
     "rules file '/nonexistent/r.json' cannot be read"),
    (["explain", "normal:std=1e400", "--shape", "3,3"], "std must be a finite number"),
    (["explain", "normal:std=" + "1" * 5000, "--shape", "3,3"], "std must be a finite number"),
    (["explain", "he_normal", "--shape", "9" * 30 + ",3"], "more than 2**63 - 1 elements"),
    (["explain", "sparse:nonzeros=3,sparsity=0.5", "--shape", "30,30"], "not both"),
    (["compare", "--seeds", "0-100000000000"], "holds more than 10000 seeds"),
])
def test_cli_errors_are_one_line_exit_2(argv, message):
    code, _, err = run_main(argv)
    assert code == 2, err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
