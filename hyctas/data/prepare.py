"""The `prepare_data` stage's logic: get a Cityscapes-layout tree, make trainIds, write lists.

Outputs (paths chosen by the DAG files), one list per role of the frames (hyctas.data):
    lists_dir/train.txt          the training split (the tree's `train_split` folder): retrain
    lists_dir/search.txt         `search_split.images` frames held out of the training split,
                                 cities in turn: supernet probes and candidate mIoU
    lists_dir/supernet_train.txt the training split minus search.txt: the supernet trains on it
    lists_dir/val.txt            the validation split (`val_split` folder): evaluate only
    lists_dir/class_stats.json   per-class pixel counts and shares per list
    lists_dir/bad_files.json     frames left out (on_bad_file: skip) and why; [] otherwise
A list line is one frame: `<image path>\t<trainIds path>`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hyctas.atomic import atomic_dir, write_json, write_text
from hyctas.data import SEARCH_LIST, SUPERNET_TRAIN_LIST, TRAIN_LIST, VAL_LIST
from hyctas.data.cityscapes import FrameResult, convert_frames, find_frames, validate_layout
from hyctas.data.labels import trainid_names
from hyctas.errors import ConfigError, DataError

MAX_LISTED_ERRORS = 10


@dataclass(frozen=True)
class Splits:
    """Which folders of the tree train and validate, and the search split held out of training.

    Built from the `prepare_data` block: `train_split`, `val_split`, `search_split`.
    """

    train: str  # folder (leftImg8bit/<train>) of the training split
    val: str  # folder of the validation split
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

    Each city folder's frames are shuffled, the cities are put in a shuffled order (both from
    `seed`), then cities give one frame each in turn: every city is represented once there
    are at least as many images as cities, and the cities' shares differ by at most one frame
    (until a city runs out). In draw order, any first k frames are spread over cities too.
    """
    by_city: dict[str, list[int]] = {}
    for index, result in enumerate(results):
        by_city.setdefault(result.frame.image.parent.name, []).append(index)
    rng = np.random.default_rng(seed)
    queues = [[members[i] for i in rng.permutation(len(members))] for members in by_city.values()]
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
    results: dict[str, list[FrameResult]], num_classes: int, ignore_label: int
) -> dict:
    """Per-class pixel counts and shares of every list (ignored pixels counted apart)."""
    names = trainid_names(num_classes)
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
        SEARCH_LIST: [train[i] for i in search],  # draw order: cities in turn
        VAL_LIST: [r for r in results[splits.val] if r.error is None],
    }


def prepare_tree(
    root: Path,
    splits: Splits,
    lists_dir: Path,
    *,
    num_classes: int,
    ignore_label: int,
    on_bad_file: str,
    workers: int,
    progress: bool = True,
) -> dict:
    """Validate `root`, make its trainIds, write lists and statistics to `lists_dir` atomically.

    Returns:
        The metrics of the stage (frame counts per list, conversions, bad files, seconds).
    """
    start = time.perf_counter()
    folders = [splits.train, splits.val]
    validate_layout(root, folders)
    frames = {folder: find_frames(root, folder) for folder in folders}
    results = {
        folder: convert_frames(folder_frames, num_classes, ignore_label, workers, progress)
        for folder, folder_frames in frames.items()
    }
    bad = _check_errors(results, on_bad_file)
    lists = role_lists(results, splits)
    roles = {name.removesuffix(".txt"): members for name, members in lists.items()}
    stats = class_statistics(roles, num_classes, ignore_label)
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
    metrics: dict = {
        "bad_files": len(bad),
        "converted": sum(r.converted for rs in results.values() for r in rs),
        "seconds": round(time.perf_counter() - start, 2),
    }
    for role, role_stats in stats["splits"].items():
        metrics[f"{role}_frames"] = role_stats["frames"]
        metrics[f"{role}_classes_present"] = sum(v > 0 for v in role_stats["pixels"].values())
    return metrics
