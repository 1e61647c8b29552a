"""Slimmable building blocks: conv and batch-norm layers that can run on a channel prefix.

A stand-alone network uses them at their full size. The supernet builds them at the widest
size of the search space and runs a narrower sub-network by slicing the *first* `c` output
channels (and the first `x.shape[1]` input channels) of the weights, so extracting a
sub-network is a plain prefix copy of every tensor (see `hyctas.models.supernet`).

Example:
    >>> layer = ConvBN(16, 32, kernel_size=3, stride=1, relu=True)
    >>> layer(torch.randn(1, 8, 4, 4), c_out=24).shape  # input 8 of 16 channels, output 24
    torch.Size([1, 24, 4, 4])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SlimConv2d(nn.Conv2d):
    """`nn.Conv2d` that can use only the first input/output channels of its weight."""

    def forward(self, x: torch.Tensor, c_out: int | None = None) -> torch.Tensor:
        c_in = x.shape[1]
        c_out = self.out_channels if c_out is None else c_out
        if c_in == self.in_channels and c_out == self.out_channels:
            return super().forward(x)
        if c_in > self.in_channels or c_out > self.out_channels:
            raise ValueError(
                f"SlimConv2d({self.in_channels}->{self.out_channels}) asked for "
                f"{c_in}->{c_out} channels"
            )
        weight = self.weight[:c_out, :c_in]
        bias = self.bias[:c_out] if self.bias is not None else None
        return self._conv_forward(x, weight, bias)


class SlimBatchNorm2d(nn.BatchNorm2d):
    """`nn.BatchNorm2d` that normalises a channel prefix with the matching stats prefix.

    Running statistics are sliced views, so training a narrow sub-network updates the first
    channels of the shared buffers in place (the usual "sliced BN" of weight-sharing NAS;
    re-estimate the stats of a sub-network before trusting its accuracy).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c == self.num_features:
            return super().forward(x)
        use_batch_stats = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
        return F.batch_norm(
            x,
            self.running_mean[:c] if self.running_mean is not None else None,
            self.running_var[:c] if self.running_var is not None else None,
            self.weight[:c],
            self.bias[:c],
            use_batch_stats,
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
        )


class ConvBN(nn.Module):
    """Conv (no bias) + batch norm, then ReLU when `relu`; slimmable on both channel axes.

    Args:
        c_in: Input channels (the most, when slimmed).
        c_out: Output channels (the most, when slimmed).
        kernel_size: Square kernel size; padding keeps the size at stride 1.
        stride: Convolution stride.
        relu: Apply ReLU after the norm.
    """

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1, relu: bool = True
    ) -> None:
        super().__init__()
        self.conv = SlimConv2d(
            c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
        )
        self.bn = SlimBatchNorm2d(c_out)
        self.relu = relu

    def forward(self, x: torch.Tensor, c_out: int | None = None) -> torch.Tensor:
        """Runs on `x.shape[1]` input channels and returns `c_out` (default: all) channels."""
        y = self.bn(self.conv(x, c_out))
        return F.relu(y, inplace=True) if self.relu else y


def resize(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear resize to `size` (align_corners=False, as everywhere in the network)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def place(pieces: list[tuple[int, torch.Tensor]]) -> torch.Tensor:
    """Feature maps concatenated along channels, each starting at its channel offset.

    The gaps between them are zeros, so a convolution over the result equals one over the
    pieces alone with the weight columns at those offsets: a module shared by inputs that
    differ (the supernet's shared fusion and head) keeps each kind of input at one place of
    its weights. Nothing follows the last piece; a slimmable layer reads the prefix.

    Raises:
        ValueError: The offsets do not increase past the end of the piece before.
    """
    parts, end = [], 0
    for offset, x in pieces:
        if offset < end:
            raise ValueError(f"piece at channel {offset} overlaps the one ending at {end}")
        if offset > end:
            parts.append(x.new_zeros(x.shape[0], offset - end, *x.shape[2:]))
        parts.append(x)
        end = offset + x.shape[1]
    return torch.cat(parts, 1)


def half(x: torch.Tensor) -> torch.Tensor:
    """Bilinear down-sampling to half the height and width (floor)."""
    return resize(x, (x.shape[2] // 2, x.shape[3] // 2))
