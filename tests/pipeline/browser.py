"""Headless Chromium for the plots tests: find it, and read a page's DOM after its scripts ran.

Debian's package is `chromium` (`apt-get install -y chromium`; `.ci/run` installs it). Tests
skip, with that hint, where no browser is found (fail, under `HYCTAS_REQUIRE_E2E_TOOLS`). The
browser gets no network at all, so a page that loads a script from a CDN renders blank here, as
it would on a cluster node.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from dvc_render.base import Renderer

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "no headless Chromium on PATH (Debian: apt-get install chromium; .ci/run does)"
START_S = 60  # a headless about:blank took 1-3 s; a snap stub without snapd never answers
# A <script> that loads from the network (http, https or protocol-relative): a CDN.
REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//", re.I)
MARKS_ATTRIBUTE = "data-drawn-marks"
# Put before the page's plots: each vegaEmbed call, once its view has run, writes on the chart
# the number of scenegraph items of its data marks (lines, points, rects, text: not axes,
# legends or titles), so the DOM shows what the canvas shows.
COUNT_MARKS = f"""<script>
(() => {{
  const embed = window.vegaEmbed;
  const count = (mark) => (mark.role === "mark" && mark.marktype !== "group" ?
      mark.items.length : 0) + mark.items.reduce(
      (sum, item) => sum + (item.items || []).reduce((n, child) => n + count(child), 0), 0);
  window.vegaEmbed = Object.assign(async (el, spec, opts) => {{
    const result = await embed(el, spec, opts);
    await result.view.runAsync();
    const drawn = count(result.view.scenegraph().root);
    result.view.container().setAttribute("{MARKS_ATTRIBUTE}", String(drawn));
    return result;
  }}, embed);
}})();
</script>
"""


def _starts(binary: str) -> bool:
    """Whether `binary` runs headless (Ubuntu's `chromium-browser` may be a snap stub)."""
    with tempfile.TemporaryDirectory() as profile:
        try:
            proc = subprocess.run(
                [binary, "--headless", "--no-sandbox", "--disable-gpu",
                 f"--user-data-dir={profile}", "--dump-dom", "about:blank"],
                capture_output=True, text=True, timeout=START_S,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return False
    return proc.returncode == 0 and "<html" in proc.stdout


@functools.cache
def find_chromium() -> str | None:
    """Path of a Chromium or Chrome binary that starts headless, or None."""
    found = (shutil.which(name) for name in BROWSERS)
    return next((path for path in found if path and _starts(path)), None)


def dump_dom(browser: str, page: Path, timeout: int = 120) -> str:
    """The DOM of `page` once its scripts ran (up to 10 s of virtual time), offline."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",  # tests and CI run as root
                "--disable-gpu",
                f"--user-data-dir={profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND",  # no network, not even a CDN
                "--virtual-time-budget=10000",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    assert proc.returncode == 0 and proc.stdout, proc.stderr[-3000:]
    return proc.stdout


def counting_marks(page: Path) -> Path:
    """A copy of a `dvc plots show` page, beside it, whose charts count their marks."""
    # The last </head>: vega-embed's inlined code has one in a string (its "view source" page).
    head, found, body = page.read_text(encoding="utf-8").rpartition("</head>")
    assert found, f"{page}: no </head> to put the mark counter before"
    copy = page.with_name(f"{page.stem}.counting{page.suffix}")
    copy.write_text(head + COUNT_MARKS + found + body, encoding="utf-8")
    return copy


def drawn_chart(dom: str, plot_id: str) -> bool:
    """Whether vega-embed drew the DVC plot `plot_id` (a canvas or SVG of marks) with at least
    one data mark, not an empty <div> or empty axes; `dom` is of a `counting_marks` page."""
    div = re.escape(Renderer.remove_special_chars(plot_id))
    found = re.search(
        rf'<div id="{div}" class="vega-embed[^"]*">\s*<div class="chart-wrapper"[^>]*'
        rf'\b{MARKS_ATTRIBUTE}="(\d+)"[^>]*>\s*<(?:canvas|svg)[^>]*class="marks"',
        dom,
    )
    return bool(found) and int(found.group(1)) > 0
