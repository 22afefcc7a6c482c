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
