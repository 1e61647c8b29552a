"""The module and example inputs behind one latency-table key, built as `SegNet` builds them.

Cells come from the op registry (`create_op`), the stem, fusion and head from
`hyctas.models.blocks`, with the constructor arguments `SegNet` passes (the fusion's through
`fusion_channels` of a plan holding the key's branch ends). The inference network is
timed, so the fusion is built without its auxiliary parts.

Example:
    >>> piece = build_piece(key, cfg, num_classes=19, batch_size=1)
    >>> out = piece.run()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hyctas.latency.keys import FUSION, HEAD, STEM, STEM_STRIDE, OpKey, decode_ends
from hyctas.latency.runmode import RunMode
from hyctas.models.blocks import Fusion, SegHead, Stem
from hyctas.models.network import fusion_channels
from hyctas.models.ops import create_op
from hyctas.models.plan import BranchEnd, Plan
from hyctas.space.config import SpaceConfig


@dataclass
class Piece:
    """A module with the arguments of one forward call.

    Attributes:
        module: The module (call `to` to move it with its inputs).
        args: Positional arguments of the call.
        kwargs: Keyword arguments of the call.
    """

    module: nn.Module
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def to(self, device: torch.device, dtype: torch.dtype) -> Piece:
        """Moves the module and every tensor input (also inside dicts/lists) in place."""
        self.module.to(device=device, dtype=dtype)
        self.args = _move(self.args, device, dtype)
        self.kwargs = _move(self.kwargs, device, dtype)
        return self

    def prepare(self, device: torch.device, mode: RunMode) -> Piece:
        """Moves, casts, reorders and compiles the piece in place as `mode` says."""
        self.module = mode.prepare(self.module, device, copy_module=False)
        self.args = mode.move(self.args, device)
        self.kwargs = mode.move(self.kwargs, device)
        return self

    def runner(self) -> Callable[[], Any]:
        """A no-argument callable running the forward pass once."""
        module, args, kwargs = self.module, self.args, self.kwargs
        return lambda: module(*args, **kwargs)


def _move(obj: Any, device: torch.device, dtype: torch.dtype) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device=device, dtype=dtype)
    if isinstance(obj, dict):
        return {k: _move(v, device, dtype) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_move(v, device, dtype) for v in obj)
    return obj


def _fusion(key: OpKey, cfg: SpaceConfig, batch_size: int) -> Piece:
    ends = decode_ends(key.variant)
    branch_ends = tuple(
        BranchEnd(final_scale=s, last=(None,) * len(ch), channels=ch) for s, ch in ends.items()
    )
    plan = Plan(nodes=(), branches=(), ends=branch_ends, stem_channels=cfg.channels(0, 1.0))
    ch16, ch8 = fusion_channels(plan)
    module = Fusion(cfg, plan.final_scales, ch16, ch8, aux=False)
    feats = {
        s: [torch.randn(batch_size, c, key.h >> k, key.w >> k) for k, c in enumerate(ch)]
        for s, ch in ends.items()
    }
    return Piece(module, (feats,), {"with_aux": False})


def build_piece(key: OpKey, cfg: SpaceConfig, num_classes: int, batch_size: int) -> Piece:
    """The module a key stands for, with random inputs of the right shapes (float32, CPU).

    Args:
        key: A key from `hyctas.latency.keys`.
        cfg: The search space the key was enumerated for.
        num_classes: Output classes (the head).
        batch_size: Images per forward pass.

    Returns:
        The piece in eval mode.
    """
    n = batch_size
    if key.op == STEM:
        piece = Piece(Stem(cfg), (torch.randn(n, 3, key.h, key.w),), {})
    elif key.op == FUSION:
        piece = _fusion(key, cfg, n)
    elif key.op == HEAD:
        stem = Stem(cfg)
        size = (key.h * STEM_STRIDE, key.w * STEM_STRIDE)
        low = torch.randn(n, stem.out4_channels, 2 * key.h, 2 * key.w)  # the 1/4 feature
        module = SegHead(cfg, key.c_in, stem.out4_channels, num_classes)
        piece = Piece(module, (torch.randn(n, key.c_in, key.h, key.w), size, low), {})
    else:
        module = create_op(key.op, key.c_in, key.c_out, key.stride, cfg)
        piece = Piece(module, (torch.randn(n, key.c_in, key.h, key.w),), {})
    piece.module.eval()
    return piece
