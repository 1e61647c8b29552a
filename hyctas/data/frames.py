"""What every dataset source hands `prepare_tree`: frames, a converter, a class table.

A source (`hyctas.data.sources`) lists the frames of a split (`frames`) and gives a converter,
a picklable callable `Frame -> FrameResult` that checks one frame, writes its trainIds PNG and
counts its pixels per trainId. `convert_frames` runs a converter over frames in parallel.

Value-map sources (`voc`, `folder`) derive from `ValueMapSource` and convert with
`ValueMapConverter`: their label maps are single-channel 8-bit images (PNG mode "P" or "L",
read as raw values, not colours) whose pixel value is a class's `value` in the class table;
the trainIds are written under the stage's dataset folder, never into the user's tree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from hyctas.atomic import atomic_path
from hyctas.data.classes import ClassTable
from hyctas.data.transforms import IMREAD_IMAGE
from hyctas.errors import DataError
from hyctas.workers import process_pool

VALUE_MAP_MODES = ("P", "L")  # 8-bit single channel; "P" read as palette indices
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L")  # accepted when every value is below 256
CONVERTED = "trainIds"  # value-map sources write <dataset out>/trainIds/<split>/<key>.png


class Frame(Protocol):
    """The fields `prepare_tree` reads of a source's frame."""

    split: str  # the split (folder or list name) the frame belongs to
    image: Path
    train_ids: Path  # the trainIds PNG the list names
    group: str  # the search split's draw takes groups in turn (Cityscapes: the city)


@dataclass(frozen=True)
class LabelFrame:
    """One image and its label map (value-map sources)."""

    split: str
    image: Path
    label: Path  # the source's label map
    train_ids: Path  # written by the converter, under the stage's dataset folder
    group: str


@dataclass
class FrameResult:
    """What converting one frame found."""

    frame: Frame
    error: str | None = None
    converted: bool = False
    counts: list[int] = field(default_factory=list)  # pixels per trainId value 0..255


Converter = Callable[[Frame], FrameResult]


def read_image_shape(path: Path) -> tuple[int, int]:
    """Height and width of an image as training reads it (OpenCV); DataError when corrupt."""
    if not path.is_file():
        raise DataError(f"{path}: image not found")
    image = cv2.imread(str(path), IMREAD_IMAGE)
    if image is None:
        raise DataError(f"{path}: unreadable or corrupt image; replace or remove it")
    return image.shape[:2]


def read_value_map(path: Path) -> np.ndarray:
    """A label map's raw values (uint8, H x W); DataError for a colour or corrupt file."""
    if not path.is_file():
        raise DataError(f"{path}: label map not found")
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            values = np.array(image)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"{path}: unreadable or corrupt label map ({exc})") from None
    if mode in WIDE_MODES:
        if values.size and 0 <= values.min() and values.max() < 256:
            return values.astype(np.uint8)
        raise DataError(
            f"{path}: 16/32-bit label map with values {int(values.min())}..{int(values.max())}; "
            "class values must be 0..255: remap them to an 8-bit value map (and the class table)"
        )
    if mode == "1":  # a binary mask: 0 and 1
        return values.astype(np.uint8)
    if mode not in VALUE_MAP_MODES:
        raise DataError(
            f"{path}: label map of mode {mode}; expected a single-channel 8-bit value map "
            "(PNG mode P or L, pixel value = class value in the class table): convert "
            "colour-coded labels to value maps first"
        )
    return values


@dataclass(frozen=True)
class ValueMapConverter:
    """Check a `LabelFrame` and write its trainIds through a class table's lookup table.

    `lut` is `ClassTable.lut(ignore_label)`; `table` names the class table in messages.
    """

    lut: np.ndarray
    table: str

    def __call__(self, frame: LabelFrame) -> FrameResult:
        result = FrameResult(frame)
        try:
            if not frame.image.is_file() and not frame.label.is_file():
                raise DataError(f"{frame.image}: neither the image nor its label map exist")
            if not frame.label.is_file():
                raise DataError(
                    f"{frame.image}: no label map ({frame.label} not found); add it or "
                    "remove the image"
                )
            if not frame.image.is_file():
                raise DataError(
                    f"{frame.label}: label map without an image ({frame.image} not found); "
                    "add the image or remove the label map"
                )
            shape = read_image_shape(frame.image)
            values = read_value_map(frame.label)
            if values.shape != shape:
                raise DataError(
                    f"{frame.label}: label map is {values.shape[0]}x{values.shape[1]}, image "
                    f"is {shape[0]}x{shape[1]} ({frame.image}); labels must match their image"
                )
            present = np.flatnonzero(np.bincount(values.ravel(), minlength=256))
            unknown = [int(v) for v in present if self.lut[v] < 0]
            if unknown:
                raise DataError(
                    f"{frame.label}: label value(s) {unknown} neither a class nor ignored in "
                    f"the class table {self.table}; add them to the table (a class, or its "
                    "ignored values) or fix the label map"
                )
            train_ids = self.lut[values].astype(np.uint8)
            with atomic_path(frame.train_ids) as tmp:
                Image.fromarray(train_ids).save(tmp, format="PNG")
            result.converted = True
            result.counts = np.bincount(train_ids.ravel(), minlength=256).tolist()
        except DataError as exc:
            result.error = str(exc)
        return result


@dataclass(frozen=True)
class ValueMapSource:
    """A user's tree of images and value maps (`root`, only read); trainIds go under `out`.

    The base of the value-map sources: `table` maps label values to trainIds, `name` is the
    `prepare_data.source` value.
    """

    root: Path
    out: Path
    table: ClassTable
    name: ClassVar[str]

    def converter(self, ignore_label: int) -> Converter:
        """Map label maps through the class table; unknown values make a frame bad."""
        return ValueMapConverter(self.table.lut(ignore_label), self.table.origin)

    def record(self) -> dict:
        """What `source.json` says of this source."""
        return {"source": self.name, "root": str(self.root.resolve()), "table": self.table.origin}


def read_list_lines(path: Path, what: str) -> list[str]:
    """The lines of a text list file; DataError naming it when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable {what} ({exc})") from None


def convert_frames(
    frames: Sequence[Frame], convert: Converter, workers: int, progress: bool = True
) -> list[FrameResult]:
    """Run `convert` over `frames` in `workers` processes with a progress bar; input order."""
    bar = tqdm(total=len(frames), desc="trainIds", unit="frame", disable=not progress)
    results: list[FrameResult] = []
    if workers > 1:
        with process_pool(workers) as pool:
            for result in pool.imap(convert, frames, chunksize=4):
                results.append(result)
                bar.update()
    else:
        for frame in frames:
            results.append(convert(frame))
            bar.update()
    bar.close()
    return results
