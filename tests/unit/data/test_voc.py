"""The PASCAL VOC source: the real fixture photo through prepare_tree, and its bad inputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hyctas.data import SEARCH_LIST, SUPERNET_TRAIN_LIST, TRAIN_LIST, VAL_LIST
from hyctas.data.classes import load_class_table, load_classes, voc_table
from hyctas.data.dataset import read_list
from hyctas.data.prepare import Splits, prepare_tree
from hyctas.data.voc import VocSource
from hyctas.errors import ConfigError, DataError
from tests.datasets import VOC, VOC_DERIVED, VOC_ID, VOC_PRESENT
from tests.unit.data.conftest import needs_voc

KW = dict(num_classes=21, ignore_label=255, workers=1, progress=False)
SPLITS = Splits(train="train", val="val", search_images=2, search_seed=0)


def tree_files(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")}


def prepare(root: Path, tmp: Path, on_bad_file: str = "error", workers: int = 1) -> dict:
    source = VocSource(root, tmp / "dataset")
    kw = {**KW, "workers": workers}
    return prepare_tree(source, SPLITS, tmp / "lists", on_bad_file=on_bad_file, **kw)


@needs_voc
def test_fixture_names_the_voc_classes():
    names = (VOC / "class_names.txt").read_text().split()
    assert names == voc_table().names


def test_voc_tree_to_lists(voc_tree, tmp_path):
    before = tree_files(voc_tree)
    metrics = prepare(voc_tree, tmp_path, workers=2)
    assert tree_files(voc_tree) == before  # the user's tree is only read
    assert (metrics["train_frames"], metrics["search_frames"]) == (5, 2)
    assert (metrics["supernet_train_frames"], metrics["val_frames"]) == (3, 1)
    assert metrics["converted"] == 6 and metrics["bad_files"] == 0
    lists = tmp_path / "lists"
    train = read_list(lists / TRAIN_LIST)
    assert [image.name for image, _ in train] == [f"{VOC_ID}.jpg"] + [
        f"{VOC_ID}_{name}.jpg" for name in VOC_DERIVED
    ]
    search, rest = read_list(lists / SEARCH_LIST), read_list(lists / SUPERNET_TRAIN_LIST)
    assert set(search) | set(rest) == set(train) and not set(search) & set(rest)
    (image, label), *_ = read_list(lists / VAL_LIST)
    assert image == (voc_tree / "JPEGImages" / f"{VOC_ID}.jpg").resolve()
    assert label.resolve() == (tmp_path / "dataset" / "trainIds" / "val" / f"{VOC_ID}.png")
    original = np.array(Image.open(voc_tree / "SegmentationClass" / f"{VOC_ID}.png"))
    train_ids = np.array(Image.open(label))
    assert train_ids.shape == (375, 500) and (train_ids == original).all()  # value = trainId
    assert set(np.unique(train_ids)) == VOC_PRESENT
    stats = json.loads((lists / "class_stats.json").read_text())
    assert stats["classes"] == voc_table().names
    assert stats["splits"]["val"]["pixels"]["person"] == int((original == 15).sum()) > 0
    assert metrics["val_classes_present"] == len(VOC_PRESENT)
    assert load_classes(lists) == voc_table()
    assert json.loads((lists / "classes.json").read_text())["source"] == "voc"


def test_void_is_ignored_and_plain_l_masks_read(voc_tree, tmp_path):
    prepare(voc_tree, tmp_path)
    out = tmp_path / "dataset" / "trainIds" / "train"
    void = np.array(Image.open(out / f"{VOC_ID}_void.png"))
    assert (void[:6] == 255).all() and set(np.unique(void[6:-6, 6:-6])) == VOC_PRESENT
    stats = json.loads((tmp_path / "lists" / "class_stats.json").read_text())
    assert stats["splits"]["train"]["ignored_pixels"] == int((void == 255).sum())
    plain = np.array(Image.open(out / f"{VOC_ID}_plain_l.png"))
    assert (plain == np.array(Image.open(out / f"{VOC_ID}.png"))).all()


def test_a_user_class_table_replaces_the_builtin_one(voc_tree, tmp_path):
    """Five classes of the photo, chairs ignored (value 9), other VOC classes unknown."""
    (voc_tree / "mine.yaml").write_text(
        "classes:\n"
        "  - {name: background, value: 0}\n"
        "  - {name: bottle, value: 5, color: [1, 2, 3]}\n"
        "  - {name: table, value: 11}\n"
        "  - {name: person, value: 15}\n"
        "ignore: [9, 255]\n"
    )
    table = load_class_table(voc_tree / "mine.yaml")
    source = VocSource(voc_tree, tmp_path / "dataset", table)
    prepare_tree(
        source, SPLITS, tmp_path / "lists", on_bad_file="error", **{**KW, "num_classes": 4}
    )
    label = read_list(tmp_path / "lists" / VAL_LIST)[0][1]
    original = np.array(Image.open(voc_tree / "SegmentationClass" / f"{VOC_ID}.png"))
    train_ids = np.array(Image.open(label))
    assert (train_ids[original == 15] == 3).all() and (train_ids[original == 9] == 255).all()
    assert load_classes(tmp_path / "lists").names == ["background", "bottle", "table", "person"]


@needs_voc
def test_num_classes_must_match_the_table(voc_tree, tmp_path):
    with pytest.raises(ConfigError, match=r"base.num_classes = 19, but the class table voc .*21"):
        prepare_tree(
            VocSource(voc_tree, tmp_path / "d"),
            SPLITS,
            tmp_path / "lists",
            on_bad_file="error",
            **{**KW, "num_classes": 19},
        )


def _label(root: Path, name: str = f"{VOC_ID}_flip") -> Path:
    return root / "SegmentationClass" / f"{name}.png"


def _image(root: Path, name: str = f"{VOC_ID}_flip") -> Path:
    return root / "JPEGImages" / f"{name}.jpg"


def _unknown_value(root: Path) -> Path:
    image = Image.open(_label(root))
    mask = np.array(image)
    mask[:3, :3] = 42
    out = Image.fromarray(mask).convert("P")
    out.putpalette(image.getpalette())
    out.save(_label(root))
    return _label(root)


def _resized_label(root: Path) -> Path:
    Image.open(_label(root)).resize((100, 80)).save(_label(root))
    return _label(root)


def _corrupt_image(root: Path) -> Path:
    _image(root).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return _image(root)


def _rgb_label(root: Path) -> Path:
    Image.open(_label(root)).convert("RGB").save(_label(root))
    return _label(root)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_unknown_value, "label value(s) [42] neither a class nor ignored"),
        (_resized_label, "label map is 80x100, image is 375x500"),
        (_corrupt_image, "unreadable or corrupt image"),
        (lambda root: _label(root).unlink() or _image(root), "no label map"),
        (lambda root: _image(root).unlink() or _label(root), "label map without an image"),
        (_rgb_label, "label map of mode RGB"),
    ],
    ids=["unknown-value", "size", "corrupt-image", "no-label", "no-image", "rgb-label"],
)
def test_bad_frame_is_named_or_skipped(voc_tree, tmp_path, damage, expected):
    named = damage(voc_tree)
    with pytest.raises(DataError) as info:
        prepare(voc_tree, tmp_path)
    message = str(info.value)
    assert f"{named}: " in message and expected in message, message
    assert "on_bad_file: skip" in message
    assert not (tmp_path / "lists").exists()
    metrics = prepare(voc_tree, tmp_path, on_bad_file="skip")
    assert metrics["train_frames"] == 4 and metrics["bad_files"] == 1
    bad = json.loads((tmp_path / "lists" / "bad_files.json").read_text())
    assert bad[0]["split"] == "train" and expected in bad[0]["error"]
    assert f"{VOC_ID}_flip" not in (tmp_path / "lists" / TRAIN_LIST).read_text()


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda root: root.joinpath("ImageSets/Segmentation/val.txt").unlink(),
            "val.txt: split list not found; name one of ['train']",
        ),
        (
            lambda root: root.joinpath("ImageSets/Segmentation/val.txt").write_text("\n\n"),
            "val.txt: empty split list",
        ),
        (
            lambda root: root.joinpath("SegmentationClass").rename(root / "x"),
            "missing VOC folder(s): ",
        ),
    ],
    ids=["missing-list", "empty-list", "missing-folder"],
)
def test_split_level_errors_are_not_skipped(voc_tree, tmp_path, damage, expected):
    damage(voc_tree)
    with pytest.raises(DataError, match=re.escape(expected)):
        prepare(voc_tree, tmp_path, on_bad_file="skip")
    assert not (tmp_path / "lists").exists()


def test_missing_root(tmp_path):
    with pytest.raises(DataError, match=r"nope: VOC root not found; download VOCtrainval"):
        prepare(tmp_path / "nope", tmp_path)
