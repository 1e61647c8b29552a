"""The `prepare_data` stage's logic: get a Cityscapes-layout tree, make trainIds, write lists.

Outputs (paths chosen by the DAG files):
    lists_dir/<split>.txt      one frame a line: `<image path>\t<trainIds path>`
    lists_dir/class_stats.json per-class pixel counts and shares per split
    lists_dir/bad_files.json   frames left out (on_bad_file: skip) and why; [] otherwise
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from hyctas.atomic import atomic_dir, write_json, write_text
from hyctas.data.cityscapes import FrameResult, convert_frames, find_frames, validate_layout
from hyctas.data.labels import trainid_names
from hyctas.errors import DataError

MAX_LISTED_ERRORS = 10


def _list_path(target: Path, list_dir: Path) -> str:
    """Paths inside the project are written relative to the list file, others absolute."""
    target = target.resolve()
    if target.is_relative_to(Path.cwd().resolve()):
        return os.path.relpath(target, list_dir.resolve())
    return str(target)


def class_statistics(
    results: dict[str, list[FrameResult]], num_classes: int, ignore_label: int
) -> dict:
    """Per-class pixel counts and shares of every split (ignored pixels counted apart)."""
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


def prepare_tree(
    root: Path,
    splits: list[str],
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
        The metrics of the stage (frame counts, conversions, bad files, seconds).
    """
    start = time.perf_counter()
    validate_layout(root, splits)
    frames = {split: find_frames(root, split) for split in splits}
    results = {
        split: convert_frames(split_frames, num_classes, ignore_label, workers, progress)
        for split, split_frames in frames.items()
    }
    bad = _check_errors(results, on_bad_file)
    stats = class_statistics(results, num_classes, ignore_label)
    with atomic_dir(lists_dir) as tmp:
        for split, split_results in results.items():
            lines = [
                _list_path(r.frame.image, lists_dir)
                + "\t"
                + _list_path(r.frame.train_ids, lists_dir)
                for r in split_results
                if r.error is None
            ]
            write_text(tmp / f"{split}.txt", "\n".join(lines) + "\n")
        write_json(tmp / "class_stats.json", stats)
        write_json(tmp / "bad_files.json", bad)
    metrics: dict = {
        "bad_files": len(bad),
        "converted": sum(r.converted for rs in results.values() for r in rs),
        "seconds": round(time.perf_counter() - start, 2),
    }
    for split in splits:
        split_stats = stats["splits"][split]
        metrics[f"{split}_frames"] = split_stats["frames"]
        metrics[f"{split}_classes_present"] = sum(v > 0 for v in split_stats["pixels"].values())
    return metrics
