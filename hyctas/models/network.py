"""The stand-alone segmentation network of one architecture.

`SegNet(arch, cfg, num_classes, aux)` builds stem -> cells (branches sharing their common
prefix) -> fusion to 1/8 -> attention head with a 1/4 skip, plus, when `aux`, two light
auxiliary heads on the 1/16 and 1/32 fusions that only run in training mode.

Forward contract (both `SegNet` and `Supernet`):
    * the input is (N, 3, H, W) with H and W multiples of 64, else `InputSizeError`;
    * eval mode, or a network built without aux heads: logits (N, num_classes, H, W);
    * train mode with aux heads: `(logits, [aux logits, ...])`, every tensor at input
      resolution; the list holds the 1/16 then the 1/32 head, only for the fusions the
      architecture has (empty for an architecture whose branches all end at 1/8).

Example:
    >>> net = SegNet(arch, cfg, num_classes=19, aux=True).eval()
    >>> net(torch.randn(1, 3, 128, 256)).shape
    torch.Size([1, 19, 128, 256])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import torch
from torch import nn

from hyctas.errors import HyctasError
from hyctas.models.blocks import Fusion, SegHead, Stem
from hyctas.models.ops import create_op
from hyctas.models.plan import Node, Plan, build_plan
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig

# 1/32 features are halved once more by the down-up ops and the head's attention.
INPUT_MULTIPLE = 64

NetOutput = torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]


class InputSizeError(HyctasError, ValueError):
    """Input height or width is not a multiple of `INPUT_MULTIPLE`."""


def check_input(x: torch.Tensor) -> None:
    """Raises `InputSizeError` unless `x` is (N, 3, H, W) with H, W multiples of 64."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise InputSizeError(f"input must be a (N, 3, H, W) image batch, got {tuple(x.shape)}")
    h, w = x.shape[2], x.shape[3]
    if h % INPUT_MULTIPLE or w % INPUT_MULTIPLE or h == 0 or w == 0:
        raise InputSizeError(
            f"input height and width must be multiples of {INPUT_MULTIPLE}, got {h}x{w}: "
            "the network goes down to 1/32 and some ops halve that again; resize or pad the "
            f"images (e.g. to {max(1, -(-h // 64)) * 64}x{max(1, -(-w // 64)) * 64})"
        )


def fusion_channels(plan: Plan) -> tuple[int, dict[int, int]]:
    """Channels of the variable-width features the fusion reads: (ch16, {scale: ch8})."""
    end32 = plan.end_at(2)
    ch16 = end32.channels[1] if end32 else 0
    ch8 = {s: e.channels[0] for s in (1, 2) if (e := plan.end_at(s)) is not None}
    return ch16, ch8


def run_network(
    x: torch.Tensor,
    plan: Plan,
    stem: nn.Module,
    run_cell: Callable[[Node, torch.Tensor], torch.Tensor],
    fusion: Fusion,
    head: SegHead,
    aux_heads: nn.ModuleDict | None,
    output_stride: int = 1,
) -> NetOutput:
    """The forward pass shared by `SegNet` and `Supernet` (see the module docstring).

    Args:
        x: Input images.
        plan: The architecture's plan.
        stem: Returns (1/4 feature, 1/8 feature).
        run_cell: Runs one node of the plan on its input.
        fusion: Fusion module for the plan's final scales.
        head: Main head.
        aux_heads: Heads keyed "s16"/"s32" to run (None: no auxiliary outputs).
        output_stride: Logits come out at 1/output_stride of the input size (training may
            compute its loss at 1/4 to skip the costly full-size upsampling; eval uses 1).
    """
    check_input(x)
    size = (x.shape[2] // output_stride, x.shape[3] // output_stride)
    f4, f8 = stem(x)
    outs: dict[str | None, torch.Tensor] = {None: f8}
    # Free a feature once its last child ran, unless the fusion reads it.
    kept = {name for end in plan.ends for name in end.last}
    children = Counter(node.parent for node in plan.nodes)
    for node in plan.nodes:
        outs[node.name] = run_cell(node, outs[node.parent])
        children[node.parent] -= 1
        if children[node.parent] == 0 and node.parent not in kept:
            del outs[node.parent]
    feats = {end.final_scale: [outs[name] for name in end.last] for end in plan.ends}
    s8, s16, s32 = fusion(feats, with_aux=aux_heads is not None)
    logits = head(s8, size, f4)
    if aux_heads is None:
        return logits
    aux = [aux_heads[key](s, size) for key, s in (("s16", s16), ("s32", s32)) if s is not None]
    return logits, aux


def build_aux_heads(cfg: SpaceConfig, num_classes: int, scales: tuple[int, ...]) -> nn.ModuleDict:
    """Auxiliary heads (no 1/4 skip) for the 1/16 and/or 1/32 fusions among `scales`."""
    heads = nn.ModuleDict()
    for scale, key in ((1, "s16"), (2, "s32")):
        if scale in scales:
            heads[key] = SegHead(cfg, cfg.channels(scale, 1.0), None, num_classes)
    return heads


class SegNet(nn.Module):
    """Stand-alone network of one architecture (see the module docstring for `forward`).

    Args:
        arch: The architecture.
        cfg: Search space (channels, attention shape, head skip channels).
        num_classes: Output classes.
        aux: Build the auxiliary heads (used in training mode only).

    Attributes:
        plan: The prefix-tree plan; `cells` is keyed by its node names.
    """

    def __init__(self, arch: Arch, cfg: SpaceConfig, num_classes: int, aux: bool = False) -> None:
        super().__init__()
        self.arch, self.cfg, self.num_classes, self.aux = arch, cfg, num_classes, aux
        self.train_output_stride = 1  # set by the training loop (recipe.loss_stride)
        self.plan = build_plan(arch, cfg)
        self.stem = Stem(cfg)
        self.cells = nn.ModuleDict(
            {
                n.name: create_op(n.cell.op, n.c_in, n.c_out, n.cell.stride, cfg)
                for n in self.plan.nodes
            }
        )
        ch16, ch8 = fusion_channels(self.plan)
        self.fusion = Fusion(cfg, self.plan.final_scales, ch16, ch8, aux)
        self.head = SegHead(cfg, self.fusion.out_channels, self.stem.out4_channels, num_classes)
        scales = self.plan.final_scales
        # The 1/16 fusion exists whenever a branch ends at 1/16 or 1/32.
        aux_scales = tuple(s for s in (1, 2) if aux and max(scales) >= s)
        self.aux_heads = build_aux_heads(cfg, num_classes, aux_scales)

    def forward(self, x: torch.Tensor) -> NetOutput:
        """Logits (eval) or (logits, aux logits) in training with aux heads."""
        use_aux = self.training and self.aux
        return run_network(
            x,
            self.plan,
            self.stem,
            lambda node, y: self.cells[node.name](y),
            self.fusion,
            self.head,
            self.aux_heads if use_aux else None,
            self.train_output_stride if self.training else 1,
        )
