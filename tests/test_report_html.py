"""The HTML report: self-contained, deterministic, and checked in a real (headless) browser."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

from paraminit.experiments import CompareConfig, compare, document, load_dataset
from paraminit.report.html import render_html

CHECK_SCRIPT = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var drawn = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  var marker = document.createElement("div");
  marker.id = "paraminit-check";
  marker.textContent = "images " + drawn.length + "/" + images.length;
  document.body.appendChild(marker);
});
</script>"""


@pytest.fixture(scope="module")
def doc():
    config = CompareConfig(depth=5, width=16, steps=12, seeds=(0, 1), workers=1,
                           methods=("zeros", "normal", "xavier_normal", "he_normal",
                                    "he_normal:mode=fan_out"))
    data = load_dataset()
    return document(config, data, compare(config, data=data), complete=True)


def _images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


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


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def test_report_renders_in_a_real_browser(doc, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required on CI (apt-get install -y chromium)")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    text = render_html(doc)
    page = tmp_path / "report.html"
    page.write_text(text.replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([*flags, "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'id="paraminit-check">images 4/4<' in dom.stdout, dom.stdout[-500:]
    for error in ("Uncaught", "net::ERR_", "Failed to load resource"):
        assert error not in dom.stderr
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()],
                   capture_output=True, text=True, timeout=180, check=True)
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (2000, 1200)
    assert float(pixels[..., :3].std()) > 0.05  # not a blank page: text, table, plots
