"""Conversion of a Cityscapes tree to trainIds, lists and stats, and its bad-input errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from hyctas.data.cityscapes import find_frames, validate_layout
from hyctas.data.dataset import read_list
from hyctas.data.prepare import Splits, prepare_tree
from hyctas.errors import DataError
from tests.conftest import SHARED, write_frame

KW = dict(num_classes=19, ignore_label=255, workers=1, progress=False)
SPLITS = Splits(train="train", val="val", search_images=1, search_seed=0)


def prepare(root: Path, out: Path, on_bad_file: str = "error", workers: int = 1) -> dict:
    return prepare_tree(root, SPLITS, out, on_bad_file=on_bad_file, **{**KW, "workers": workers})


def test_converts_and_writes_lists(tiny_tree, tmp_path):
    out = tmp_path / "lists"
    metrics = prepare(tiny_tree, out, workers=2)
    assert metrics["train_frames"] == 3 and metrics["val_frames"] == 2 and metrics["converted"] == 5
    assert metrics["search_frames"] == 1 and metrics["supernet_train_frames"] == 2
    pairs = read_list(out / "train.txt")
    assert len(pairs) == 3 and all(p.is_file() for pair in pairs for p in pair)
    label = cv2.imread(str(pairs[0][1]), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(label)) == {0, 10, 13, 255}  # road, sky, car, unlabelled
    stats = json.loads((out / "class_stats.json").read_text())
    assert (
        stats["splits"]["train"]["pixels"]["road"] > stats["splits"]["train"]["pixels"]["car"] > 0
    )
    assert json.loads((out / "bad_files.json").read_text()) == []


def test_second_run_skips_converted_frames(tiny_tree, tmp_path):
    prepare(tiny_tree, tmp_path / "a")
    assert prepare(tiny_tree, tmp_path / "b")["converted"] == 0


def test_missing_folders_are_named(tmp_path):
    with pytest.raises(DataError, match="Cityscapes root not found"):
        validate_layout(tmp_path / "none", ["train"])
    (tmp_path / "leftImg8bit" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match=r"gtFine/train.*download leftImg8bit_trainvaltest"):
        validate_layout(tmp_path, ["train"])


def test_empty_split(tmp_path):
    (tmp_path / "leftImg8bit" / "val" / "x").mkdir(parents=True)
    with pytest.raises(DataError, match="empty split"):
        find_frames(tmp_path, "val")


def _corrupt(path: Path) -> None:
    path.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda img, lbl: _corrupt(img), "unreadable or corrupt image"),
        (
            lambda img, lbl: cv2.imwrite(
                str(lbl.with_name(lbl.name.replace("polygons.json", "labelIds.png"))),
                np.zeros((10, 10), np.uint8),
            ),
            "label image is 10x10, image is 64x128",
        ),
        (
            lambda img, lbl: lbl.write_text(
                json.dumps(
                    {
                        "imgHeight": 64,
                        "imgWidth": 128,
                        "objects": [{"label": "dragon", "polygon": [[0, 0], [5, 0], [5, 5]]}],
                    }
                )
            ),
            "unknown label name(s) ['dragon']",
        ),
        (lambda img, lbl: lbl.write_text("{not json"), "unreadable polygon file"),
        (
            lambda img, lbl: lbl.write_text(
                json.dumps({"imgHeight": 32, "imgWidth": 128, "objects": []})
            ),
            "polygon canvas 32x128 differs from image 64x128",
        ),
    ],
    ids=["corrupt-image", "label-wrong-size", "unknown-label", "malformed-json", "canvas-size"],
)
def test_bad_frame_is_named_and_nothing_written(tiny_tree, tmp_path, damage, expected):
    image = sorted((tiny_tree / "leftImg8bit" / "train").rglob("*.png"))[1]
    stem = image.name.replace("_leftImg8bit.png", "")
    polygons = tiny_tree / "gtFine" / "train" / image.parent.name / f"{stem}_gtFine_polygons.json"
    damage(image, polygons)
    out = tmp_path / "lists"
    with pytest.raises(DataError) as info:
        prepare(tiny_tree, out)
    assert expected in str(info.value) and stem in str(info.value)
    assert "on_bad_file: skip" in str(info.value)
    assert not out.exists()  # lists are all or nothing
    assert not list(tmp_path.glob(".lists.tmp-*"))
    # the skip option leaves the frame out and reports it
    metrics = prepare(tiny_tree, out, on_bad_file="skip")
    assert metrics["train_frames"] == 2 and metrics["bad_files"] == 1
    bad = json.loads((out / "bad_files.json").read_text())
    assert expected in bad[0]["error"]


def test_unknown_trainid_value(tiny_tree, tmp_path):
    write_frame(tiny_tree, "train", "aachen", 7)
    ids = (
        tiny_tree / "gtFine" / "train" / "aachen" / "aachen_000007_000019_gtFine_labelTrainIds.png"
    )
    cv2.imwrite(str(ids), np.full((64, 128), 40, np.uint8))  # fresher than its polygons: reused
    with pytest.raises(DataError, match=r"unknown label id\(s\) \[40\]"):
        prepare(tiny_tree, tmp_path / "lists")


def test_labelids_fallback_without_polygons(tiny_tree, tmp_path):
    for polygons in tiny_tree.rglob("*_polygons.json"):
        size = json.loads(polygons.read_text())
        ids = np.full((size["imgHeight"], size["imgWidth"]), 7, np.uint8)  # road
        cv2.imwrite(str(polygons).replace("polygons.json", "labelIds.png"), ids)
        polygons.unlink()
    prepare(tiny_tree, tmp_path / "lists")
    label = cv2.imread(str(read_list(tmp_path / "lists" / "val.txt")[0][1]), cv2.IMREAD_UNCHANGED)
    assert (label == 0).all()


REAL = SHARED / "fixtures" / "cityscapes_sample"
REAL_STEM = "frankfurt_000000_000294"


def _tree_with_real_val_frame(root: Path) -> Path:
    """tiny train frames plus the real Cityscapes val frame (labelIds only, no polygons) and a
    generated one; returns the real frame's copied labelIds file."""
    for i in range(3):
        write_frame(root, "train", "aachen", i)
    write_frame(root, "val", "lindau", 10)
    for kind, name in (("leftImg8bit", "leftImg8bit"), ("gtFine", "gtFine_labelIds")):
        dest = root / kind / "val" / "frankfurt"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(
            REAL / kind / "val" / "frankfurt" / f"{REAL_STEM}_{name}.png",
            dest / f"{REAL_STEM}_{name}.png",
        )
    return root / "gtFine" / "val" / "frankfurt" / f"{REAL_STEM}_gtFine_labelIds.png"


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/fixtures not beside the checkout")
def test_real_labelids_convert(tmp_path):
    _tree_with_real_val_frame(tmp_path / "cs")
    assert prepare(tmp_path / "cs", tmp_path / "lists")["val_frames"] == 2


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/fixtures not beside the checkout")
def test_unknown_labelid_is_named_or_skipped(tmp_path):
    label_ids = _tree_with_real_val_frame(tmp_path / "cs")
    ids = cv2.imread(str(label_ids), cv2.IMREAD_UNCHANGED)
    ids[:4, :4] = 99  # no Cityscapes label has id 99: the table would map it to ignore
    ids[-1, -1] = 250
    cv2.imwrite(str(label_ids), ids)
    out = tmp_path / "lists"
    with pytest.raises(DataError) as info:
        prepare(tmp_path / "cs", out)
    message = str(info.value)
    assert f"{label_ids}: unknown label id(s) [99, 250]" in message
    assert "json2labelImg" in message and "on_bad_file: skip" in message
    assert not out.exists()
    metrics = prepare(tmp_path / "cs", out, on_bad_file="skip")
    assert metrics["val_frames"] == 1 and metrics["bad_files"] == 1
    bad = json.loads((out / "bad_files.json").read_text())
    assert bad[0]["split"] == "val" and "unknown label id(s) [99, 250]" in bad[0]["error"]
    assert REAL_STEM not in (out / "val.txt").read_text()
