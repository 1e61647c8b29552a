"""Evaluating networks: BatchNorm re-estimation and confusion matrices over frames."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hyctas.metrics import ConfusionMatrix


@torch.no_grad()
def recalibrate_bn(model: nn.Module, images: Iterable[torch.Tensor], device: torch.device) -> None:
    """Re-estimate every BatchNorm's running statistics as a plain average over `images` batches.

    Inherited supernet weights come with statistics shared by many sub-networks; a few
    training batches through the sub-network alone give it its own (as in SPOS/OFA).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.train()
    for batch in images:
        model(batch.to(device))
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
    model.eval()


@torch.no_grad()
def predict(model: nn.Module, image: torch.Tensor, flip: bool = False) -> torch.Tensor:
    """Class scores (N, C, H, W) of an eval-mode network, averaged with the mirrored input."""
    logits = model(image)
    if flip:
        logits = logits + model(image.flip(-1)).flip(-1)
    return logits


@torch.no_grad()
def confusion(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]] | Sequence,
    num_classes: int,
    ignore_label: int,
    device: torch.device,
    flip: bool = False,
) -> ConfusionMatrix:
    """Confusion matrix of `model` over (image, label) batches at full label resolution."""
    model.eval()
    matrix = ConfusionMatrix(num_classes, ignore_label)
    for image, label in batches:
        logits = predict(model, image.to(device), flip)
        if logits.shape[-2:] != label.shape[-2:]:
            logits = F.interpolate(
                logits, size=label.shape[-2:], mode="bilinear", align_corners=False
            )
        matrix.update(logits.argmax(1).cpu(), label)
    return matrix
