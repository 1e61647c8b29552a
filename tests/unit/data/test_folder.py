"""The folder source: a generated 7-class dataset (720x960 frames) in folders and list files."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hyctas.data import SEARCH_LIST, TRAIN_LIST, VAL_LIST
from hyctas.data.classes import load_class_table, load_classes
from hyctas.data.dataset import read_list
from hyctas.data.folder import FolderSource
from hyctas.data.prepare import Splits, prepare_tree
from hyctas.errors import ConfigError, DataError
from tests.datasets import (
    CLASSES,
    GROUPS,
    IGNORE,
    H,
    W,
    table_csv,
    write_pair,
)

KW = dict(num_classes=7, ignore_label=255, workers=1, progress=False)
SPLIT = {"train": {"images": "images/train", "labels": "labels/train"}}
SPLITS = {**SPLIT, "val": {"images": "images/val", "labels": "labels/val"}}


def source(root: Path, out: Path, splits=None, table="classes.yaml", **kw) -> FolderSource:
    return FolderSource(
        root=root,
        out=out,
        table=load_class_table(root / table),
        splits=splits or SPLITS,
        image_suffix=kw.get("image_suffix", ".jpg"),
        label_suffix=kw.get("label_suffix", ".png"),
    )


def prepare(src: FolderSource, lists: Path, images: int = 3, on_bad_file: str = "error") -> dict:
    splits = Splits(train="train", val="val", search_images=images, search_seed=0)
    return prepare_tree(src, splits, lists, on_bad_file=on_bad_file, **KW)


@pytest.mark.parametrize("table", ["classes.yaml", "classes.csv"])
def test_folders_to_lists(folder_tree, tmp_path, table):
    metrics = prepare(source(folder_tree, tmp_path / "out", table=table), tmp_path / "lists")
    assert (metrics["train_frames"], metrics["search_frames"], metrics["val_frames"]) == (6, 3, 2)
    assert metrics["train_classes_present"] == 7
    classes = load_classes(tmp_path / "lists")
    assert classes.names == [n for n, _, _ in CLASSES]
    assert classes.colors.tolist() == [list(c) for _, _, c in CLASSES]
    assert (classes.values, classes.ignore_values) == ([v for _, v, _ in CLASSES], IGNORE)
    # the search split draws the subfolders in turn
    search = read_list(tmp_path / "lists" / SEARCH_LIST)
    assert Counter(image.parent.name for image, _ in search) == {"seq01": 1, "seq02": 1, "seq03": 1}
    val = read_list(tmp_path / "lists" / VAL_LIST)
    image, label = val[0]
    assert label.resolve() == (tmp_path / "out" / "trainIds" / "val" / "v0.png")
    train_ids = np.array(Image.open(label))
    source_values = np.array(Image.open(folder_tree / "labels/val/v0.png"))
    assert train_ids.shape == (H, W)
    for trainid, (_, value, _) in enumerate(CLASSES):
        assert (train_ids[source_values == value] == trainid).all()
    assert (train_ids[(source_values == 0) | (source_values == 255)] == 255).all()
    stats = json.loads((tmp_path / "lists" / "class_stats.json").read_text())
    ignored = sum(int((np.array(Image.open(lbl)) == 255).sum()) for _, lbl in val)
    assert stats["splits"]["val"]["ignored_pixels"] == ignored


def test_yaml_and_csv_tables_agree(folder_tree):
    assert load_class_table(folder_tree / "classes.yaml").to_dict() | {"origin": ""} == (
        load_class_table(folder_tree / "classes.csv").to_dict() | {"origin": ""}
    )


def test_list_files(folder_tree, tmp_path):
    lines = {
        "train": [
            f"images/train/{p.relative_to(folder_tree / 'images/train').with_suffix('')}"
            for p in sorted((folder_tree / "images/train").rglob("*.jpg"))
        ],
        "val": ["images/val/v0", "images/val/v1"],
    }
    for split, stems in lines.items():
        text = "# image label\n" + "".join(
            f"{s}.jpg\t{s.replace('images/', 'labels/', 1)}.png\n" for s in stems
        )
        (folder_tree / f"{split}.txt").write_text(text)
    src = source(
        folder_tree,
        tmp_path / "out",
        {"train": {"list": "train.txt"}, "val": {"list": str(folder_tree / "val.txt")}},
    )
    metrics = prepare(src, tmp_path / "lists")
    assert (metrics["train_frames"], metrics["val_frames"]) == (6, 2)
    search = read_list(tmp_path / "lists" / SEARCH_LIST)
    assert {image.parent.name for image, _ in search} == set(GROUPS)
    assert (tmp_path / "out/trainIds/train/images/train/seq01/frame0.png").is_file()


def test_labels_beside_images_with_their_own_suffix(tmp_path):
    """CamVid-style: `x.png` photos and `x_L.png` label maps in one folder."""
    root = tmp_path / "camvid"
    for split, count in (("train", 4), ("val", 1)):
        for i in range(count):
            write_pair(root / split / f"f{i}.png", root / split / f"f{i}_L.png", i)
    table_csv(root / "classes.csv")
    splits = {s: {"images": s, "labels": s} for s in ("train", "val")}
    src = source(
        root, tmp_path / "out", splits, "classes.csv", image_suffix=".png", label_suffix="_L.png"
    )
    metrics = prepare(src, tmp_path / "lists", images=1)
    assert (metrics["train_frames"], metrics["val_frames"]) == (4, 1)
    assert [p.name for p, _ in read_list(tmp_path / "lists" / TRAIN_LIST)] == [
        f"f{i}.png" for i in range(4)
    ]


def _unknown_value(root: Path) -> Path:
    label = root / "labels/train/seq02/frame1.png"
    values = np.array(Image.open(label))
    values[100:110, 100:110] = 4
    values[0, 0] = 200
    Image.fromarray(values).save(label)
    return label


def _resized_label(root: Path) -> Path:
    label = root / "labels/train/seq02/frame1.png"
    Image.open(label).resize((480, 360), Image.NEAREST).save(label)
    return label


def _corrupt_image(root: Path) -> Path:
    image = root / "images/train/seq02/frame1.jpg"
    image.write_bytes(image.read_bytes()[:200])
    return image


def _image_without_label(root: Path) -> Path:
    (root / "labels/train/seq02/frame1.png").unlink()
    return root / "images/train/seq02/frame1.jpg"


def _label_without_image(root: Path) -> Path:
    (root / "images/train/seq02/frame1.jpg").unlink()
    return root / "labels/train/seq02/frame1.png"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_unknown_value, "label value(s) [4, 200] neither a class nor ignored in the class table"),
        (_resized_label, "label map is 360x480, image is 720x960"),
        (_corrupt_image, "unreadable or corrupt image"),
        (_image_without_label, "no label map"),
        (_label_without_image, "label map without an image"),
    ],
    ids=["unknown-value", "size", "corrupt-image", "image-without-label", "label-without-image"],
)
def test_bad_frame_is_named_or_skipped(folder_tree, tmp_path, damage, expected):
    named = damage(folder_tree)
    src = source(folder_tree, tmp_path / "out")
    with pytest.raises(DataError) as info:
        prepare(src, tmp_path / "lists")
    message = str(info.value)
    assert f"{named}: " in message and expected in message, message
    assert "on_bad_file: skip" in message and not (tmp_path / "lists").exists()
    metrics = prepare(src, tmp_path / "lists", on_bad_file="skip")
    assert metrics["train_frames"] == 5 and metrics["bad_files"] == 1
    bad = json.loads((tmp_path / "lists" / "bad_files.json").read_text())
    assert (
        expected in bad[0]["error"]
        and "seq02/frame1" not in (tmp_path / "lists" / TRAIN_LIST).read_text()
    )


LIST = {"train": {"list": "train.txt"}}
SPLIT_ERRORS = {
    "missing-list": (LIST, None, DataError, "train.txt: list file of split 'train' not found"),
    "empty-list": (
        LIST,
        "# nothing\n\n",
        DataError,
        "train.txt: empty list file of split 'train'; list one '<image> <label>' line",
    ),
    "malformed-list": (LIST, "a.jpg\n", DataError, "train.txt:1: expected '<image> <label>'"),
    "missing-folder": (
        {"train": {"images": "images/nope", "labels": "labels/train"}},
        None,
        DataError,
        "images/nope: images folder of split 'train' not found; fix prepare_data.folder.splits",
    ),
    "empty-folder": (
        {"train": {"images": "images/val", "labels": "images/val"}},
        None,
        DataError,
        "images/val: empty split 'train', no *.jpg images and no *.png label maps",
    ),
    "unknown-split": (
        {"training": SPLIT["train"]},
        None,
        ConfigError,
        "= 'train': not a split of prepare_data.folder.splits (training, val)",
    ),
}


@pytest.mark.parametrize(
    ("splits", "text", "error", "expected"), SPLIT_ERRORS.values(), ids=SPLIT_ERRORS
)
def test_split_level_errors(folder_tree, tmp_path, splits, text, error, expected):
    """Not frames but a whole split: always an error, whatever on_bad_file says."""
    if text is not None:
        (folder_tree / "train.txt").write_text(text)
    if "images/val" in expected:  # a folder without a single image or label map
        for path in (folder_tree / "images/val").iterdir():
            path.unlink()
    src = source(folder_tree, tmp_path / "out", {**splits, "val": SPLITS["val"]})
    with pytest.raises(error, match=re.escape(expected)):
        prepare(src, tmp_path / "lists", on_bad_file="skip")
    assert not (tmp_path / "lists").exists()
