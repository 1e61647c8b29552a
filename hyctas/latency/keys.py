"""Latency-table keys: one per distinct piece of work a network runs.

A network is stem -> cells (the plan's prefix tree, each shared cell once) -> fusion -> head,
and each piece's run time depends only on its key:

    * a cell: (op, c_in, c_out, h, w, stride) with h x w its input size;
    * the stem: ("stem", 3, 1/8 channels, image h, image w, 8);
    * the fusion: ("fusion", sum of input channels, output channels, 1/8 h, 1/8 w, 1) with
      `variant` naming the channels of every feature it reads, per branch
      (e.g. "0:32|2:16,48,128": a 1/8 branch and a 1/32 branch with its 1/8 and 1/16 taps);
    * the head: ("head", fused channels, classes, 1/8 h, 1/8 w, 1).

Keys come from the plan (`hyctas.models.plan.build_plan`), the same object the network
is built from, so a key always describes what the network really runs.

Example:
    >>> keys = arch_keys(arch, cfg, num_classes=19, input_size=(256, 512))
    >>> keys[0]
    OpKey(op='stem', c_in=3, c_out=32, h=256, w=512, stride=8, variant='')
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from hyctas.models.plan import Node, Plan, build_plan
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig

STEM, FUSION, HEAD = "stem", "fusion", "head"
FIXED_PIECES = (STEM, FUSION, HEAD)
STEM_STRIDE = 8  # the stem brings the image to 1/8, where every branch starts


@dataclass(frozen=True, order=True)
class OpKey:
    """Identifies one measured piece (see the module docstring).

    Attributes:
        op: Cell op name, or "stem", "fusion", "head".
        c_in: Input channels (fusion: their sum over the features it reads).
        c_out: Output channels (head: classes).
        h: Input height of the piece (stem: the image; fusion and head: the 1/8 feature).
        w: Input width.
        stride: Cell stride; 8 for the stem, 1 for the fusion and head.
        variant: Fusion: channels of the features read, per final scale; else "".
    """

    op: str
    c_in: int
    c_out: int
    h: int
    w: int
    stride: int
    variant: str = ""

    def __str__(self) -> str:
        text = f"{self.op}(c_in={self.c_in}, c_out={self.c_out}, {self.h}x{self.w}, s{self.stride}"
        return text + (f", {self.variant})" if self.variant else ")")

    def as_row(self) -> dict[str, int | str]:
        """The key's fields by name (CSV columns)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


KEY_FIELDS = tuple(f.name for f in fields(OpKey))


def scale_size(input_size: tuple[int, int], scale: int) -> tuple[int, int]:
    """Feature size at `scale` (0 = 1/8) for an image of `input_size` (multiples of 64)."""
    factor = STEM_STRIDE * 2**scale
    return input_size[0] // factor, input_size[1] // factor


def stem_key(cfg: SpaceConfig, input_size: tuple[int, int]) -> OpKey:
    """Key of the stem for images of `input_size`."""
    return OpKey(STEM, 3, cfg.channels(0, 1.0), input_size[0], input_size[1], STEM_STRIDE)


def cell_key(node: Node, input_size: tuple[int, int]) -> OpKey:
    """Key of one cell of a plan."""
    h, w = scale_size(input_size, node.in_scale)
    return OpKey(node.cell.op, node.c_in, node.c_out, h, w, node.cell.stride)


def encode_ends(ends: dict[int, tuple[int, ...]]) -> str:
    """Fusion variant: `{final scale: channels at scales 0..final}` as "0:32|2:16,48,128"."""
    return "|".join(f"{s}:" + ",".join(str(c) for c in ends[s]) for s in sorted(ends))


def decode_ends(variant: str) -> dict[int, tuple[int, ...]]:
    """Inverse of `encode_ends`."""
    ends = {}
    for part in variant.split("|"):
        scale, _, chans = part.partition(":")
        ends[int(scale)] = tuple(int(c) for c in chans.split(","))
    return ends


def fusion_key(plan: Plan, cfg: SpaceConfig, input_size: tuple[int, int]) -> OpKey:
    """Key of the fusion of a plan: what it reads from each branch decides its work."""
    ends = {e.final_scale: e.channels for e in plan.ends}
    h, w = scale_size(input_size, 0)
    c_out = cfg.channels(0, 1.0) * len(ends)  # as `Fusion.out_channels`
    c_in = sum(sum(chans) for chans in ends.values())
    return OpKey(FUSION, c_in, c_out, h, w, 1, encode_ends(ends))


def head_key(plan: Plan, cfg: SpaceConfig, num_classes: int, input_size: tuple[int, int]) -> OpKey:
    """Key of the main head of a plan (its input width grows with the branch count)."""
    h, w = scale_size(input_size, 0)
    return OpKey(HEAD, cfg.channels(0, 1.0) * len(plan.ends), num_classes, h, w, 1)


def plan_keys(
    plan: Plan, cfg: SpaceConfig, num_classes: int, input_size: tuple[int, int]
) -> list[OpKey]:
    """Keys of everything one forward pass of a plan runs, each run once.

    Returns:
        Stem, then every node of the prefix tree (a shared cell appears once, as it runs
        once), then fusion and head. Distinct nodes may share a key: both are listed.
    """
    return [
        stem_key(cfg, input_size),
        *(cell_key(node, input_size) for node in plan.nodes),
        fusion_key(plan, cfg, input_size),
        head_key(plan, cfg, num_classes, input_size),
    ]


def arch_keys(
    arch: Arch, cfg: SpaceConfig, num_classes: int, input_size: tuple[int, int]
) -> list[OpKey]:
    """`plan_keys` of the plan of `arch`."""
    return plan_keys(build_plan(arch, cfg), cfg, num_classes, input_size)
