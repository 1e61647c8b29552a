"""The size of an inference network: parameters and multiply-accumulates at a frame size."""

from __future__ import annotations

import torch
from torch import nn

from hyctas.evaluation.inference import padded_size
from hyctas.models.cost import count_macs, count_params


def size_metrics(model: nn.Module, height: int, width: int) -> dict[str, float]:
    """Parameters and MACs of `model` on a `height` x `width` frame, at its padded size.

    The network runs on the frame padded to multiples of 64 (`inference.padded_size`), so
    the MACs are those of that input.
    """
    x = torch.zeros(1, 3, *padded_size(height, width), device=next(model.parameters()).device)
    return {"params": count_params(model), "macs": count_macs(model.eval(), x)}
