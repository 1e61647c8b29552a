"""hyctas.train.supernet: the chance level the probes must beat."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hyctas.metrics import ConfusionMatrix
from hyctas.train.supernet import EvalFrames, chance_miou


def test_chance_miou_is_the_miou_of_predicting_the_most_frequent_class() -> None:
    num_classes, ignore = 6, 255
    rng = np.random.default_rng(0)
    # Classes 0..3 in the truth (2 most frequent), 4 and 5 absent; some ignored pixels.
    labels = [
        rng.choice([0, 1, 2, 2, 3, ignore], size=(8, 12), p=[0.1, 0.2, 0.3, 0.2, 0.1, 0.1])
        for _ in range(3)
    ]
    frames = EvalFrames(
        calib=[], val=[(torch.zeros(1, 3, 8, 12), torch.from_numpy(lbl)[None]) for lbl in labels]
    )
    counts = np.bincount(np.concatenate([lbl[lbl != ignore] for lbl in labels]), minlength=6)
    matrix = ConfusionMatrix(num_classes, ignore)
    for _, label in frames.val:
        matrix.update(torch.full_like(label, int(counts.argmax())), label)
    assert np.isnan(matrix.iou()[4:]).all()  # never in the truth, never predicted
    assert chance_miou(frames, num_classes, ignore) == pytest.approx(matrix.miou(), abs=1e-12)
    assert chance_miou(frames, num_classes, ignore) == pytest.approx(
        counts.max() / counts.sum() / 4
    )
