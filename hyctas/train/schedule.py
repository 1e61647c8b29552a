"""SGD with linear warm-up then polynomial decay, stepped once per iteration."""

from __future__ import annotations

import torch


def make_optimizer(
    model: torch.nn.Module, lr: float, momentum: float, weight_decay: float
) -> torch.optim.SGD:
    """SGD over the trainable parameters; no weight decay on BatchNorm and bias terms."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.SGD(groups, lr=lr, momentum=momentum)


def warmup_poly(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int, power: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Factor (s+1)/warmup during warm-up, then (1 - progress)^power down to 0 at `total_steps`."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return max(0.0, 1.0 - progress) ** power

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
