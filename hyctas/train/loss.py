"""Top-k (OHEM-style) cross-entropy on the main head plus weighted auxiliary heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def subsample_labels(target: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Nearest-neighbour label map at `size` (the centre pixel of each cell)."""
    h, w = target.shape[-2:]
    rows = ((torch.arange(size[0], device=target.device) + 0.5) * h / size[0]).long()
    cols = ((torch.arange(size[1], device=target.device) + 0.5) * w / size[1]).long()
    return target[..., rows[:, None], cols[None, :]]


def topk_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, ignore_label: int, top_k: float
) -> torch.Tensor:
    """Mean cross-entropy of the hardest `top_k` share of the non-ignored pixels.

    Args:
        logits: (N, C, h, w) scores; when smaller than the labels (a network trained with an
            output stride), the labels are subsampled to (h, w) by nearest neighbour.
        target: (N, H, W) labels.
        ignore_label: label excluded from the loss.
        top_k: share of pixels kept, in (0, 1]; 1 is plain cross-entropy.
    """
    if logits.shape[-2:] != target.shape[-2:]:
        target = subsample_labels(target, logits.shape[-2:])
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


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    target: torch.Tensor,
    *,
    ignore_label: int,
    temperature: float,
) -> torch.Tensor:
    """Mean per-pixel KL(teacher || student) of softened class distributions (in-place
    distillation, as in BigNAS and Once-for-All), times `temperature`^2.

    Zero when the student predicts what the teacher does. The teacher is detached: only the
    student learns. Pixels labelled `ignore_label` (crop padding, void) are left out, like
    in the label loss.

    Args:
        student: (N, C, h, w) logits of the sub-network being trained.
        teacher: (N, C, h, w) logits of the largest sub-network, same step and images.
        target: (N, H, W) labels, subsampled to (h, w) when larger.
        ignore_label: label whose pixels are left out.
        temperature: softening of both distributions (1: none).
    """
    if target.shape[-2:] != student.shape[-2:]:
        target = subsample_labels(target, student.shape[-2:])
    log_p = F.log_softmax(student.float() / temperature, dim=1)
    log_q = F.log_softmax(teacher.detach().float() / temperature, dim=1)
    per_pixel = (log_q.exp() * (log_q - log_p)).sum(1)
    kept = per_pixel[target != ignore_label]
    if kept.numel() == 0:
        return student.sum() * 0.0
    return kept.mean() * temperature**2
