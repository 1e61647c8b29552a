"""PASCAL VOC as a `prepare_data` source (`source: voc`).

Layout (VOCdevkit/VOC2012, or any tree with the same three folders):
    <root>/JPEGImages/<id>.jpg
    <root>/SegmentationClass/<id>.png         palette PNG: pixel value = class index, 255 = void
    <root>/ImageSets/Segmentation/<split>.txt one image id per line
`prepare_data.train_split` / `val_split` name the ImageSets lists (train, val, trainval...).
Label maps are read as raw palette indices (plain L images are accepted too) and mapped through
the class table (`voc_table()` unless `prepare_data.voc.class_table` names a file). The trainIds
go to `<out>/trainIds/<split>/<id>.png`, `out` being the stage's dataset folder: the user's
tree is only read. VOC has no scene groups: the search split is a seeded draw over all frames.

    source = VocSource(Path("/data/VOCdevkit/VOC2012"), Path("data/prepare_data/dataset"))
    frames = source.frames("train")
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from hyctas.data.classes import ClassTable, voc_table
from hyctas.data.frames import CONVERTED, LabelFrame, ValueMapSource, read_list_lines
from hyctas.errors import DataError

FOLDERS = ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation")
GROUP = "voc"  # one draw group: VOC frames carry no scene or city
DOWNLOAD_HINT = (
    "download VOCtrainval_11-May-2012.tar from http://host.robots.ox.ac.uk/pascal/VOC/voc2012/, "
    "unpack it and name its VOCdevkit/VOC2012 folder in prepare_data.voc.root"
)


@dataclass(frozen=True)
class VocSource(ValueMapSource):
    """A PASCAL VOC tree; trainIds are written under `out`.

    Args:
        root: the VOC2012 folder (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/).
        out: the stage's dataset folder, where `trainIds/<split>/<id>.png` are written.
        table: the class table of the label values.
    """

    table: ClassTable = field(default_factory=voc_table)
    name: ClassVar[str] = "voc"

    def split_list(self, split: str) -> Path:
        """The ImageSets file of `split`."""
        return self.root / "ImageSets" / "Segmentation" / f"{split}.txt"

    def check(self, splits: Iterable[str]) -> None:
        """DataError naming a missing root, folder or split list, or an empty list."""
        if not self.root.is_dir():
            raise DataError(f"{self.root}: VOC root not found; {DOWNLOAD_HINT}")
        missing = [str(self.root / f) for f in FOLDERS if not (self.root / f).is_dir()]
        if missing:
            raise DataError(f"missing VOC folder(s): {', '.join(missing)}; {DOWNLOAD_HINT}")
        for split in splits:
            self.ids(split)

    def ids(self, split: str) -> list[str]:
        """The image ids of a split list, in file order, each once."""
        path = self.split_list(split)
        if not path.is_file():
            found = sorted(p.stem for p in path.parent.glob("*.txt"))
            raise DataError(
                f"{path}: split list not found; name one of {found} in "
                "prepare_data.train_split / val_split, or write the list (one image id a line)"
            )
        lines = read_list_lines(path, "split list")
        ids = list(dict.fromkeys(line.split()[0] for line in lines if line.strip()))
        if not ids:
            raise DataError(
                f"{path}: empty split list; list one image id (JPEGImages/<id>.jpg) per line"
            )
        return ids

    def frames(self, split: str) -> list[LabelFrame]:
        """The frames of a split list (missing files become bad frames when converted)."""
        return [
            LabelFrame(
                split=split,
                image=self.root / "JPEGImages" / f"{image_id}.jpg",
                label=self.root / "SegmentationClass" / f"{image_id}.png",
                train_ids=self.out / CONVERTED / split / f"{image_id}.png",
                group=GROUP,
            )
            for image_id in self.ids(split)
        ]
