"""Validate a Cityscapes-layout tree and make its trainId labels, in parallel.

Layout (the official one, also written by the synthetic generator):
    <root>/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    <root>/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_polygons.json   (or _labelIds.png)
Each frame gets `<...>_gtFine_labelTrainIds.png` beside its polygons, made by cityscapesscripts
(`createLabelImage(annotation, "trainIds")`, what `json2labelImg` does), or mapped from its
`labelIds.png` with the official table when it has no polygons (a value the table lacks makes
the frame bad). Frames already converted are skipped. Bad frames raise one DataError naming
them, or are skipped and reported. `CityscapesSource` is this tree as a `prepare_data` source
(`source: cityscapes`, and `synthetic` once generated); a frame's group is its city.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from hyctas.atomic import atomic_path
from hyctas.data.classes import ClassTable, cityscapes_table
from hyctas.data.frames import Converter, FrameResult
from hyctas.data.labels import known_polygon_label, labelids_to_trainids, unknown_label_ids
from hyctas.data.transforms import IMREAD_IMAGE
from hyctas.errors import DataError

IMAGE_SUFFIX = "_leftImg8bit.png"
DOWNLOAD_HINT = (
    "download leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from "
    "https://www.cityscapes-dataset.com and unzip both into the folder named by "
    "prepare_data.cityscapes.root"
)


@dataclass(frozen=True)
class Frame:
    """One image and its label files."""

    split: str
    image: Path
    polygons: Path
    label_ids: Path
    train_ids: Path
    group: str  # the city folder: the search split's draw takes cities in turn


def validate_layout(root: Path, splits: Iterable[str]) -> None:
    """Raise DataError naming every missing folder of a Cityscapes tree, and the fix."""
    if not root.is_dir():
        raise DataError(f"{root}: Cityscapes root not found; {DOWNLOAD_HINT}.")
    missing = [
        str(root / kind / split)
        for split in splits
        for kind in ("leftImg8bit", "gtFine")
        if not (root / kind / split).is_dir()
    ]
    if missing:
        raise DataError(f"missing Cityscapes folder(s): {', '.join(missing)}; {DOWNLOAD_HINT}.")


def find_frames(root: Path, split: str) -> list[Frame]:
    """List the frames of one split, sorted; DataError when the split is empty."""
    image_dir = root / "leftImg8bit" / split
    frames = []
    for image in sorted(image_dir.glob(f"*/*{IMAGE_SUFFIX}")):
        stem = image.name[: -len(IMAGE_SUFFIX)]
        label_dir = root / "gtFine" / split / image.parent.name
        frames.append(
            Frame(
                split=split,
                image=image,
                polygons=label_dir / f"{stem}_gtFine_polygons.json",
                label_ids=label_dir / f"{stem}_gtFine_labelIds.png",
                train_ids=label_dir / f"{stem}_gtFine_labelTrainIds.png",
                group=image.parent.name,
            )
        )
    if not frames:
        raise DataError(
            f"{image_dir}: empty split, no <city>/*{IMAGE_SUFFIX} files found; "
            f"check the folder, or name another in prepare_data.train_split / val_split."
        )
    return frames


def _read_polygons(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable polygon file ({exc})") from None
    unknown = sorted({o.get("label", "?") for o in data.get("objects", [])} - {""})
    unknown = [name for name in unknown if not known_polygon_label(name)]
    if unknown:
        raise DataError(
            f"{path}: unknown label name(s) {unknown}; use names from "
            "cityscapesscripts.helpers.labels or fix the annotation"
        )
    return data


def _make_train_ids(frame: Frame, image_shape: tuple[int, int]) -> None:
    """Write the trainIds PNG of a frame atomically, from its polygons or its labelIds."""
    if frame.polygons.is_file():
        data = _read_polygons(frame.polygons)
        size = (data.get("imgHeight"), data.get("imgWidth"))
        if size != image_shape:
            raise DataError(
                f"{frame.polygons}: polygon canvas {size[0]}x{size[1]} differs from image "
                f"{image_shape[0]}x{image_shape[1]} ({frame.image})"
            )
        from cityscapesscripts.helpers.annotation import Annotation
        from cityscapesscripts.preparation.json2labelImg import createLabelImage

        annotation = Annotation()
        annotation.fromJsonFile(str(frame.polygons))
        with atomic_path(frame.train_ids) as tmp:
            createLabelImage(annotation, "trainIds").save(tmp, format="PNG")
    elif frame.label_ids.is_file():
        ids = cv2.imread(str(frame.label_ids), cv2.IMREAD_UNCHANGED)
        if ids is None or ids.ndim != 2:
            raise DataError(f"{frame.label_ids}: unreadable or not a single-channel label image")
        unknown = unknown_label_ids(ids)
        if unknown:
            # The table maps such values to ignore: training would lose them without a word.
            raise DataError(
                f"{frame.label_ids}: unknown label id(s) {unknown}, not in the Cityscapes label "
                "table (cityscapesscripts.helpers.labels); remake the file with "
                "cityscapesscripts' json2labelImg or fix the annotation"
            )
        with atomic_path(frame.train_ids) as tmp:
            if not cv2.imwrite(str(tmp) + ".png", labelids_to_trainids(ids)):
                raise DataError(f"{frame.train_ids}: could not write")
            os.replace(str(tmp) + ".png", tmp)
    else:
        raise DataError(
            f"{frame.image}: no label file ({frame.polygons.name} or {frame.label_ids.name})"
        )


def _is_fresh(frame: Frame) -> bool:
    if not frame.train_ids.is_file():
        return False
    sources = [p for p in (frame.polygons, frame.label_ids) if p.is_file()]
    return all(frame.train_ids.stat().st_mtime >= p.stat().st_mtime for p in sources)


def process_frame(frame: Frame, num_classes: int, ignore_label: int) -> FrameResult:
    """Check one frame, make its trainIds if needed, and count its label pixels."""
    result = FrameResult(frame)
    try:
        image = cv2.imread(str(frame.image), IMREAD_IMAGE)
        if image is None:
            raise DataError(f"{frame.image}: unreadable or corrupt image; replace or remove it")
        shape = image.shape[:2]
        if frame.label_ids.is_file():
            ids = cv2.imread(str(frame.label_ids), cv2.IMREAD_UNCHANGED)
            if ids is None:
                raise DataError(f"{frame.label_ids}: unreadable or corrupt label image")
            if ids.shape[:2] != shape:
                raise DataError(
                    f"{frame.label_ids}: label image is {ids.shape[0]}x{ids.shape[1]}, "
                    f"image is {shape[0]}x{shape[1]}; labels must match their image"
                )
        if not _is_fresh(frame):
            _make_train_ids(frame, shape)
            result.converted = True
        train_ids = cv2.imread(str(frame.train_ids), cv2.IMREAD_UNCHANGED)
        if train_ids is None or train_ids.shape[:2] != shape:
            raise DataError(f"{frame.train_ids}: missing, corrupt or not {shape[0]}x{shape[1]}")
        counts = np.bincount(train_ids.ravel(), minlength=256)
        bad_values = [
            int(v) for v in np.flatnonzero(counts) if v >= num_classes and v != ignore_label
        ]
        if bad_values:
            raise DataError(
                f"{frame.train_ids}: unknown label id(s) {bad_values} (classes are 0.."
                f"{num_classes - 1}, ignore {ignore_label}); delete it to remake it from the "
                "frame's labels"
            )
        result.counts = counts.tolist()
    except DataError as exc:
        result.error = str(exc)
    return result


@dataclass(frozen=True)
class CityscapesSource:
    """A Cityscapes-layout tree as a prepare_data source; trainIds are written beside its labels.

    Args:
        root: the tree (leftImg8bit/, gtFine/).
        name: the `prepare_data.source` it serves (cityscapes, or synthetic once generated).
    """

    root: Path
    name: str = "cityscapes"
    table: ClassTable = field(default_factory=cityscapes_table)

    def check(self, splits: Iterable[str]) -> None:
        """DataError naming every missing folder of the splits."""
        validate_layout(self.root, splits)

    def frames(self, split: str) -> list[Frame]:
        """The frames of `split` (a folder under leftImg8bit/), sorted."""
        return find_frames(self.root, split)

    def converter(self, ignore_label: int) -> Converter:
        """`process_frame` with this table's class count and `ignore_label`."""
        return partial(process_frame, num_classes=len(self.table), ignore_label=ignore_label)

    def record(self) -> dict:
        """What `source.json` says of this source."""
        return {"source": self.name, "root": str(self.root.resolve())}
