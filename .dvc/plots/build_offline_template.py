"""Build `.dvc/plots/offline.html`: DVC's plots page with vega, vega-lite and vega-embed inlined.

`dvc plots show` fills an HTML page with one `<div>` per plot. Its own page loads the three
libraries from a CDN, so on a machine without internet the charts stay blank. This template
carries them instead (the minified builds of the npm packages, BSD-3-Clause, their notice at the
top of the page), and has no `{scripts}` placeholder, so DVC's CDN `<script>` tags are dropped.
`.dvc/config` points `plots.html_template` at it.

Rebuild (needs npm and a registry; pins below):

    python .dvc/plots/build_offline_template.py            # npm pack into a temp dir
    python .dvc/plots/build_offline_template.py --from DIR # DIR holds the three unpacked tarballs
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (npm package, version, minified UMD build inside the tarball, upstream repository)
PACKAGES = (
    ("vega", "5.33.1", "build/vega.min.js", "https://github.com/vega/vega"),
    ("vega-lite", "5.23.0", "build/vega-lite.min.js", "https://github.com/vega/vega-lite"),
    ("vega-embed", "6.29.0", "build/vega-embed.min.js", "https://github.com/vega/vega-embed"),
)
NOTICE = HERE / "LICENSE-vega.txt"
STYLE = """
    body { font-family: sans-serif; margin: 12px; }
    body > div { display: inline-block; vertical-align: top; margin: 6px; }
    img { max-width: 560px; height: auto; }
"""


def fetch(dest: Path) -> None:
    """`npm pack` the pinned packages into `dest` and unpack each as `dest/<name>/package`."""
    specs = [f"{name}@{version}" for name, version, _, _ in PACKAGES]
    subprocess.run(["npm", "pack", "--silent", *specs], cwd=dest, check=True, capture_output=True)
    for name, version, _, _ in PACKAGES:
        with tarfile.open(dest / f"{name}-{version}.tgz") as tar:
            tar.extractall(dest / name, filter="data")


def minified(source: Path, name: str, build: str) -> str:
    """The package's minified build, without its source-map comment; checked to be inlinable."""
    text = (source / name / "package" / build).read_text(encoding="utf-8")
    text = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", text)
    # `</script`, `<!--` would end or confuse the inline element; DVC fills `{...}` placeholders.
    for bad in ("</script", "<!--", "{plot_divs}", "{scripts}", "{refresh_tag}"):
        if bad in text:
            raise SystemExit(f"{name}/{build} contains {bad!r}: it cannot be inlined as is")
    return text


def template(source: Path) -> str:
    """The HTML template text, scripts inlined from the unpacked packages under `source`."""
    scripts = "\n".join(
        f"<script>\n/*! {name} {version} | BSD-3-Clause | {repo} */\n"
        f"{minified(source, name, build)}</script>"
        for name, version, build, repo in PACKAGES
    )
    versions = ", ".join(f"{name} {version}" for name, version, _, _ in PACKAGES)
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n{refresh_tag}\n'
        "<title>hyctas: dvc plots show</title>\n"
        f"<!--\n{versions} are inlined below (no network needed), under this licence:\n\n"
        f"{NOTICE.read_text(encoding='utf-8')}-->\n"
        f"{scripts}\n<style>{STYLE}</style>\n</head>\n<body>\n"
        "<h1>hyctas pipeline plots</h1>\n{plot_divs}\n</body>\n</html>\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="unpacked npm tarballs")
    parser.add_argument("--out", type=Path, default=HERE / "offline.html")
    args = parser.parse_args()
    if args.source:
        text = template(args.source)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            fetch(Path(tmp))
            text = template(Path(tmp))
    args.out.write_text(text, encoding="utf-8")
    print(f"{args.out}: {len(text) // 1024} KiB")


if __name__ == "__main__":
    main()
