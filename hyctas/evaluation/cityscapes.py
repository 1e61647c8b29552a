"""Cross-check of our mIoU against cityscapesscripts' own pixel-level evaluation.

`cityscapes_scores` writes trainId predictions as labelIds PNGs in a temp folder, runs
`cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling.evaluateImgLists` on them and
the ground-truth `*_gtFine_labelIds.png` files (with a private copy of its settings; no
result file is written anywhere), and returns its class IoUs and averages.
`cross_check` also computes our `ConfusionMatrix` on the same data.

Both use one definition: IoU = TP / (TP + FP + FN), pixels whose ground truth is an
ignored label left out, and the mIoU averages over the evaluated classes whose
TP + FP + FN > 0, so a class predicted somewhere but absent from the ground truth counts
with IoU 0 (`ConfusionMatrix.miou()` is the nan-mean of `ConfusionMatrix.iou()`).
A prediction of trainId 255 (or any id outside the classes) becomes labelId 0 (`unlabeled`)
here: a false negative only, which is how `ConfusionMatrix.update` counts it too (`missed`).
Networks predict by argmax, so they never output such ids.

cityscapesscripts 2.3.0 calls `np.in1d` (removed in numpy 2.4) for its instance-level
scores; while it runs, its module sees a numpy proxy that adds `in1d = isin`, nothing else
changes. The instance-level (iIoU) scores need `*_gtFine_instanceIds.png` beside each
labelIds file; they are computed when all are present, else skipped.

Example:
    >>> scores = cityscapes_scores([pred_train_ids], ["frankfurt_..._gtFine_labelIds.png"])
    >>> scores.miou
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import tempfile
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from cityscapesscripts.helpers.labels import labels as CITYSCAPES_LABELS

from hyctas.data.labels import IGNORE, labelids_to_trainids
from hyctas.errors import DataError, HyctasError
from hyctas.evaluation.metrics import ConfusionMatrix

# The evaluated classes, in trainId order (cityscapesscripts' ignoreInEval is False).
EVAL_LABELS = sorted((l for l in CITYSCAPES_LABELS if not l.ignoreInEval), key=lambda l: l.trainId)
CLASS_NAMES = [l.name for l in EVAL_LABELS]
UNLABELED_ID = 0


@dataclass(frozen=True)
class CityscapesScores:
    """What cityscapesscripts reports (NaN where its denominator is 0).

    Attributes:
        class_iou: IoU per evaluated class name, in trainId order.
        miou: Its `averageScoreClasses` (mean over the non-NaN class IoUs).
        category_iou: IoU per category.
        miou_categories: Its `averageScoreCategories`.
        class_iiou: Instance-weighted IoU per class, None when not computed.
        miou_instances: Its `averageScoreInstClasses`, None when not computed.
    """

    class_iou: dict[str, float]
    miou: float
    category_iou: dict[str, float]
    miou_categories: float
    class_iiou: dict[str, float] | None
    miou_instances: float | None


def trainid_to_labelid_lut() -> np.ndarray:
    """256-entry uint8 table: evaluated trainIds -> labelIds, anything else -> unlabeled (0)."""
    lut = np.full(256, UNLABELED_ID, dtype=np.uint8)
    for label in EVAL_LABELS:
        lut[label.trainId] = label.id
    return lut


def _read_label(path: Path) -> np.ndarray:
    label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if label is None or label.ndim != 2:
        raise DataError(f"{path}: not a readable single-channel label PNG")
    return label


def _instance_file(gt: Path) -> Path:
    return gt.with_name(gt.name.replace("labelIds", "instanceIds"))


class _NumpyWithIn1d(types.ModuleType):
    """numpy, plus `in1d` (= `isin`) for code written before numpy 2.4 removed it."""

    def __init__(self) -> None:
        super().__init__("numpy")
        self.in1d = np.isin

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


@contextlib.contextmanager
def _in1d_shim(module: types.ModuleType) -> Iterator[None]:
    """Give `module` (only) a numpy with `in1d` while the block runs."""
    original = module.np
    if not hasattr(original, "in1d"):
        module.np = _NumpyWithIn1d()
    try:
        yield
    finally:
        module.np = original


def _scores(result: dict[str, Any], instance_level: bool) -> CityscapesScores:
    def floats(d: dict[str, Any]) -> dict[str, float]:
        return {k: float(v) for k, v in d.items()}

    cats = {k: float(v) for k, v in result["categoryScores"].items() if not math.isnan(v)}
    return CityscapesScores(
        class_iou={n: float(result["classScores"][n]) for n in CLASS_NAMES},
        miou=float(result["averageScoreClasses"]),
        category_iou=cats,
        miou_categories=float(result["averageScoreCategories"]),
        class_iiou=floats({n: result["classInstScores"][n] for n in CLASS_NAMES})
        if instance_level
        else None,
        miou_instances=float(result["averageScoreInstClasses"]) if instance_level else None,
    )


def cityscapes_scores(
    predictions: Sequence[np.ndarray], gt_label_files: Sequence[str | Path]
) -> CityscapesScores:
    """Scores of trainId predictions by cityscapesscripts' pixel-level evaluation.

    Args:
        predictions: One (H, W) integer trainId map per ground-truth file.
        gt_label_files: `*_gtFine_labelIds.png` files of the same sizes.

    Raises:
        DataError: Unreadable ground truth, or a prediction of another size.
        HyctasError: cityscapesscripts stopped with an error (its message is included).
    """
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs

    gts = [Path(p) for p in gt_label_files]
    if len(predictions) != len(gts) or not gts:
        raise HyctasError(f"{len(predictions)} predictions for {len(gts)} ground-truth files")
    lut = trainid_to_labelid_lut()
    instance_level = all(_instance_file(g).is_file() for g in gts)
    with tempfile.TemporaryDirectory(prefix="hyctas-cseval-") as tmp:
        pred_files = []
        for i, (pred, gt) in enumerate(zip(predictions, gts, strict=True)):
            shape = _read_label(gt).shape
            pred = np.asarray(pred)
            if pred.shape != shape:
                raise DataError(f"{gt}: prediction {i} is {pred.shape}, ground truth {shape}")
            path = Path(tmp) / f"{i:06d}_pred_labelIds.png"
            cv2.imwrite(str(path), lut[np.clip(pred, 0, 255).astype(np.uint8)])
            pred_files.append(str(path))
        args = copy.copy(cs.args)  # never touch the module's global settings
        args.quiet, args.JSONOutput, args.evalPixelAccuracy = True, False, False
        args.evalInstLevelScore = instance_level
        args.colorized, args.bold, args.nocol = False, "", ""
        args.exportFile = str(Path(tmp) / "resultPixelLevelSemanticLabeling.json")
        log = io.StringIO()
        try:
            with _in1d_shim(cs), contextlib.redirect_stdout(log):
                result = cs.evaluateImgLists(pred_files, [str(g) for g in gts], args)
        except SystemExit:  # its printError() exits the process
            raise HyctasError(f"cityscapesscripts failed: {log.getvalue().strip()}") from None
    return _scores(result, instance_level)


def our_confusion(
    predictions: Sequence[np.ndarray], gt_label_files: Sequence[str | Path]
) -> ConfusionMatrix:
    """Our confusion matrix of trainId predictions against labelIds ground truth."""
    matrix = ConfusionMatrix(len(EVAL_LABELS), IGNORE)
    for pred, gt in zip(predictions, gt_label_files, strict=True):
        truth = labelids_to_trainids(_read_label(Path(gt)), IGNORE)
        matrix.update(torch.from_numpy(np.asarray(pred, np.int64)), torch.from_numpy(truth))
    return matrix


def cross_check(
    predictions: Sequence[np.ndarray], gt_label_files: Sequence[str | Path]
) -> dict[str, Any]:
    """Our and cityscapesscripts' scores on the same data, and how far apart they are.

    Returns:
        Dict with `miou` (ours), `cityscapes_miou`, `max_class_iou_diff` (inf when a class
        is defined on one side only) and `class_iou` (name -> [ours, theirs]).
    """
    ours = our_confusion(predictions, gt_label_files)
    theirs = cityscapes_scores(predictions, gt_label_files)
    iou = ours.iou()
    pairs = {n: [float(iou[i]), theirs.class_iou[n]] for i, n in enumerate(CLASS_NAMES)}
    # A class undefined (NaN) on one side only is a disagreement too.
    diffs = [
        math.inf if math.isnan(a) != math.isnan(b) else abs(a - b)
        for a, b in pairs.values()
        if not (math.isnan(a) and math.isnan(b))
    ]
    return {
        "miou": ours.miou(),
        "cityscapes_miou": theirs.miou,
        "max_class_iou_diff": max(diffs, default=0.0),
        "class_iou": pairs,
    }
