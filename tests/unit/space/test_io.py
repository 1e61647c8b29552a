"""load_arch / save_arch: format detection, errors naming the file, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from hyctas.errors import ArchError
from hyctas.space import io as space_io
from hyctas.space import load_arch, sample_arch, save_arch

from .conftest import CONFIGS, PUBLISHED_DIR


def test_save_load_both_formats(tmp_path: Path) -> None:
    cfg = CONFIGS["default"]
    rng = np.random.default_rng(11)
    for i in range(50):
        arch = sample_arch(cfg, rng)
        ours, published = tmp_path / f"a{i}.json", tmp_path / "sub" / f"p{i}.json"
        save_arch(arch, ours)
        save_arch(arch, published, published=True)
        assert json.loads(ours.read_text())["format"] == "hyctas-arch/1"
        assert "ops" in json.loads(published.read_text())
        assert load_arch(ours, cfg) == arch == load_arch(published, cfg)
        assert load_arch(str(ours)).id == arch.id
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []  # no temp files left


@pytest.mark.parametrize("path", sorted(PUBLISHED_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_load_published_files(path: Path) -> None:
    arch = load_arch(path, CONFIGS["published_scale"])
    assert len(arch.branches) == len(json.loads(path.read_text())["lasts"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "hyctas-arch/1",\n "branches": [[}', "invalid JSON at line 2, column 16"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"layers": []}', "unknown architecture format (keys: layers)"),
        ('{"ops": [[1]], "paths": [[0]], "downs": [[0]], "widths": [[]]}', "lasts: missing"),
        (
            '{"format": "hyctas-arch/1", "branches": [[{"op": "conv", "width": 1.0}]]}',
            "branches, branch 0, cell 0: missing key 'stride'",
        ),
    ],
)
def test_load_errors_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad_arch.json"
    path.write_text(text)
    with pytest.raises(ArchError) as err:
        load_arch(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArchError, match=r"nowhere\.json: architecture file not found"):
        load_arch(tmp_path / "nowhere.json")


def test_load_validates_against_cfg(tmp_path: Path) -> None:
    path = tmp_path / "large.json"
    path.write_text((PUBLISHED_DIR / "HRTNet_L.json").read_text())
    with pytest.raises(ArchError, match=r"large\.json: published architecture: branch 0: depth 20"):
        load_arch(path, CONFIGS["default"])


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = CONFIGS["default"]
    rng = np.random.default_rng(0)
    first, second = sample_arch(cfg, rng), sample_arch(cfg, rng)
    path = tmp_path / "arch.json"
    save_arch(first, path)

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(space_io.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_arch(second, path)
    monkeypatch.undo()
    assert load_arch(path) == first  # the old file is intact
    assert os.listdir(tmp_path) == ["arch.json"]  # and the temp file is gone
