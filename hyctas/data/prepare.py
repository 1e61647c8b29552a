"""The `prepare_data` stage's logic: a source's frames to trainIds, lists and statistics.

Any source (`hyctas.data.sources`: synthetic, cityscapes, voc, folder) goes through the same
code: its splits are checked, its frames converted in parallel, bad frames named or skipped, the
search split held out, and the lists written.

Outputs (paths chosen by the DAG files), one list per role of the frames (hyctas.data):
    lists_dir/train.txt          the training split (the source's `train_split`): retrain
    lists_dir/search.txt         `search_split.images` frames held out of the training split,
                                 groups (Cityscapes: cities) in turn: probes and candidate mIoU
    lists_dir/supernet_train.txt the training split minus search.txt: the supernet trains on it
    lists_dir/val.txt            the validation split (`val_split`): evaluate only
    lists_dir/class_stats.json   per-class pixel counts and shares per list
    lists_dir/classes.json       the class table (hyctas.data.classes.load_classes reads it)
    lists_dir/bad_files.json     frames left out (on_bad_file: skip) and why; [] otherwise
A list line is one frame: `<image path>\t<trainIds path>`.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hyctas.atomic import atomic_dir, write_json, write_text
from hyctas.data import SEARCH_LIST, SUPERNET_TRAIN_LIST, TRAIN_LIST, VAL_LIST
from hyctas.data.cityscapes import CityscapesSource
from hyctas.data.classes import write_classes
from hyctas.data.frames import CONVERTED, FrameResult, convert_frames
from hyctas.data.sources import Source
from hyctas.errors import ConfigError, DataError

MAX_LISTED_ERRORS = 10


@dataclass(frozen=True)
class Splits:
    """Which folders of the tree train and validate, and the search split held out of training.

    Built from the `prepare_data` block: `train_split`, `val_split`, `search_split`.
    """

    train: str  # split of the source holding the training frames (Cityscapes: a folder)
    val: str  # split of the validation frames
    search_images: int  # frames held out of the training split for the search
    search_seed: int  # seed of the held-out draw

    def __post_init__(self) -> None:
        if self.train == self.val:
            raise ConfigError(
                f"prepare_data.train_split and prepare_data.val_split both name '{self.train}'; "
                "a model must be evaluated on frames it did not train on: name two folders"
            )
        if self.search_images < 1:
            raise ConfigError(
                f"prepare_data.search_split.images = {self.search_images}: expected >= 1"
            )

    @classmethod
    def from_params(cls, block: dict) -> Splits:
        """From `params["prepare_data"]`."""
        return cls(
            train=block["train_split"],
            val=block["val_split"],
            search_images=block["search_split"]["images"],
            search_seed=block["search_split"]["seed"],
        )


def hold_out(results: list[FrameResult], images: int, seed: int) -> list[int]:
    """Indices of the `images` frames of `results` that form the search split, in draw order.

    Frames are grouped by `frame.group` (Cityscapes: the city folder; one group for flat
    datasets). Each group's frames are shuffled, the groups are put in a shuffled order (both
    from `seed`), then groups give one frame each in turn: every group is represented once there
    are at least as many images as groups, and the groups' shares differ by at most one frame
    (until a group runs out). In draw order, any first k frames are spread over groups too.
    """
    by_group: dict[str, list[int]] = {}
    for index, result in enumerate(results):
        by_group.setdefault(result.frame.group, []).append(index)
    rng = np.random.default_rng(seed)
    queues = [[members[i] for i in rng.permutation(len(members))] for members in by_group.values()]
    queues = [queues[i] for i in rng.permutation(len(queues))]
    picked: list[int] = []
    while len(picked) < images and any(queues):
        for queue in queues:
            if queue and len(picked) < images:
                picked.append(queue.pop(0))
    return picked


def _list_path(target: Path, list_dir: Path) -> str:
    """Paths inside the project are written relative to the list file, others absolute."""
    target = target.resolve()
    if target.is_relative_to(Path.cwd().resolve()):
        return os.path.relpath(target, list_dir.resolve())
    return str(target)


def class_statistics(
    results: dict[str, list[FrameResult]], names: list[str], ignore_label: int
) -> dict:
    """Per-class pixel counts and shares of every list (ignored pixels counted apart)."""
    num_classes = len(names)
    stats: dict = {"classes": names, "splits": {}}
    for split, split_results in results.items():
        counts = np.zeros(256, dtype=np.int64)
        for r in split_results:
            if r.error is None:
                counts += np.asarray(r.counts, dtype=np.int64)
        labelled = int(counts[:num_classes].sum())
        stats["splits"][split] = {
            "frames": sum(r.error is None for r in split_results),
            "pixels": {names[i]: int(counts[i]) for i in range(num_classes)},
            "share": {
                names[i]: counts[i] / labelled if labelled else 0.0 for i in range(num_classes)
            },
            "ignored_pixels": int(counts[ignore_label]),
        }
    return stats


def _check_errors(results: dict[str, list[FrameResult]], on_bad_file: str) -> list[dict]:
    bad = [
        {"split": split, "image": str(r.frame.image), "error": r.error}
        for split, split_results in results.items()
        for r in split_results
        if r.error is not None
    ]
    if bad and on_bad_file == "error":
        shown = "\n".join(f"  {b['error']}" for b in bad[:MAX_LISTED_ERRORS])
        more = (
            f"\n  ... and {len(bad) - MAX_LISTED_ERRORS} more"
            if len(bad) > MAX_LISTED_ERRORS
            else ""
        )
        raise DataError(
            f"{len(bad)} bad frame(s):\n{shown}{more}\n"
            "Fix or remove these files, or set prepare_data.on_bad_file: skip to leave them out "
            "(they are then listed in bad_files.json)."
        )
    for split, split_results in results.items():
        if all(r.error is not None for r in split_results):
            raise DataError(
                f"split '{split}': every frame is bad; nothing left to train or evaluate on"
            )
    return bad


def role_lists(
    results: dict[str, list[FrameResult]], splits: Splits
) -> dict[str, list[FrameResult]]:
    """The good frames of each list file: train, supernet_train, search (held out), val."""
    train = [r for r in results[splits.train] if r.error is None]
    if splits.search_images >= len(train):
        raise ConfigError(
            f"prepare_data.search_split.images = {splits.search_images}: the training split "
            f"'{splits.train}' has only {len(train)} usable frame(s), and the search split is "
            f"held out of it; use fewer than {len(train)} so the supernet has frames to train on"
        )
    search = hold_out(train, splits.search_images, splits.search_seed)
    held_out = set(search)
    return {
        TRAIN_LIST: train,
        SUPERNET_TRAIN_LIST: [r for i, r in enumerate(train) if i not in held_out],
        SEARCH_LIST: [train[i] for i in search],  # draw order: groups in turn
        VAL_LIST: [r for r in results[splits.val] if r.error is None],
    }


SOURCE_RECORD = "source.json"  # in the dataset output: which source and root the lists name


def clear_converted(dataset_out: Path) -> None:
    """Remove the trainIds and source record a value-map source wrote into `dataset_out`.

    Run before converting (no stale frames survive) and after a failure (no partial output);
    anything else in the folder is left alone, and the folder goes only when it is then empty.
    """
    dataset_out = Path(dataset_out)
    shutil.rmtree(dataset_out / CONVERTED, ignore_errors=True)
    (dataset_out / SOURCE_RECORD).unlink(missing_ok=True)
    if dataset_out.is_dir() and not any(dataset_out.iterdir()):
        dataset_out.rmdir()


def _warn_overlap(lists: dict[str, list[FrameResult]]) -> None:
    """Say so when a validation image is also a training image: its mIoU would be optimistic."""
    train = {r.frame.image.resolve() for r in lists[TRAIN_LIST]}
    shared = [r.frame.image for r in lists[VAL_LIST] if r.frame.image.resolve() in train]
    if shared:
        print(
            f"warning: {len(shared)} validation image(s) are also training images (e.g. "
            f"{shared[0]}); the evaluated mIoU will be optimistic: use disjoint splits",
            file=sys.stderr,
        )


def prepare_tree(
    source: Source | Path,
    splits: Splits,
    lists_dir: Path,
    *,
    num_classes: int,
    ignore_label: int,
    on_bad_file: str,
    workers: int,
    progress: bool = True,
) -> dict:
    """Check `source`, make its trainIds, write lists, statistics and classes.json atomically.

    Args:
        source: a dataset source (`hyctas.data.sources`), or the root of a Cityscapes tree.
        splits: which splits train and validate, and the search split's size and seed.
        lists_dir: the lists folder, replaced whole on success (untouched on failure).
        num_classes: `base.num_classes`; must equal the source's class table length.
        ignore_label: `base.ignore_label`, the trainId of ignored pixels.
        on_bad_file: "error" (one DataError naming every bad frame) or "skip".
        workers: conversion processes.
        progress: show a progress bar.

    Returns:
        The metrics of the stage (frame counts per list, conversions, bad files, seconds).
    """
    start = time.perf_counter()
    if isinstance(source, str | os.PathLike):
        source = CityscapesSource(Path(source))
    source.table.check_num_classes(num_classes)
    convert = source.converter(ignore_label)
    folders = [splits.train, splits.val]
    source.check(folders)
    frames = {folder: source.frames(folder) for folder in folders}
    results = {
        folder: convert_frames(folder_frames, convert, workers, progress)
        for folder, folder_frames in frames.items()
    }
    bad = _check_errors(results, on_bad_file)
    lists = role_lists(results, splits)
    _warn_overlap(lists)
    roles = {name.removesuffix(".txt"): members for name, members in lists.items()}
    stats = class_statistics(roles, source.table.names, ignore_label)
    stats["folders"] = {"train": splits.train, "val": splits.val}
    with atomic_dir(lists_dir) as tmp:
        for name, members in lists.items():
            lines = [
                _list_path(r.frame.image, lists_dir)
                + "\t"
                + _list_path(r.frame.train_ids, lists_dir)
                for r in members
            ]
            write_text(tmp / name, "\n".join(lines) + "\n")
        write_json(tmp / "class_stats.json", stats)
        write_json(tmp / "bad_files.json", bad)
        write_classes(tmp, source.table, source.name)
    metrics: dict = {
        "bad_files": len(bad),
        "converted": sum(r.converted for rs in results.values() for r in rs),
        "seconds": round(time.perf_counter() - start, 2),
    }
    for role, role_stats in stats["splits"].items():
        metrics[f"{role}_frames"] = role_stats["frames"]
        metrics[f"{role}_classes_present"] = sum(v > 0 for v in role_stats["pixels"].values())
    return metrics
