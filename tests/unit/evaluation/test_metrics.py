"""Confusion-matrix IoU: the Cityscapes definition, ignore labels and invalid predictions."""

from __future__ import annotations

import numpy as np
import torch

from hyctas.evaluation.metrics import ConfusionMatrix


def test_iou_by_hand():
    cm = ConfusionMatrix(3, 255)
    truth = torch.tensor([0, 0, 1, 1, 2, 255])
    pred = torch.tensor([0, 1, 1, 1, 0, 2])
    cm.update(pred, truth)
    # class 0: tp 1, fp 1 (the 2), fn 1 -> 1/3; class 1: tp 2, fp 1 -> 2/3; class 2: tp 0 -> 0
    assert np.allclose(cm.iou(), [1 / 3, 2 / 3, 0.0])
    assert np.isclose(cm.miou(), 1 / 3) and np.isclose(cm.pixel_accuracy(), 3 / 5)


def test_absent_classes_are_left_out_and_invalid_predictions_are_misses():
    cm = ConfusionMatrix(4, 255)
    cm.update(torch.tensor([0, 255, 1]), torch.tensor([0, 1, 1]))
    iou = cm.iou()
    assert np.isnan(iou[2]) and np.isnan(iou[3])  # never seen: not counted in the mean
    assert iou[1] == 0.5 and iou[0] == 1.0  # the 255 prediction is a miss of class 1 only
    assert cm.miou() == 0.75 and cm.pixel_accuracy() == 2 / 3


def test_false_positives_on_a_class_absent_from_the_truth_lower_the_miou():
    cm = ConfusionMatrix(4, 255)
    cm.update(torch.tensor([0, 2, 1, 1]), torch.tensor([0, 0, 1, 1]))
    iou = cm.iou()
    # class 0: tp 1, fn 1 -> 1/2; class 1: 2/2; class 2: fp 1, not in the truth -> 0;
    # class 3: neither in the truth nor predicted (tp + fp + fn = 0) -> NaN, left out.
    assert np.allclose(iou[:3], [0.5, 1.0, 0.0]) and np.isnan(iou[3])
    assert np.isclose(cm.miou(), (0.5 + 1.0 + 0.0) / 3)  # not 0.75 (truth classes only)


def test_miou_of_an_empty_matrix_is_zero():
    cm = ConfusionMatrix(3, 255)
    cm.update(torch.tensor([1, 2]), torch.tensor([255, 255]))
    assert np.isnan(cm.iou()).all() and cm.miou() == 0.0
