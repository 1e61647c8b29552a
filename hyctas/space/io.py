"""Reading and writing architecture files (our format or the published one).

Example:
    >>> arch = load_arch("results/search/fast.json", cfg)
    >>> save_arch(arch, "results/search/fast.json")
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyctas.errors import ArchError
from hyctas.space.arch import Arch
from hyctas.space.published import from_published, to_published

if TYPE_CHECKING:
    from hyctas.space.config import SpaceConfig


def arch_from_json(d: Any, cfg: SpaceConfig | None = None) -> Arch:
    """Builds an architecture from parsed JSON in either format (detected by its keys).

    Raises:
        ArchError: Neither format, or the content is invalid.
    """
    if not isinstance(d, dict):
        raise ArchError(f"expected a JSON object, got {type(d).__name__}")
    if "ops" in d:
        return from_published(d, cfg)
    if "format" in d or "branches" in d:
        return Arch.from_dict(d, cfg)
    raise ArchError(
        f"unknown architecture format (keys: {', '.join(sorted(d)) or 'none'}); expected "
        "'format' and 'branches' (ours) or 'ops', 'paths', 'downs', 'widths', 'lasts' (published)"
    )


def load_arch(path: str | os.PathLike[str], cfg: SpaceConfig | None = None) -> Arch:
    """Loads an architecture file in our format or the published one.

    Args:
        path: JSON file.
        cfg: When given, the architecture is validated against this search space.

    Returns:
        The architecture.

    Raises:
        ArchError: Missing or unreadable file, invalid JSON (with line and column), or an
            invalid architecture; the message starts with the file name.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArchError(f"{path}: architecture file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ArchError(f"{path}: cannot read architecture file ({err})") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ArchError(
            f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        ) from err
    try:
        return arch_from_json(data, cfg)
    except ArchError as err:
        raise ArchError(f"{path}: {err}") from err


def save_arch(arch: Arch, path: str | os.PathLike[str], published: bool = False) -> None:
    """Writes an architecture as JSON, atomically (temp file in the same folder, then rename).

    Args:
        arch: The architecture; it must pass `check()`.
        path: Destination; its folder is created if missing.
        published: Write the published encoding instead of ours.

    Raises:
        ArchError: The architecture is invalid.
    """
    arch.check()
    data = to_published(arch) if published else arch.to_dict()
    text = json.dumps(data, indent=2 if not published else None) + "\n"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder so os.replace is a rename on one filesystem: readers never see half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
