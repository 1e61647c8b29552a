"""Confusion over frames of any size (padding never counted), accuracy metrics, size, plots."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from hyctas.data.classes import cityscapes_table, voc_table
from hyctas.errors import DataError, HyctasError
from hyctas.evaluation.accuracy import (
    accuracy_metrics,
    confusion,
    val_confusion,
    with_dataset_classes,
)
from hyctas.evaluation.inference import PLAIN, InferenceConfig, SlidingWindow
from hyctas.evaluation.metrics import ConfusionMatrix
from hyctas.evaluation.plots import plot_confusion, plot_overlays
from hyctas.evaluation.size import size_metrics
from hyctas.models.network import check_input

CLASSES, IGNORE = 4, 255
SIZES = [(375, 500), (100, 150)]  # neither a multiple of 64
CPU = torch.device("cpu")


class Pointwise(nn.Module):
    """A 1x1 conv that, like the real networks, refuses sides that are not multiples of 64."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        return self.conv(x)


def labelled(h: int, w: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    label = torch.randint(0, CLASSES, (1, h, w), generator=gen)
    label[:, : h // 5] = IGNORE
    return torch.randn(1, 3, h, w, generator=gen), label


def test_accuracy_metrics_count_a_predicted_class_absent_from_val() -> None:
    matrix = ConfusionMatrix(4, 255)
    matrix.update(torch.tensor([0, 2, 1, 1]), torch.tensor([0, 0, 1, 1]))
    metrics = accuracy_metrics(matrix, ["road", "sidewalk", "building", "wall"])
    # road 1/2, sidewalk 1, building (predicted, not in val) 0, wall (neither) left out.
    assert metrics["iou"] == {"road": 0.5, "sidewalk": 1.0, "building": 0.0, "wall": None}
    assert metrics["classes_evaluated"] == 3 and metrics["miou"] == pytest.approx(0.5)
    metrics = accuracy_metrics(matrix, ["a", "b", "c", "d"])  # any class table's names
    assert list(metrics["iou"]) == ["a", "b", "c", "d"]
    with pytest.raises(HyctasError, match="3 class names for 4 classes"):
        accuracy_metrics(matrix, ["a", "b", "c"])


def test_confusion_at_the_native_size_never_counts_padding() -> None:
    net = Pointwise().eval()
    frames = [labelled(h, w, i) for i, (h, w) in enumerate(SIZES)]
    matrix = confusion(net, frames, CLASSES, IGNORE, CPU, PLAIN)
    want = ConfusionMatrix(CLASSES, IGNORE)
    for image, label in frames:
        with torch.no_grad():
            want.update(net.conv(image).argmax(1), label)  # pointwise: no padding needed
    assert np.array_equal(matrix.matrix, want.matrix)
    counted = matrix.matrix.sum() + matrix.missed.sum()
    assert counted == sum(int((label != IGNORE).sum()) for _, label in frames)
    windows = InferenceConfig(flip=True, scales=(1.0,), window=SlidingWindow((128, 128), (96, 96)))
    assert np.array_equal(confusion(net, frames, CLASSES, IGNORE, CPU, windows).matrix, want.matrix)
    with pytest.raises(HyctasError, match=r"a label of \(64, 64\) for an image of \(375, 500\)"):
        confusion(net, [(frames[0][0], torch.zeros(1, 64, 64))], CLASSES, IGNORE, CPU, PLAIN)


@pytest.fixture()
def lists(tmp_path: Path) -> Path:
    """val.txt over two frames of different sizes, neither a multiple of 64."""
    rng = np.random.default_rng(0)
    lines = []
    for i, (h, w) in enumerate(SIZES):
        image, label = tmp_path / f"{i}.png", tmp_path / f"{i}_label.png"
        cv2.imwrite(str(image), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        cv2.imwrite(str(label), rng.choice([0, 1, 2, 3, IGNORE], (h, w)).astype(np.uint8))
        lines.append(f"{image.name}\t{label.name}")
    (tmp_path / "val.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_val_confusion_and_plots_on_frames_of_two_sizes(lists: Path, tmp_path: Path) -> None:
    net = Pointwise()
    state = {"mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}
    base = {"num_classes": CLASSES, "ignore_label": IGNORE}
    matrix, dataset = val_confusion(net, lists, state, base, CPU, PLAIN)
    labels = [dataset[i][1] for i in range(len(dataset))]
    assert matrix.matrix.sum() + matrix.missed.sum() == sum(
        int((y != IGNORE).sum()) for y in labels
    )
    plot_confusion(tmp_path / "confusion.png", matrix, list("abcd"), "title")
    colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]], np.uint8)
    plot_overlays(tmp_path / "overlays.png", net, dataset, 2, colors, CPU, PLAIN)
    grid = cv2.imread(str(tmp_path / "overlays.png"))
    assert grid.shape == (375 + 100, 3 * 500, 3)  # rows padded to the widest
    assert cv2.imread(str(tmp_path / "confusion.png")) is not None


def test_size_is_measured_at_the_padded_size() -> None:
    net = Pointwise()
    assert size_metrics(net, 375, 500) == size_metrics(net, 384, 512)
    assert size_metrics(net, 375, 500)["params"] == 3 * CLASSES + CLASSES


def test_a_model_of_other_classes_is_refused_and_old_checkpoints_get_the_lists_table():
    lists = Path("data/prepare_data/lists")
    old = with_dataset_classes({"kind": "baseline"}, voc_table(), Path("m.pt"), lists)
    assert old["classes"] == voc_table().to_dict()
    same = {"classes": voc_table().to_dict()}
    assert with_dataset_classes(same, voc_table(), Path("m.pt"), lists) is same
    with pytest.raises(DataError, match=r"m.pt: trained on the classes .*classes.json lists"):
        with_dataset_classes(same, cityscapes_table(), Path("m.pt"), lists)
