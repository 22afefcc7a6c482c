"""Opening a report in a real headless Chromium (for the report tests).

CI installs Debian's chromium (dev.sh does, with CI=true); elsewhere the browser tests skip
when it is absent, and fail on CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Appended to the page: counts the images the browser actually decoded.
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


def chromium_or_skip() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is required on CI (apt-get install -y chromium)")
    pytest.skip("chromium not installed (apt-get install -y chromium)")


def _flags(browser: str, tmp_path: Path) -> list[str]:
    return [browser, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr", "--v=0"]


def images_drawn(html: str, tmp_path: Path) -> str:
    """Load ``html`` (with CHECK_SCRIPT) in headless Chromium; return "images D/N". Fails
    the test on a browser error, a script error or a resource that did not load."""
    browser = chromium_or_skip()
    page = tmp_path / "report.html"
    page.write_text(html.replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
    dom = subprocess.run([*_flags(browser, tmp_path), "--virtual-time-budget=10000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for error in ("Uncaught", "net::ERR_", "Failed to load resource"):
        assert error not in dom.stderr
    marker = dom.stdout.split('id="paraminit-check">', 1)
    assert len(marker) == 2, dom.stdout[-500:]
    return marker[1].split("<", 1)[0]


def screenshot(html: str, tmp_path: Path, width: int = 1200, height: int = 2000):
    """The page rendered at width × height, as an RGB(A) float array."""
    from matplotlib.image import imread

    browser = chromium_or_skip()
    page = tmp_path / "shot.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "shot.png"
    subprocess.run([*_flags(browser, tmp_path), f"--screenshot={shot}",
                    f"--window-size={width},{height}", page.as_uri()],
                   capture_output=True, text=True, timeout=180, check=True)
    return imread(shot)
