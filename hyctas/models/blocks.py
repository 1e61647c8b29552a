"""The fixed parts of a network around the searched cells: stem, fusion and heads.

Shapes follow the published HyCTAS model (Fch 16: stem 64/128/128 channels, fusion at
128/256/512, a 48-channel 1/4 skip in the head); every size here derives from the
search-space config, so nothing is tied to one dataset or resolution.

Example:
    >>> stem = Stem(cfg)
    >>> f4, f8 = stem(torch.randn(1, 3, 64, 128))
"""

from __future__ import annotations

import torch
from torch import nn

from hyctas.models.layers import ConvBN, SlimConv2d, place, resize
from hyctas.models.ops import Conv2xDownUp, SelfAttention
from hyctas.space.config import SpaceConfig


class Stem(nn.Module):
    """conv s2 + BN; conv s2, conv (+BN+ReLU) -> kept 1/4 feature; conv s2, conv -> 1/8."""

    def __init__(self, cfg: SpaceConfig) -> None:
        super().__init__()
        c2, c4, c8 = 4 * cfg.fch, 8 * cfg.fch, cfg.channels(0, 1.0)
        self.out4_channels, self.out8_channels = c4, c8
        self.conv1 = ConvBN(3, c2, 3, stride=2, relu=False)
        self.conv2 = ConvBN(c2, c4, 3, stride=2)
        self.conv3 = ConvBN(c4, c4, 3)
        self.conv4 = ConvBN(c4, c8, 3, stride=2)
        self.conv5 = ConvBN(c8, c8, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the 1/4 feature (for the head) and the 1/8 feature (for the cells)."""
        f4 = self.conv3(self.conv2(self.conv1(x)))
        return f4, self.conv5(self.conv4(f4))


class FeatureFusion(nn.Module):
    """1x1 conv+BN+ReLU, then channel attention from global pooling: `f + f * sigmoid(...)`.

    The attention's 1x1 convs carry biases instead of batch norm: a BN over 1x1 pooled
    maps cannot train at batch size 1. Slimmable: `c_out` narrower than built uses the
    first channels of every weight (the supernet's shared fusion).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = ConvBN(c_in, c_out, 1)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            SlimConv2d(c_out, c_out, 1),
            nn.ReLU(inplace=True),
            SlimConv2d(c_out, c_out, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor, c_out: int | None = None) -> torch.Tensor:
        """Fuses `x` into `c_out` channels (default: all it was built for)."""
        f = self.conv(x, c_out)
        pool, squeeze, relu, excite, gate = self.attention
        c = f.shape[1]
        return f + f * gate(excite(relu(squeeze(pool(f), c)), c))


class Fusion(nn.Module):
    """Brings every branch to 1/8 and fuses them (plus 1/16 and 1/32 fusions for aux heads).

    A branch ending at 1/32 is reduced (1x1), up-sampled, concatenated with its last 1/16
    feature and refined (3x3), then again to 1/8; a branch ending at 1/16 once; a 1/8 branch
    is used as is. The 1/8 results go through a `FeatureFusion` to `c8 * branches` channels.

    Built for several final scales, it also fuses any subset of them (the supernet's shared
    fusion): each branch's feature keeps its place in the concatenation, the places of the
    missing branches are zeros, and the fusion's output is `c8 * branches` channels wide.

    Args:
        cfg: Search space (channel sizes).
        final_scales: Final scales of the branches (any non-empty subset of 0, 1, 2).
        ch16: Channels of the last 1/16 feature of the 1/32 branch (used if 2 is final).
        ch8: Channels of the last 1/8 feature of the branch ending at each scale 1, 2.
        aux: Build the 1/16 and 1/32 fusions that feed the auxiliary heads.
    """

    def __init__(
        self,
        cfg: SpaceConfig,
        final_scales: tuple[int, ...],
        ch16: int,
        ch8: dict[int, int],
        aux: bool,
    ) -> None:
        super().__init__()
        c8, c16, c32 = (cfg.channels(s, 1.0) for s in range(3))
        self.final_scales = tuple(sorted(final_scales))
        self.c8, self.out_channels = c8, c8 * len(self.final_scales)
        # Channel offset of each branch's input to the 1/8 and the 1/16 fusion.
        order8 = [s for s in (2, 1, 0) if s in final_scales]
        self.offsets8 = {s: c8 * i for i, s in enumerate(order8)}
        # The 1/16 branch's final feature (fixed width) comes first, then the 1/32 branch's
        # last 1/16 feature (variable width: last, so a slimmed one reads a prefix).
        self.offsets16 = {1: 0, 2: c16 if 1 in final_scales else 0}
        # Variable-width inputs come last in every concatenation: the supernet slices
        # input channels by prefix, so fixed-width parts keep their meaning across widths.
        if 2 in final_scales:
            self.arm32 = ConvBN(c32, c16, 1, relu=False)
            self.refine32 = ConvBN(c16 + ch16, c16, 3, relu=False)
            self.arm32to8 = ConvBN(c16, c8, 1, relu=False)
            self.refine32to8 = ConvBN(c8 + ch8[2], c8, 3, relu=False)
        if 1 in final_scales:
            self.arm16 = ConvBN(c16, c8, 1, relu=False)
            self.refine16 = ConvBN(c8 + ch8[1], c8, 3, relu=False)
        self.ffm8 = FeatureFusion(self.out_channels, self.out_channels)
        self.ffm16 = self.ffm32 = None
        if aux and 2 in final_scales:
            self.ffm32 = FeatureFusion(c32, c32)
            self.ffm16 = FeatureFusion((c16 if 1 in final_scales else 0) + ch16, c16)
        elif aux and 1 in final_scales:
            self.ffm16 = FeatureFusion(c16, c16)

    def forward(
        self, feats: dict[int, list[torch.Tensor]], with_aux: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Fuses the branches.

        Args:
            feats: For each final scale (some or all of those built for), the branch's last
                feature at every scale up to it.
            with_aux: Also compute the 1/16 and 1/32 fusions (when built).

        Returns:
            The 1/8 fusion and the 1/16 and 1/32 fusions (None when not computed).
        """
        pred8, pred16 = [], []
        if 2 in feats:
            f8, f16, f32 = feats[2]
            y = self.refine32(torch.cat([resize(self.arm32(f32), f16.shape[2:]), f16], 1))
            y = self.refine32to8(torch.cat([resize(self.arm32to8(y), f8.shape[2:]), f8], 1))
            pred8.append((self.offsets8[2], y))
            pred16.append((self.offsets16[2], f16))
        if 1 in feats:
            f8, f16 = feats[1]
            y = self.refine16(torch.cat([resize(self.arm16(f16), f8.shape[2:]), f8], 1))
            pred8.append((self.offsets8[1], y))
            pred16.insert(0, (self.offsets16[1], f16))
        if 0 in feats:
            pred8.append((self.offsets8[0], feats[0][0]))
        s8 = self.ffm8(place(pred8), self.c8 * len(feats))
        if not with_aux:
            return s8, None, None
        # A shared fusion has them for any subset; they run when a branch reaches 1/16, 1/32.
        s16 = self.ffm16(place(pred16)) if self.ffm16 is not None and pred16 else None
        s32 = self.ffm32(feats[2][2]) if self.ffm32 is not None and 2 in feats else None
        return s8, s16, s32


def _mid_channels(c_in: int, cfg: SpaceConfig) -> int:
    # Wide inputs (more than one 1/16 feature's channels) are halved in the head's body.
    return c_in if c_in <= cfg.channels(1, 1.0) else c_in // 2


class SegHead(nn.Module):
    """Attention head: attention at half of 1/8, up to 1/4, concat a projection of the 1/4
    stem feature, conv_2x_downup block, conv3x3, 1x1 to classes, bilinear to the input size.

    Args:
        cfg: Search space (attention shape, skip channels).
        c_in: Channels of the fused 1/8 feature.
        c_low: Channels of the 1/4 stem feature; None for an auxiliary head without skip.
        num_classes: Output classes.
        narrower: Narrower fused features it also runs on (the supernet's head shared by
            every branch count): the first channels of each weight, the skip projection
            keeping its place after the widest input.
    """

    def __init__(
        self,
        cfg: SpaceConfig,
        c_in: int,
        c_low: int | None,
        num_classes: int,
        narrower: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.cfg, self.c_in = cfg, c_in
        mid = max(_mid_channels(c, cfg) for c in (c_in, *narrower))
        c_skip = cfg.head_skip_channels if c_low is not None else 0
        self.attention = SelfAttention(c_in, c_in, 1, cfg, half_res_attention=True)
        self.skip = ConvBN(c_low, c_skip, 1, relu=False) if c_low is not None else None
        self.block = Conv2xDownUp(c_in + c_skip, mid, 1, cfg)
        self.conv = ConvBN(mid, mid, 3)
        self.classifier = SlimConv2d(mid, num_classes, 1)

    def forward(
        self, x: torch.Tensor, size: tuple[int, int], low: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits at `size` from feature `x` (and the 1/4 stem feature `low`)."""
        c = x.shape[1]
        y = self.attention(x, c)
        if self.skip is not None:
            y = place([(0, resize(y, low.shape[2:])), (self.c_in, self.skip(low))])
        mid = _mid_channels(c, self.cfg)
        return resize(self.classifier(self.conv(self.block(y, mid), mid)), size)
