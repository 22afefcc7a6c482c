"""The HTML report: self-contained, deterministic, and checked in a real (headless) browser."""

from __future__ import annotations

import base64
import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

from browser import images_drawn, screenshot
from paraminit.experiments import CompareConfig, compare, document, load_dataset
from paraminit.report.html import render_html


@pytest.fixture(scope="module")
def doc():
    config = CompareConfig(depth=5, width=16, steps=12, seeds=(0, 1), workers=1,
                           methods=("zeros", "normal", "xavier_normal", "he_normal",
                                    "he_normal:mode=fan_out"))
    data = load_dataset()
    return document(config, data, compare(config, data=data), complete=True)


def _images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


@pytest.mark.slow
def test_self_contained_and_deterministic(doc):
    text = render_html(doc)
    assert text == render_html(doc)
    images = _images(text)
    assert len(images) == 4 and all(i.startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert not re.search(r'(src|href)="(?!data:)', text)  # nothing fetched from anywhere
    assert "<script" not in text and "<link" not in text
    for needle in ("symmetric", "trains", "he_normal:mode=fan_out", "Glorot &amp; Bengio 2010",
                   "fan_in = 16", "Versions", "torch", "Settings", "Verdict"):
        assert needle in text, needle


def test_incomplete_run_is_marked(doc):
    partial = {**doc, "complete": False, "runs_done": 1, "records": doc["records"][:1]}
    assert "Incomplete" in render_html(partial)


@pytest.mark.slow
def test_report_renders_in_a_real_browser(doc, tmp_path):
    text = render_html(doc)
    assert images_drawn(text, tmp_path) == "images 4/4"
    pixels = screenshot(text, tmp_path)
    assert pixels.shape[:2] == (2000, 1200)
    assert float(pixels[..., :3].std()) > 0.05  # not a blank page: text, table, plots


def _text(html_text: str) -> str:
    """The report without its images (their base64 is digits and letters)."""
    return re.sub(r'src="data:image/png;base64,[^"]+"', 'src=""', html_text)


def test_coinciding_series_are_grouped():
    import numpy as np

    from paraminit.report.html import IDENTICAL, coinciding

    line = np.linspace(0.0, 10.0, 50)
    series = {"a": line, "b": line + 0.05, "c": line[::-1], "d": line.copy(),
              "e": line + 0.5}
    # within 1 % of the range (10): b and d lie on a; e (5 %) and c do not
    assert coinciding(series) == [["a", "b", "d"]]
    assert coinciding(series, tolerance=IDENTICAL) == [["a", "d"]]
    # on a log axis the tolerance is of the decades spanned: 1e-3..1e3 is 6 decades
    logs = {"x": np.logspace(-3, 3, 20), "y": np.logspace(-3, 3, 20) * 1.1,
            "z": np.logspace(-3, 3, 20) * 2.0}
    assert coinciding(logs, log=True) == [["x", "y"]]  # log10(1.1) = 0.04 < 0.06
    # missing points must match; one drawable series coincides with nothing
    gappy = line.copy()
    gappy[3] = np.nan
    assert coinciding({"a": line, "g": gappy}) == []
    assert coinciding({"a": line}) == []


def _with_copy(doc, source: str, copy: str):
    """The document with ``source``'s records repeated under the name ``copy``."""
    records = list(doc["records"])
    records += [{**r, "method": copy} for r in doc["records"] if r["method"] == source]
    summary = list(doc["summary"])
    summary += [{**row, "method": copy} for row in doc["summary"] if row["method"] == source]
    return {**doc, "records": records, "summary": summary}


@pytest.mark.slow
def test_identical_curves_are_named_in_the_captions(doc):
    text = _text(render_html(_with_copy(doc, "he_normal", "he_copy")))
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", text)
    forward, backward, loss = captions[:3]
    for caption in (forward, loss):
        assert "Lines that coincide at this scale" in caption
        assert "Identical values: " in caption
        identical = caption.split("Identical values: ")[1]
        assert "he_normal = he_copy" in identical
    assert "he_normal = he_copy" in backward and "(in both panels)" in backward
    # the untouched report names no copy
    assert "he_copy" not in _text(render_html(doc))


def test_curves_apart_get_no_coincidence_note():
    import numpy as np

    from paraminit.report.html import loss_plot, styles_for

    def record(method, curve):
        return {"method": method, "loss_curve": list(curve)}

    steps = np.arange(100)
    groups = {"fast": [record("fast", 2.3 * np.exp(-steps / 10))],
              "slow": [record("slow", 2.3 * np.exp(-steps / 60))]}
    _, note = loss_plot(groups, styles_for(list(groups)), 10)
    assert note == ""
    groups["slow_too"] = [record("slow_too", 2.3 * np.exp(-steps / 60) + 1e-4)]
    _, note = loss_plot(groups, styles_for(list(groups)), 10)
    assert "colours alternating: slow = slow_too." in note
    assert "Identical values" not in note  # 1e-4 apart: on one another, not equal


def test_numbers_read_as_people_write_them():
    from paraminit.report._format import number, option_text, percent, setting_text

    assert percent(0.10170749814402376) == "10.2 %"
    assert setting_text("chance_accuracy", 0.10170749814402376) == "10.2 %"
    assert setting_text("test_fraction", 0.25) == "25.0 %"
    assert setting_text("lr", 0.1 + 0.2) == "0.3"  # not 0.30000000000000004
    assert number(0.08838834764831843) == "0.08839" and number(1e-5) == "1e-05"
    assert setting_text("seeds", [0, 1, 2]) == "0, 1, 2"
    assert setting_text("input_shape", [1, 8, 8]) == "1 × 8 × 8"
    assert setting_text("archs", [{"width": 16, "hidden_layers": 10},
                                  {"width": 32, "hidden_layers": 10}]) == (
        "width 16, hidden_layers 10; width 32, hidden_layers 10")
    assert setting_text("clip", None) == "None" and setting_text("center", True) == "True"
    assert option_text({"mode": "fan_out", "nonlinearity": "relu", "slope": 0.0},
                       {"mode": "fan_out"}) == "mode=fan_out; defaults: nonlinearity=relu, slope=0"
    assert option_text({"gain": 1.0}, {}) == "all defaults: gain=1"
    assert option_text({}, {}) == "none (takes no options)"


@pytest.mark.slow
def test_settings_and_options_are_readable_in_the_report(doc):
    text = _text(render_html(doc))
    chance = doc["dataset"]["chance_accuracy"]
    assert f"<td>chance_accuracy</td><td>{100 * chance:.1f} %</td>" in text
    assert repr(chance) not in text  # no 0.10170749814402376
    assert "<td>lr</td><td>0.05</td>" in text and "<td>seeds</td><td>0, 1</td>" in text
    options = dict(re.findall(r"<h3>([^<]+)</h3>.*?<td>options</td><td>([^<]*)</td>", text))
    assert options["he_normal:mode=fan_out"] == (
        "mode=fan_out; defaults: nonlinearity=relu, slope=0, distribution=normal")
    assert options["xavier_normal"] == "all defaults: gain=1, distribution=normal"
    assert options["zeros"] == "none (takes no options)"
    assert options["normal"] == "all defaults: mean=0, std=0.01"
    # a document saved before methods carried their settings still renders
    old = {**doc, "methods": [{k: v for k, v in m.items() if k != "settings"}
                              for m in doc["methods"]]}
    assert "<td>options</td><td>defaults</td>" in render_html(old)
