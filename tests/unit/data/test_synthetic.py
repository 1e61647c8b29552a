"""Tests of the synthetic Cityscapes-layout generator (small frames, a few seconds in all)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from cityscapesscripts.helpers.labels import name2label
from cityscapesscripts.preparation.json2labelImg import json2labelImg
from PIL import Image

from hyctas.data.labels import labelids_to_trainids
from hyctas.data.synthetic import MARKER, SyntheticConfig, generate_dataset
from hyctas.data.synthetic_render import (
    clip_polygon,
    label_ids_from_json,
    object_map,
    to_polygons,
)
from hyctas.data.synthetic_street import build_scene
from hyctas.errors import ConfigError

H, W = 64, 128
BLOCK = {
    "height": H,
    "width": W,
    "train_images": 6,
    "val_images": 4,
    "cities_train": ["aachen", "bochum"],
    "cities_val": ["lindau"],
}
STEM = r"(?P<city>[a-z]+)_\d{6}_\d{6}"
IMAGE_RE = re.compile(rf"^{STEM}_leftImg8bit\.png$")
GT_RE = re.compile(rf"^{STEM}_gtFine_(polygons\.json|labelIds\.png)$")


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def _label_paths(root: Path) -> list[Path]:
    return sorted(root.glob("gtFine/*/*/*_gtFine_labelIds.png"))


@pytest.fixture(scope="module")
def cfg() -> SyntheticConfig:
    return SyntheticConfig.from_params(BLOCK)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, cfg: SyntheticConfig) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "ds"
    summary = generate_dataset(root, cfg, seed=3, workers=1, progress=True)
    assert summary["train"] == 6 and summary["val"] == 4 and not summary["skipped"]
    return root


def test_layout_and_file_names(dataset: Path) -> None:
    for split, cities, n in (("train", {"aachen", "bochum"}, 6), ("val", {"lindau"}, 4)):
        images = sorted((dataset / "leftImg8bit" / split).glob("*/*"))
        assert len(images) == n
        for img in images:
            m = IMAGE_RE.match(img.name)
            assert m and m["city"] == img.parent.name and img.parent.name in cities
            stem = img.name[: -len("_leftImg8bit.png")]
            gt = dataset / "gtFine" / split / img.parent.name
            for suffix in ("_gtFine_polygons.json", "_gtFine_labelIds.png"):
                assert GT_RE.match(stem + suffix) and (gt / (stem + suffix)).is_file()
            rgb = np.asarray(Image.open(img))
            assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
            poly = json.loads((gt / f"{stem}_gtFine_polygons.json").read_text())
            assert (poly["imgHeight"], poly["imgWidth"]) == (H, W)
            for obj in poly["objects"]:
                assert obj["label"] in name2label
                pts = np.asarray(obj["polygon"])
                assert pts.dtype.kind == "i" and len(pts) >= 3
                assert pts.min() >= 0 and (pts[:, 0] < W).all() and (pts[:, 1] < H).all()
    marker = json.loads((dataset / MARKER).read_text())
    assert marker["seed"] == 3 and marker["config"]["height"] == H


def test_deterministic_and_independent_of_workers(
    dataset: Path, cfg: SyntheticConfig, tmp_path: Path
) -> None:
    generate_dataset(tmp_path / "a", cfg, seed=3, workers=1, progress=False)
    generate_dataset(tmp_path / "b", cfg, seed=3, workers=2, progress=False)
    ref = _files(dataset)
    assert len(ref) == 30
    assert _files(tmp_path / "a") == ref
    assert _files(tmp_path / "b") == ref
    # The marker too (no timings in it), so DVC hashes identical datasets identically.
    marker = (dataset / MARKER).read_bytes()
    assert (
        (tmp_path / "a" / MARKER).read_bytes() == marker == (tmp_path / "b" / MARKER).read_bytes()
    )


def test_json2labelimg_reproduces_label_ids(dataset: Path, tmp_path: Path) -> None:
    for path in _label_paths(dataset):
        out = tmp_path / "ids.png"
        json2labelImg(str(path).replace("_labelIds.png", "_polygons.json"), str(out), "ids")
        assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(path)))
        assert out.read_bytes() == path.read_bytes()


def test_train_ids_many_classes_and_ignore(dataset: Path) -> None:
    train_ids = np.stack(
        [labelids_to_trainids(np.asarray(Image.open(p))) for p in _label_paths(dataset)]
    )
    assert len(train_ids) == 10
    present = set(np.unique(train_ids).tolist()) - {255}
    assert len(present) >= 8, present
    assert (train_ids == 255).any()
    shares = np.bincount(train_ids.ravel(), minlength=256) / train_ids.size
    road, building, sky, pole, sign = (
        name2label[n].trainId for n in ("road", "building", "sky", "pole", "traffic sign")
    )
    assert shares[road] > 0.15 and shares[building] > 0.08 and shares[sky] > 0.02
    assert 0 < shares[pole] < 0.04 and 0 < shares[sign] < 0.02
    assert shares[255] < 0.2


def test_classes_are_textured_not_flat(dataset: Path) -> None:
    """Within-class intensity varies in every frame: one pixel colour does not give the class."""
    checked = 0
    for path in _label_paths(dataset):
        ids = np.asarray(Image.open(path))
        split, city = path.parent.parent.name, path.parent.name
        name = path.name.replace("_gtFine_labelIds.png", "_leftImg8bit.png")
        grey = np.asarray(Image.open(dataset / "leftImg8bit" / split / city / name)).mean(2)
        for label in ("road", "building"):
            mask = ids == name2label[label].id
            if mask.sum() > 200:
                assert grey[mask].std() > 8, (path.name, label, grey[mask].std())
                checked += 1
    assert checked >= 15


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_image_is_painted_from_the_label_layout(seed: int) -> None:
    """The object map used for painting maps exactly onto the cityscapesscripts labelIds."""
    scene = build_scene(np.random.default_rng(seed), 96, 192)
    polygons, _ = to_polygons(scene.objects, 96, 192)
    lut = np.array([0] + [name2label[o["label"]].id for o in polygons["objects"]], np.uint8)
    assert np.array_equal(lut[object_map(polygons)], label_ids_from_json(polygons))


def test_clip_polygon_to_box() -> None:
    clipped = clip_polygon([(-5, -5), (5, -5), (5, 5), (-5, 5)], 9, 9)
    assert sorted(clipped) == [(0, 0), (0, 5), (5, 0), (5, 5)]
    assert clip_polygon([(20, 20), (30, 20), (30, 30)], 9, 9) == []


def test_skip_when_complete_and_clean_regeneration(cfg: SyntheticConfig, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    generate_dataset(root, cfg, seed=5, progress=False)
    first = _files(root)
    mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*.png")}
    again = generate_dataset(root, cfg, seed=5, progress=False)
    assert again["skipped"] and again["train"] == 6
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.png")} == mtimes
    # A derived file (as a converter writes) and a smaller config: stale files must go.
    derived = next(root.glob("gtFine/train/aachen/*_labelIds.png"))
    derived.with_name(derived.name.replace("labelIds", "labelTrainIds")).write_bytes(b"x")
    smaller = SyntheticConfig.from_params({**BLOCK, "train_images": 2})
    summary = generate_dataset(root, smaller, seed=6, progress=False)
    assert not summary["skipped"]
    files = _files(root)
    assert len(files) == 18
    assert not list(root.rglob("*labelTrainIds*"))
    assert any(files[k] != first[k] for k in files)
    # A deleted frame file makes the marker untrustworthy: it is generated again.
    next(root.glob("leftImg8bit/val/*/*.png")).unlink()
    assert not generate_dataset(root, smaller, seed=6, progress=False)["skipped"]
    assert _files(root) == files


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"height": 10}, "prepare_data.synthetic.height"),
        ({"val_images": 0}, "prepare_data.synthetic.val_images"),
        ({"cities_train": ["bad_name"]}, "prepare_data.synthetic.cities_train"),
        ({"cities_val": []}, "prepare_data.synthetic.cities_val"),
        ({"extra": 1}, "unknown keys ['extra']"),
    ],
)
def test_config_errors_name_the_key(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        SyntheticConfig.from_params({**BLOCK, **change})


def test_missing_key_and_bad_seed(cfg: SyntheticConfig, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing keys \\['width'\\]"):
        SyntheticConfig.from_params({k: v for k, v in BLOCK.items() if k != "width"})
    with pytest.raises(ConfigError, match="seed"):
        generate_dataset(tmp_path, cfg, seed=-1, progress=False)
