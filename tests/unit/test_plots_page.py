"""`dvc plots show` uses the offline page: vega, vega-lite and vega-embed inlined, no CDN."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_dvc_config_names_the_offline_template():
    from dvc.repo import Repo

    with Repo(str(REPO)) as dvc:
        name = dvc.config["plots"]["html_template"]  # relative to .dvc/, as DVC reads it
    html = (REPO / ".dvc" / name).read_text(encoding="utf-8")
    assert "{plot_divs}" in html
    # Without `{scripts}` DVC drops its CDN <script src> tags; the libraries are inline instead.
    assert "{scripts}" not in html
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, flags=re.I)
    for lib in ("vega", "vega-lite", "vega-embed"):
        assert re.search(rf"/\*! {lib} \d+\.\d+\.\d+ \| BSD-3-Clause", html), lib
    assert "Redistribution and use in source and binary forms" in html  # the licence notice
