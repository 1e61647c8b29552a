"""Images and label maps in plain folders as a `prepare_data` source (`source: folder`).

Each split of `prepare_data.folder.splits` is either
  * two folders, `{images: <dir>, labels: <dir>}`: an image `<dir>/<key><image_suffix>` pairs with
    the label map `<labels dir>/<key><label_suffix>`, `<key>` being its path under the folder
    without the suffix (subfolders allowed), e.g. ADE20K `images/training` + `.jpg` and
    `annotations/training` + `.png`, or CamVid-style `_L.png` labels in the images' own folder;
  * or a list file, `{list: <file>}`: one frame a line, `<image> <label>` (tab- or
    space-separated; blank lines and lines starting with `#` are skipped).
Every path is relative to `prepare_data.folder.root` (or absolute). Label maps are
single-channel 8-bit value maps (PNG mode L or P, pixel value = the class's value in the class
table); colour-coded labels (RGB) must be converted to values first. The class table file
(`prepare_data.folder.class_table`) is required. The trainIds go to
`<out>/trainIds/<split>/<key>.png`, `out` being the stage's dataset folder: the user's tree is
only read. A frame's draw group is its subfolder (flat folders form one group).

    source = FolderSource(root, out, load_class_table(root / "classes.yaml"),
                          {"train": {"images": "img/train", "labels": "lbl/train"}}, ".jpg", ".png")
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar

from hyctas.data.frames import CONVERTED, LabelFrame, ValueMapSource, read_list_lines
from hyctas.errors import ConfigError, DataError


def _files(folder: Path, suffix: str, longer: str | None) -> dict[str, Path]:
    """Files of `folder` (any depth) ending in `suffix`, by key (relative path minus suffix).

    `longer`: a longer suffix that also ends in `suffix` and names the other kind of file in the
    same folder (images `.png` beside labels `_L.png`): those files are not ours.
    """
    found = {}
    for path in sorted(folder.rglob(f"*{suffix}")):
        if path.name.startswith(".") or not path.is_file():
            continue
        if longer and path.name.endswith(longer):
            continue
        found[path.relative_to(folder).as_posix()[: -len(suffix)]] = path
    return found


@dataclass(frozen=True)
class FolderSource(ValueMapSource):
    """Frames from per-split folders or list files under `root`; trainIds under `out`."""

    splits: dict  # split name -> {images, labels} or {list}, as in params.yaml
    image_suffix: str
    label_suffix: str
    name: ClassVar[str] = "folder"

    def _path(self, path: str) -> Path:
        return Path(path) if Path(path).is_absolute() else self.root / path

    def _layout(self, split: str) -> dict:
        if split not in self.splits:
            raise ConfigError(
                f"prepare_data.train_split / val_split = '{split}': not a split of "
                f"prepare_data.folder.splits ({', '.join(self.splits)}); name one of them or "
                "add it there"
            )
        return self.splits[split]

    def check(self, splits: Iterable[str]) -> None:
        """ConfigError for an unknown split; DataError naming a missing folder or list file."""
        if not self.root.is_dir():
            raise DataError(
                f"{self.root}: dataset root not found; name the folder holding your images "
                "and label maps in prepare_data.folder.root"
            )
        for split in splits:
            layout = self._layout(split)
            if "list" in layout:
                self._pairs(split, self._path(layout["list"]))
                continue
            for kind in ("images", "labels"):
                folder = self._path(layout[kind])
                if not folder.is_dir():
                    raise DataError(
                        f"{folder}: {kind} folder of split '{split}' not found; fix "
                        f"prepare_data.folder.splits.{split}.{kind} (relative to "
                        "prepare_data.folder.root)"
                    )
            if self._path(layout["images"]) == self._path(layout["labels"]):
                if self.image_suffix == self.label_suffix:
                    raise ConfigError(
                        f"prepare_data.folder.splits.{split}: images and labels share a folder "
                        f"and the suffix '{self.image_suffix}'; give the labels their own "
                        "prepare_data.folder.label_suffix (e.g. _L.png) or folder"
                    )

    def _pairs(self, split: str, path: Path) -> list[tuple[Path, Path]]:
        """(image, label) pairs of a list file, each once; DataError when missing or empty."""
        if not path.is_file():
            raise DataError(
                f"{path}: list file of split '{split}' not found; write it (one "
                f"'<image> <label>' line per frame) or fix prepare_data.folder.splits.{split}.list"
            )
        lines = read_list_lines(path, "list file")
        pairs = []
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.strip().split("\t") if "\t" in line else line.split()
            if len(parts) != 2:
                raise DataError(
                    f"{path}:{number}: expected '<image> <label>' (two paths separated by a tab "
                    f"or spaces), got {line!r}"
                )
            pairs.append((self._path(parts[0].strip()), self._path(parts[1].strip())))
        if not pairs:
            raise DataError(
                f"{path}: empty list file of split '{split}'; list one '<image> <label>' "
                "line per frame"
            )
        return list(dict.fromkeys(pairs))

    def _key(self, image: Path) -> str:
        """Where an image's trainIds go under trainIds/<split>/ (its path minus the suffix)."""
        key = image.relative_to(self.root) if image.is_relative_to(self.root) else image
        key = PurePosixPath(*key.parts[1:]) if key.is_absolute() else PurePosixPath(key)
        return str(key.with_suffix("")) if key.suffix else str(key)

    def _frame(self, split: str, image: Path, label: Path, key: str) -> LabelFrame:
        return LabelFrame(
            split=split,
            image=image,
            label=label,
            train_ids=self.out / CONVERTED / split / f"{key}.png",
            group=str(PurePosixPath(key).parent),
        )

    def frames(self, split: str) -> list[LabelFrame]:
        """Every frame of `split`, sorted by key (list files: in file order).

        An image without a label map, or a label map without an image, is still a frame: it
        becomes a bad frame when converted, so `on_bad_file` decides.
        """
        layout = self._layout(split)
        if "list" in layout:
            return [
                self._frame(split, image, label, self._key(image))
                for image, label in self._pairs(split, self._path(layout["list"]))
            ]
        image_dir, label_dir = self._path(layout["images"]), self._path(layout["labels"])
        # In a shared folder, a file ending in the longer suffix is of that kind only.
        shared = image_dir == label_dir
        longer = max(self.image_suffix, self.label_suffix, key=len) if shared else None
        images = _files(
            image_dir, self.image_suffix, None if longer == self.image_suffix else longer
        )
        labels = _files(
            label_dir, self.label_suffix, None if longer == self.label_suffix else longer
        )
        if not images and not labels:
            raise DataError(
                f"{image_dir}: empty split '{split}', no *{self.image_suffix} images and no "
                f"*{self.label_suffix} label maps (in {label_dir}); check the folders and "
                "prepare_data.folder.image_suffix / label_suffix"
            )
        return [
            self._frame(
                split,
                images.get(key, image_dir / f"{key}{self.image_suffix}"),
                labels.get(key, label_dir / f"{key}{self.label_suffix}"),
                key,
            )
            for key in sorted(set(images) | set(labels))
        ]
