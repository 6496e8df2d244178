"""The report renders in a real browser: headless Chromium (Debian's ``chromium``) loads a copy of the
report with a probe script appended, which records after ``load`` how many table rows exist, whether
every image decoded (naturalWidth > 0), and whether any planted ``<script>`` ran. Skips without Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

PROBE = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var out = {
    rows: document.querySelectorAll("#table1 tbody tr").length,
    rows2: document.querySelectorAll("#table2 table")[0].querySelectorAll("tbody tr").length,
    images: imgs.length,
    broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length,
    widths: imgs.map(function (i) { return i.naturalWidth; }),
    pwned: window.__pwned === undefined ? null : window.__pwned,
    warn: !!document.getElementById("degraded")
  };
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> Path:
    if not CHROMIUM.is_file():
        pytest.skip(f"headless browser test skipped: {CHROMIUM} not installed (apt-get install -y chromium; "
                    "`make test` tries this)")
    return CHROMIUM


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([str(_chromium()), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def test_report_renders_in_headless_chromium(fake_run: Path, tmp_path: Path) -> None:
    browser = _chromium()
    assert browser.is_file()
    page = (fake_run / "eval" / "report.html").read_text(encoding="utf-8")
    copy = tmp_path / "report_probe.html"
    copy.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = _run(["--virtual-time-budget=10000", "--dump-dom", copy.as_uri()], tmp_path)
    match = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"probe did not run; chromium rc={proc.returncode}, stderr tail: {proc.stderr[-500:]}"
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["rows"] == 15  # Table 1: 14 classes + AVG
    assert probe["rows2"] == 9  # Table 2: 8 box classes + Total
    assert probe["images"] == page.count("<img ")
    assert probe["images"] >= 3 + 12
    assert probe["broken"] == 0, probe["widths"]
    assert probe["pwned"] is None  # planted <script> strings were escaped, never executed
    assert probe["warn"] is True


def test_report_screenshot_is_not_blank(fake_run: Path, tmp_path: Path) -> None:
    _chromium()
    shot = tmp_path / "shot.png"
    proc = _run([f"--screenshot={shot}", "--window-size=1200,1600", "--hide-scrollbars",
                 (fake_run / "eval" / "report.html").as_uri()], tmp_path)
    assert shot.is_file(), proc.stderr[-500:]
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape == (1600, 1200)
    assert pixels.std() > 20  # text, tables and figures, not an empty page
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
