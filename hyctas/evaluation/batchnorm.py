"""Re-estimating BatchNorm statistics: a sub-network with inherited weights gets its own."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def recalibrate_bn(model: nn.Module, images: Iterable[torch.Tensor], device: torch.device) -> None:
    """Re-estimate every BatchNorm's running statistics as a plain average over `images` batches.

    Inherited supernet weights come with statistics shared by many sub-networks; a few
    training batches through the sub-network alone give it its own (as in SPOS/OFA). Each
    batch must be one the network takes (sides multiples of 64; see `inference.pad_to`).
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
