"""Segmentation metrics from a confusion matrix (the Cityscapes definition of IoU)."""

from __future__ import annotations

import numpy as np
import torch


class ConfusionMatrix:
    """Accumulates a classes x classes confusion matrix (rows: ground truth, cols: prediction).

    Pixels labelled `ignore_label` (or outside 0..classes-1) are left out, as in
    cityscapesscripts' pixel-level evaluation. A prediction outside 0..classes-1 (e.g. 255)
    counts as a miss of the true class only (a false negative, no class's false positive),
    as cityscapesscripts counts "unlabeled" predictions; `missed` holds those pixels.
    """

    def __init__(self, num_classes: int, ignore_label: int) -> None:
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
        self.missed = np.zeros(num_classes, dtype=np.int64)

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of predicted and true label maps (same shape, integer)."""
        pred = prediction.reshape(-1).to(torch.int64)
        true = target.reshape(-1).to(torch.int64)
        keep = (true != self.ignore_label) & (true >= 0) & (true < self.num_classes)
        true, pred = true[keep], pred[keep]
        valid = (pred >= 0) & (pred < self.num_classes)
        index = true[valid] * self.num_classes + pred[valid]
        counts = torch.bincount(index, minlength=self.num_classes**2)
        self.matrix += counts.reshape(self.num_classes, self.num_classes).cpu().numpy()
        self.missed += torch.bincount(true[~valid], minlength=self.num_classes).cpu().numpy()

    def merge(self, other: np.ndarray) -> None:
        """Add another matrix (for example summed over DDP ranks)."""
        self.matrix += other

    def iou(self) -> np.ndarray:
        """IoU per class = TP / (TP + FP + FN); NaN for a class absent from truth and prediction."""
        tp = np.diag(self.matrix).astype(np.float64)
        denom = self.matrix.sum(0) + self.matrix.sum(1) + self.missed - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, tp / denom, np.nan)

    def miou(self) -> float:
        """Mean IoU by the Cityscapes rule: the mean of `iou()` over its non-NaN classes.

        A class is left out only when TP + FP + FN = 0 (absent from truth and prediction);
        a class predicted but absent from the ground truth counts with IoU 0, as in
        cityscapesscripts' `averageScoreClasses`. 0.0 when no class is defined.
        """
        iou = self.iou()
        return float(np.nanmean(iou)) if not np.isnan(iou).all() else 0.0

    def pixel_accuracy(self) -> float:
        """Share of non-ignored pixels predicted right."""
        total = self.matrix.sum() + self.missed.sum()
        return float(np.trace(self.matrix) / total) if total else 0.0
