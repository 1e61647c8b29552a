"""The candidate operations of a cell: a name -> class registry and one factory.

Every op maps (N, c_in, H, W) to (N, c_out, H/stride, W/stride) and accepts
`forward(x, c_out=None)`: `x` may carry fewer channels than the op was built for and
`c_out` may ask for fewer outputs; the supernet uses this to run narrow sub-networks on
its widest weights (channel prefixes). A stand-alone network never passes `c_out`.

Example:
    >>> op = create_op("conv_downup", c_in=32, c_out=64, stride=2, cfg=cfg)
    >>> op(torch.randn(1, 32, 16, 32)).shape
    torch.Size([1, 64, 8, 16])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from hyctas.errors import ArchError
from hyctas.models.attention import MultiHeadSelfAttention
from hyctas.models.layers import ConvBN, SlimBatchNorm2d, half, resize

if TYPE_CHECKING:
    from hyctas.space.config import SpaceConfig

OPS: dict[str, type[Op]] = {}


def register_op(name: str) -> Callable[[type[Op]], type[Op]]:
    """Class decorator adding an op to `OPS` under `name`."""

    def add(cls: type[Op]) -> type[Op]:
        if name in OPS:
            raise ValueError(f"op {name!r} registered twice")
        OPS[name] = cls
        return cls

    return add


def create_op(
    name: str, c_in: int, c_out: int, stride: int, cfg: SpaceConfig, *, slimmable: bool = False
) -> Op:
    """Builds the op `name`.

    Args:
        name: A key of `OPS`.
        c_in: Input channels (the most, when `slimmable`).
        c_out: Output channels (the most, when `slimmable`).
        stride: 1, or 2 to halve the resolution.
        cfg: Search-space config (attention heads and head dimension).
        slimmable: Build the weights a narrower input/output may need (the supernet's
            case): e.g. `skip` keeps its 1x1 projection even when c_in == c_out.

    Raises:
        ArchError: Unknown op name or stride.
    """
    if name not in OPS:
        raise ArchError(f"op {name!r} unknown (registered: {', '.join(OPS)})")
    if stride not in (1, 2):
        raise ArchError(f"op {name!r}: stride {stride} invalid (allowed: 1, 2)")
    return OPS[name](c_in, c_out, stride, cfg, slimmable=slimmable)


class Op(nn.Module):
    """Base of the cell ops; records the construction shape."""

    def __init__(
        self, c_in: int, c_out: int, stride: int, cfg: SpaceConfig, *, slimmable: bool = False
    ) -> None:
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride

    def forward(self, x: torch.Tensor, c_out: int | None = None) -> torch.Tensor:
        raise NotImplementedError


@register_op("skip")
class Skip(Op):
    """Identity; a 1x1 conv+BN+ReLU when channels change; 2-way factorized reduce at stride 2."""

    def __init__(
        self, c_in: int, c_out: int, stride: int, cfg: SpaceConfig, *, slimmable: bool = False
    ) -> None:
        super().__init__(c_in, c_out, stride, cfg)
        self.proj = self.proj2 = None
        if stride == 2:
            # Two 1x1 stride-2 convs on pixel grids offset by one: no pixel is dropped.
            self.proj = ConvBN(c_in, c_out // 2, 1, stride=2)
            self.proj2 = ConvBN(c_in, c_out - c_out // 2, 1, stride=2)
        elif c_in != c_out or slimmable:
            self.proj = ConvBN(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, c_out: int | None = None) -> torch.Tensor:
        c = self.c_out if c_out is None else c_out
        if self.stride == 2:
            return torch.cat([self.proj(x, c // 2), self.proj2(x[:, :, 1:, 1:], c - c // 2)], 1)
        if self.proj is None or x.shape[1] == c:
            return x
        return self.proj(x, c)


@register_op("conv")
class Conv(Op):
    """conv3x3 + BN + ReLU, stride 1 or 2."""

    def __init__(
        self, c_in: int, c_out: int, stride: int, cfg: SpaceConfig, *, slimmable: bool = False
    ) -> None:
        super().__init__(c_in, c_out, stride, cfg)
        self.conv = ConvBN(c_in, c_out, 3, stride=stride)

    def forward(self, x: torch.Tensor, c_out: int | None = None) -> torch.Tensor:
        return self.conv(x, c_out)


class _DownUp(Op):
    """Convs at half resolution; at stride 1 up-sampled back and added to a 1x1 shortcut."""

    n_convs = 1

    def __init__(
        self, c_in: int, c_out: int, stride: int, cfg: SpaceConfig, *, slimmable: bool = False
    ) -> None:
        super().__init__(c_in, c_out, stride, cfg)
        self.conv1 = ConvBN(c_in, c_out, 3, relu=self.n_convs == 2)
        self.conv2 = ConvBN(c_out, c_out, 3, relu=False) if self.n_convs == 2 else None
        self.shortcut = ConvBN(c_in, c_out, 1, relu=False) if stride == 1 else None

    def forward(self, x: torch.Tensor, c_out: int | None = None) -> torch.Tensor:
        y = self.conv1(half(x), c_out)
        if self.conv2 is not None:
            y = self.conv2(y, c_out)
        if self.shortcut is not None:
            y = resize(y, x.shape[2:]) + self.shortcut(x, c_out)
        return F.relu(y)


@register_op("conv_downup")
class ConvDownUp(_DownUp):
    """Bilinear down x0.5, conv3x3+BN, up, plus 1x1 conv+BN shortcut, ReLU (s2: no up/shortcut)."""

    n_convs = 1


@register_op("conv_2x_downup")
class Conv2xDownUp(_DownUp):
    """`conv_downup` with two conv3x3 (the first with ReLU) at half resolution."""

    n_convs = 2


@register_op("sa")
class SelfAttention(Op):
    """Hybrid attention cell: 1x1 conv -> multi-head attention -> (avgpool at s2) -> BN, ReLU
    -> 1x1 conv+BN, plus a shortcut (identity, or conv+BN+ReLU when the shape changes), ReLU.

    Args:
        half_res_attention: Attend at half resolution and up-sample back (the head's
            variant, 4x fewer tokens); stride must then be 1.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        cfg: SpaceConfig,
        *,
        slimmable: bool = False,
        half_res_attention: bool = False,
    ) -> None:
        super().__init__(c_in, c_out, stride, cfg)
        if half_res_attention and stride != 1:
            raise ValueError("half_res_attention needs stride 1")
        self.half_res = half_res_attention
        self.shortcut = None
        if stride == 2:
            self.shortcut = ConvBN(c_in, c_out, 3, stride=2)
        elif c_in != c_out or slimmable:
            self.shortcut = ConvBN(c_in, c_out, 1)
        self.reduce = ConvBN(c_in, c_out, 1)
        self.attn = MultiHeadSelfAttention(c_out, cfg.sa_heads, cfg.sa_head_dim)
        self.norm = SlimBatchNorm2d(c_out)
        self.expand = ConvBN(c_out, c_out, 1, relu=False)

    def forward(self, x: torch.Tensor, c_out: int | None = None) -> torch.Tensor:
        c = self.c_out if c_out is None else c_out
        use_identity = self.shortcut is None or (self.stride == 1 and x.shape[1] == c)
        shortcut = x if use_identity else self.shortcut(x, c)
        y = self.reduce(x, c)
        y = self.attn(half(y) if self.half_res else y)
        if self.stride == 2:
            y = F.avg_pool2d(y, 2)
        y = F.relu(self.norm(y))
        if self.half_res:
            y = resize(y, x.shape[2:])
        return F.relu(self.expand(y, c) + shortcut)
