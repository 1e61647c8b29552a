"""Our mIoU against cityscapesscripts' pixel-level evaluation, on random maps and a real frame."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs

from hyctas.data.labels import labelids_to_trainids
from hyctas.errors import DataError
from hyctas.evaluation.cityscapes import (
    CLASS_NAMES,
    cityscapes_scores,
    cross_check,
    our_confusion,
)
from tests.conftest import SHARED

SAMPLE = SHARED / "fixtures" / "cityscapes_sample" / "gtFine" / "val" / "frankfurt"
# labelIds: road 7, sidewalk 8, building 11, pole 17, vegetation 21, sky 23, person 24, car 26;
# ignored in evaluation: unlabeled 0, ego vehicle 1, ground 6, guard rail 14.
PRESENT = [7, 8, 11, 17, 21, 23, 24, 26]
IGNORED = [0, 1, 6, 14]


def _frame(root: Path, index: int, shape: tuple[int, int], rng: np.random.Generator) -> Path:
    """Random blocky labelIds (+ instanceIds) ground truth in the Cityscapes naming."""
    h, w = shape
    blocks = rng.choice(PRESENT + IGNORED, size=(h // 8 + 1, w // 8 + 1), p=None)
    label = np.kron(blocks, np.ones((8, 8), np.int64))[:h, :w].astype(np.uint8)
    gt = root / f"city_{index:06d}_000019_gtFine_labelIds.png"
    cv2.imwrite(str(gt), label)
    # Instances: every car/person block region is one instance (id * 1000 + k).
    instances = label.astype(np.uint16)
    for k, cls in enumerate((24, 26)):
        instances[label == cls] = cls * 1000 + k
    cv2.imwrite(str(gt.with_name(gt.name.replace("labelIds", "instanceIds"))), instances)
    return gt


def _noisy(truth: np.ndarray, rng: np.random.Generator, classes: np.ndarray) -> np.ndarray:
    """A prediction: the true trainIds with 30 % of pixels replaced by other given classes."""
    pred = np.where(truth == 255, rng.choice(classes, truth.shape), truth)
    flip = rng.random(truth.shape) < 0.3
    return np.where(flip, rng.choice(classes, truth.shape), pred).astype(np.uint8)


@pytest.fixture()
def frames(tmp_path: Path) -> tuple[list[Path], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    gts = [_frame(tmp_path, i, s, rng) for i, s in enumerate([(64, 96), (80, 48), (40, 120)])]
    truths = [labelids_to_trainids(cv2.imread(str(g), cv2.IMREAD_UNCHANGED)) for g in gts]
    present = np.unique(np.concatenate([t[t != 255] for t in truths]))
    assert len(present) >= 5 and all((t == 255).any() for t in truths)
    return gts, [_noisy(t, rng, present) for t in truths]


def test_our_miou_matches_cityscapesscripts(frames) -> None:
    gts, preds = frames
    ours = our_confusion(preds, gts)
    theirs = cityscapes_scores(preds, gts)
    assert 0.2 < theirs.miou < 0.9  # a real mix of hits and misses
    assert abs(ours.miou() - theirs.miou) < 1e-6
    iou = ours.iou()
    for i, name in enumerate(CLASS_NAMES):
        assert (math.isnan(iou[i]) and math.isnan(theirs.class_iou[name])) or abs(
            iou[i] - theirs.class_iou[name]
        ) < 1e-9, name
    assert theirs.miou_instances is not None and 0 < theirs.miou_instances <= 1
    # The np.in1d shim was seen by cityscapesscripts only, and only during the call.
    assert cs.np is np and getattr(np, "in1d", None) is not np.isin


def test_a_class_absent_from_the_ground_truth_counts_with_iou_zero(frames) -> None:
    gts, preds = frames
    preds = [p.copy() for p in preds]
    evaluated = labelids_to_trainids(cv2.imread(str(gts[0]), cv2.IMREAD_UNCHANGED)) != 255
    preds[0][evaluated & (np.arange(preds[0].size).reshape(preds[0].shape) % 7 == 0)] = (
        CLASS_NAMES.index("train")  # predicted on evaluated pixels, never in the ground truth
    )
    result = cross_check(preds, gts)
    # Both count 'train' with IoU 0 in the mean, as the Cityscapes rule wants.
    assert result["class_iou"]["train"] == [0.0, 0.0]
    assert math.isnan(result["class_iou"]["bus"][0])  # neither predicted nor present
    assert abs(result["miou"] - result["cityscapes_miou"]) < 1e-6
    assert result["max_class_iou_diff"] < 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_predictions_on_the_real_frame_match_cityscapesscripts(seed: int) -> None:
    """Random predictions that hit classes absent from the frame, and miss others."""
    if not SAMPLE.is_dir():
        pytest.skip(f"fixture not found: {SAMPLE}")
    gt = next(SAMPLE.glob("*_gtFine_labelIds.png"))
    truth = labelids_to_trainids(cv2.imread(str(gt), cv2.IMREAD_UNCHANGED))
    present = np.unique(truth[truth != 255])
    absent = np.setdiff1d(np.arange(len(CLASS_NAMES)), present)
    assert len(present) >= 5 and len(absent) >= 8  # several of the 19 classes are absent
    rng = np.random.default_rng(seed)
    # Predicted classes: those of the frame and 4 absent ones (false positives only); the
    # other absent classes are in neither truth nor prediction: NaN, left out of the mean.
    classes = np.concatenate([present, rng.choice(absent, 4, replace=False)])
    flip = rng.random(truth.shape) < 0.4
    pred = np.where(flip | (truth == 255), rng.choice(classes, truth.shape), truth)
    pred = pred.astype(np.uint8)
    ours = our_confusion([pred], [gt])
    theirs = cityscapes_scores([pred], [gt])
    iou = ours.iou()
    assert np.isnan(iou).sum() == len(absent) - 4
    assert abs(ours.miou() - theirs.miou) < 1e-6
    # The false positives lower it below a mean over the classes of the ground truth.
    assert ours.miou() < float(np.mean(iou[present])) - 0.05


def test_real_frame_labeltrainids_against_labelids() -> None:
    if not SAMPLE.is_dir():
        pytest.skip(f"fixture not found: {SAMPLE}")
    gt = next(SAMPLE.glob("*_gtFine_labelIds.png"))
    pred = cv2.imread(str(gt).replace("_labelIds", "_labelTrainIds"), cv2.IMREAD_UNCHANGED)
    result = cross_check([pred], [gt])
    # The fixture (downsized to 128x256) has labelTrainIds and labelIds resized separately:
    # they differ in a few dozen border pixels.
    assert 0.97 < result["cityscapes_miou"] <= 1.0
    assert abs(result["miou"] - result["cityscapes_miou"]) < 1e-6
    # Its 255 pixels on evaluated ground truth: both score them as 'unlabeled' predictions
    # (false negatives only), so every class agrees (no false positive for the last class).
    disagree = [
        n
        for n, (a, b) in result["class_iou"].items()
        if not (a != a and b != b) and abs(a - b) > 1e-9
    ]
    assert disagree == []


def test_prediction_of_the_wrong_size_is_rejected(frames) -> None:
    gts, preds = frames
    with pytest.raises(DataError, match="prediction 1 is"):
        cityscapes_scores([preds[0], preds[0], preds[2]], gts)
