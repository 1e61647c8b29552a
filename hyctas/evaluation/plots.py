"""The `evaluate` stage's pictures: the confusion matrix and prediction overlays (PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hyctas.atomic import atomic_path, write_figure
from hyctas.data.dataset import SegmentationDataset
from hyctas.evaluation.inference import InferenceConfig, infer
from hyctas.evaluation.metrics import ConfusionMatrix


def plot_confusion(path: Path, matrix: ConfusionMatrix, names: Sequence[str], title: str) -> None:
    """Row-normalised confusion matrix as a PNG (rows: truth, columns: prediction).

    `names` labels the classes, in class order.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = matrix.matrix.sum(1, keepdims=True)
    norm = np.divide(
        matrix.matrix, rows, out=np.zeros_like(matrix.matrix, dtype=float), where=rows > 0
    )
    fig, ax = plt.subplots(figsize=(9, 8))
    ax.imshow(norm, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title(title)
    fig.tight_layout()
    write_figure(path, fig, dpi=110)


def plot_overlays(
    path: Path,
    model: nn.Module,
    dataset: SegmentationDataset,
    count: int,
    colors: np.ndarray,
    device: torch.device,
    inference: InferenceConfig,
) -> None:
    """Rows of image | truth | prediction for the first `count` val frames.

    `colors` is the (classes, 3) uint8 RGB colour of each class; ignored pixels are black.
    Frames are predicted as the mIoU was (`inference`). Frames of different widths are
    padded with black on the right to the widest; with no frame the PNG is one black pixel.
    """
    import cv2

    colors = np.asarray(colors, np.uint8)
    table = np.vstack([colors, np.zeros((256 - len(colors), 3), np.uint8)])
    model.eval()
    rows = []
    for i in range(min(count, len(dataset))):
        image, label = dataset.read(i)
        x, _ = dataset[i]
        pred = infer(model, x[None].to(device), inference).argmax(1)[0].cpu().numpy()
        blend = (0.4 * image + 0.6 * table[pred]).astype(np.uint8)
        rows.append(np.hstack([image, table[label], blend]))
    width = max((row.shape[1] for row in rows), default=1)
    padded = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    grid = np.vstack(padded) if padded else np.zeros((1, 1, 3), np.uint8)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp) + ".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        Path(str(tmp) + ".png").replace(tmp)
