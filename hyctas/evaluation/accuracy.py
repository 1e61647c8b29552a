"""Confusion matrices of a network over labelled frames, and the `evaluate` stage's accuracy.

Every frame is predicted at its own size with the shared inference routine
(`hyctas.evaluation.inference.infer`: padded to multiples of 64, cropped back, optionally
flipped, multi-scale or in sliding windows), so no pixel of padding is ever counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hyctas.data.classes import CLASSES_FILE, ClassTable
from hyctas.data.dataset import SegmentationDataset
from hyctas.errors import DataError, HyctasError
from hyctas.evaluation.inference import InferenceConfig, infer
from hyctas.evaluation.metrics import ConfusionMatrix


@torch.no_grad()
def confusion(
    model: nn.Module,
    frames: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    ignore_label: int,
    device: torch.device,
    inference: InferenceConfig,
) -> ConfusionMatrix:
    """Confusion matrix of `model` over (image (1, 3, H, W), label (1, H, W)) frames.

    Raises:
        HyctasError: A label of another size than its image.
    """
    model.eval()
    matrix = ConfusionMatrix(num_classes, ignore_label)
    for image, label in frames:
        if image.shape[-2:] != label.shape[-2:]:
            raise HyctasError(
                f"a label of {tuple(label.shape[-2:])} for an image of {tuple(image.shape[-2:])}"
            )
        logits = infer(model, image.to(device), inference)
        matrix.update(logits.argmax(1).cpu(), label)
    return matrix


def val_confusion(
    model: nn.Module,
    lists_dir: Path,
    state: dict,
    base: dict,
    device: torch.device,
    inference: InferenceConfig,
) -> tuple[ConfusionMatrix, SegmentationDataset]:
    """Confusion matrix over the whole val split, each frame at its own size.

    `state` gives the normalisation (`mean`, `std`) the model was trained with.
    """
    dataset = SegmentationDataset(
        lists_dir / "val.txt",
        ignore_label=base["ignore_label"],
        mean=state["mean"],
        std=state["std"],
        augment=None,
    )
    frames = ((img[None], lbl[None]) for img, lbl in (dataset[i] for i in range(len(dataset))))
    matrix = confusion(model, frames, base["num_classes"], base["ignore_label"], device, inference)
    return matrix, dataset


def accuracy_metrics(matrix: ConfusionMatrix, names: Sequence[str]) -> dict[str, Any]:
    """mIoU (Cityscapes rule), pixel accuracy and IoU per class (`names`, in class order).

    A class's IoU is null only when it is neither in the val ground truth nor predicted
    (TP + FP + FN = 0); those are the classes left out of the mIoU. A class predicted but
    absent from the ground truth has IoU 0 and counts in `classes_evaluated`.
    """
    if len(names) != matrix.num_classes:
        raise HyctasError(f"{len(names)} class names for {matrix.num_classes} classes")
    iou = matrix.iou()
    defined = ~np.isnan(iou)
    return {
        "miou": matrix.miou(),
        "pixel_accuracy": matrix.pixel_accuracy(),
        "classes_evaluated": int(defined.sum()),
        "iou": {name: (float(iou[i]) if defined[i] else None) for i, name in enumerate(names)},
    }


def with_dataset_classes(
    state: dict[str, Any], classes: ClassTable, model_path: Path, lists_dir: Path
) -> dict[str, Any]:
    """`state` carrying the dataset's class table (checkpoints older than it lack one).

    Raises:
        DataError: the model was trained on classes other than the lists' (evaluating it
            on these frames would score the wrong class against each label).
    """
    stored = state.get("classes")
    if stored is None:
        return {**state, "classes": classes.to_dict()}
    if list(stored["names"]) != list(classes.names):
        raise DataError(
            f"{model_path}: trained on the classes {stored['names'][:4]}..., but "
            f"{lists_dir / CLASSES_FILE} lists {classes.names[:4]}...; evaluate a model with the "
            "lists it was trained on (rerun retrain after changing the dataset)"
        )
    return state
