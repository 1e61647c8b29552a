"""Top-k (OHEM-style) cross-entropy on the main head plus weighted auxiliary heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def topk_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, ignore_label: int, top_k: float
) -> torch.Tensor:
    """Mean cross-entropy of the hardest `top_k` share of the non-ignored pixels.

    Args:
        logits: (N, C, H, W) scores at label resolution.
        target: (N, H, W) labels.
        ignore_label: label excluded from the loss.
        top_k: share of pixels kept, in (0, 1]; 1 is plain cross-entropy.
    """
    losses = F.cross_entropy(logits.float(), target, ignore_index=ignore_label, reduction="none")
    losses = losses.reshape(-1)[target.reshape(-1) != ignore_label]
    if losses.numel() == 0:
        return logits.sum() * 0.0  # keeps the graph: every parameter gets a (zero) gradient
    keep = max(1, int(losses.numel() * top_k))
    if keep < losses.numel():
        losses = losses.topk(keep, sorted=False).values
    return losses.mean()


def segmentation_loss(
    outputs: torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]],
    target: torch.Tensor,
    *,
    ignore_label: int,
    top_k: float,
    aux_weight: float,
) -> torch.Tensor:
    """Loss of a network's training output: `logits` or `(logits, [aux logits, ...])`."""
    main, aux = (outputs, []) if isinstance(outputs, torch.Tensor) else outputs
    loss = topk_cross_entropy(main, target, ignore_label, top_k)
    for extra in aux:
        loss = loss + aux_weight * topk_cross_entropy(extra, target, ignore_label, top_k)
    return loss
