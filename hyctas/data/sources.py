"""Dataset sources of `prepare_data`, by the name `prepare_data.source` gives them.

Each source lists the frames of a split (image, label source, trainIds path, draw group),
gives a converter that writes a frame's trainIds PNG, and carries its class table;
`hyctas.data.prepare.prepare_tree` runs the same split, hold-out, statistics and list code on
all of them.

| source | data | class table |
|---|---|---|
| synthetic | generated into the dataset folder, Cityscapes layout | Cityscapes |
| cityscapes | `prepare_data.cityscapes.root` (trainIds written beside its labels) | Cityscapes |
| voc | `prepare_data.voc.root`, PASCAL VOC layout (`hyctas.data.voc`) | VOC, or a file |
| folder | `prepare_data.folder.root`, folders or list files (`hyctas.data.folder`) | a file |

    source = source_from_params(params["prepare_data"], Path("data/prepare_data/dataset"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from hyctas.data.cityscapes import CityscapesSource
from hyctas.data.classes import ClassTable, load_class_table, voc_table
from hyctas.data.folder import FolderSource
from hyctas.data.frames import Converter, Frame
from hyctas.data.voc import VocSource
from hyctas.errors import ConfigError


class Source(Protocol):
    """What `prepare_tree` needs of a dataset source."""

    name: str  # the prepare_data.source value
    table: ClassTable

    def check(self, splits: Iterable[str]) -> None:
        """Raise DataError (or ConfigError) when a split cannot be read at all."""

    def frames(self, split: str) -> list[Frame]:
        """The frames of `split`, in a fixed order."""

    def converter(self, ignore_label: int) -> Converter:
        """A picklable callable checking one frame and writing its trainIds."""

    def record(self) -> dict:
        """What the stage's `source.json` records (source name, root, table)."""


def _root(block: dict, name: str, where: str) -> Path:
    root = block[name]["root"]
    if not root:
        raise ConfigError(
            f"{where}: prepare_data.{name}.root must name a folder when source is {name}"
        )
    return Path(root).expanduser()


def _table_file(root: Path, path: str) -> Path:
    """A class table path: absolute, or relative to the dataset root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else root / path


def _synthetic(block: dict, dataset_out: Path, where: str) -> CityscapesSource:
    return CityscapesSource(Path(dataset_out), name="synthetic")


def _cityscapes(block: dict, dataset_out: Path, where: str) -> CityscapesSource:
    return CityscapesSource(_root(block, "cityscapes", where))


def _voc(block: dict, dataset_out: Path, where: str) -> VocSource:
    root = _root(block, "voc", where)
    table_file = block["voc"]["class_table"]
    table = voc_table() if table_file is None else load_class_table(_table_file(root, table_file))
    return VocSource(root, Path(dataset_out), table)


def _folder(block: dict, dataset_out: Path, where: str) -> FolderSource:
    root = _root(block, "folder", where)
    settings = block["folder"]
    if not settings["class_table"]:
        raise ConfigError(
            f"{where}: prepare_data.folder.class_table must name a class table file (YAML or "
            "CSV, format in hyctas/data/classes.py) when source is folder"
        )
    return FolderSource(
        root=root,
        out=Path(dataset_out),
        table=load_class_table(_table_file(root, settings["class_table"])),
        splits=settings["splits"],
        image_suffix=settings["image_suffix"],
        label_suffix=settings["label_suffix"],
    )


SOURCES: dict[str, Callable[[dict, Path, str], Source]] = {
    "synthetic": _synthetic,
    "cityscapes": _cityscapes,
    "voc": _voc,
    "folder": _folder,
}


def source_from_params(block: dict, dataset_out: Path, where: str = "params.yaml") -> Source:
    """The source `block` (`params["prepare_data"]`) names; `where` names the params file.

    Raises:
        ConfigError: an unknown source, or a root or class table the source needs is unset.
        DataError: its class table file is missing or malformed.
    """
    name = block["source"]
    if name not in SOURCES:
        raise ConfigError(
            f"{where}: prepare_data.source = {name!r}: expected one of {sorted(SOURCES)}"
        )
    return SOURCES[name](block, Path(dataset_out), where)
