"""Confusion-matrix IoU: the Cityscapes definition, ignore labels and invalid predictions."""

from __future__ import annotations

import numpy as np
import torch

from hyctas.metrics import ConfusionMatrix


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
