"""Headless Chromium for the plots tests: find it, and read a page's DOM after its scripts ran.

Debian's package is `chromium` (`apt-get install -y chromium`; `.ci/run` installs it). Tests
skip, with that hint, where no browser is found. The browser gets no network at all, so a page
that loads a script from a CDN renders blank here, as it would on a cluster node.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from dvc_render.base import Renderer

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "no headless Chromium on PATH (Debian: apt-get install chromium; .ci/run does)"
# A <script> that loads from the network (http, https or protocol-relative): a CDN.
REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//", re.I)


def find_chromium() -> str | None:
    """Path of a Chromium or Chrome binary, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


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


def drawn_chart(dom: str, plot_id: str) -> bool:
    """Whether the DVC plot `plot_id` was drawn by vega-embed (a canvas or SVG of marks), not
    left as an empty <div>."""
    div = re.escape(Renderer.remove_special_chars(plot_id))
    return bool(
        re.search(
            rf'<div id="{div}" class="vega-embed[^"]*">\s*<div class="chart-wrapper"[^>]*>\s*'
            r'<(?:canvas|svg)[^>]*class="marks"',
            dom,
        )
    )
