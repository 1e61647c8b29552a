"""Hand-designed real-time baselines to compare the searched networks with.

`fast_scnn` follows Fast-SCNN (Poudel et al., 2019): a learning-to-downsample module
(conv, two depthwise-separable convs, to 1/8), a global feature extractor (inverted-residual
bottlenecks down to 1/32 and a pyramid pooling module), a feature fusion of the 1/8 and 1/32
paths and a classifier of two depthwise-separable convs. At width 1 and 19 classes it has
~1.1 M parameters, as the paper's. One auxiliary head on the 1/8 learning-to-downsample
feature (as common re-implementations do) runs in training mode only.

Forward contract: the same as `SegNet` (see `hyctas.models.network`): inputs (N, 3, H, W)
with H, W multiples of 64; eval -> logits (N, C, H, W); train with aux -> (logits, [aux]).

Example:
    >>> net = build_baseline(BaselineConfig("fast_scnn", width=1.0, aux=True), 19).eval()
    >>> net(torch.randn(1, 3, 128, 256)).shape
    torch.Size([1, 19, 128, 256])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hyctas.errors import ConfigError
from hyctas.models.layers import resize
from hyctas.models.network import NetOutput, check_input


@dataclass(frozen=True)
class BaselineConfig:
    """Which baseline to build and its size.

    Attributes:
        name: Key of `BASELINES`.
        width: Channel multiplier (> 0); 1.0 is the published network.
        aux: Build the auxiliary head (used in training mode only).
    """

    name: str
    width: float
    aux: bool

    def __post_init__(self) -> None:
        if self.name not in BASELINES:
            raise ConfigError(f"unknown baseline {self.name!r} (known: {', '.join(BASELINES)})")
        if not isinstance(self.width, (int, float)) or isinstance(self.width, bool):
            raise ConfigError(f"baseline width must be a number, got {self.width!r}")
        if not self.width > 0:
            raise ConfigError(f"baseline width must be > 0, got {self.width}")


def _scaled(channels: int, width: float) -> int:
    # Multiples of 8 (at least 8), as MobileNet-style width multipliers do.
    return max(8, int(channels * width + 4) // 8 * 8)


def _conv_bn(
    c_in: int, c_out: int, k: int = 1, stride: int = 1, groups: int = 1, relu: bool = True
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _ds_conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """Depthwise 3x3 + BN + ReLU, pointwise 1x1 + BN + ReLU."""
    return nn.Sequential(_conv_bn(c_in, c_in, 3, stride, groups=c_in), _conv_bn(c_in, c_out))


class Bottleneck(nn.Module):
    """MobileNetV2 inverted residual: 1x1 expand, 3x3 depthwise (stride), linear 1x1."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int = 6) -> None:
        super().__init__()
        mid = c_in * expansion
        self.residual = stride == 1 and c_in == c_out
        self.body = nn.Sequential(
            _conv_bn(c_in, mid),
            _conv_bn(mid, mid, 3, stride, groups=mid),
            _conv_bn(mid, c_out, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


def _pool_matrix(n: int | torch.Tensor, bins: int, like: torch.Tensor) -> torch.Tensor:
    """(bins, n) matrix whose rows average the windows of `adaptive_avg_pool` over n cells.

    Window i is [floor(i n / bins), ceil((i + 1) n / bins)), as in PyTorch. Built from size
    arithmetic so the ONNX export keeps height and width dynamic (ONNX has no adaptive pooling
    for sizes that `bins` does not divide).
    """
    i = torch.arange(bins, device=like.device)
    start = torch.div(i * n, bins, rounding_mode="floor")
    end = torch.div((i + 1) * n + bins - 1, bins, rounding_mode="floor")
    j = torch.arange(n, device=like.device)
    mask = (j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])
    mask = mask.to(like.dtype)
    return mask / mask.sum(1, keepdim=True)


def adaptive_avg_pool(x: torch.Tensor, bins: int) -> torch.Tensor:
    """`F.adaptive_avg_pool2d(x, bins)` as two matrix products (exportable, any size)."""
    ph = _pool_matrix(x.shape[2], bins, x)
    pw = _pool_matrix(x.shape[3], bins, x)
    return ph @ x @ pw.transpose(0, 1)


class PyramidPooling(nn.Module):
    """PSPNet pooling: average to each bin grid, 1x1 to c/4, upsample, concat, 1x1 to c_out."""

    def __init__(self, c_in: int, c_out: int, bins: tuple[int, ...] = (1, 2, 3, 6)) -> None:
        super().__init__()
        self.bins = bins
        self.reduce = nn.ModuleList(_conv_bn(c_in, c_in // 4) for _ in bins)
        self.project = _conv_bn(c_in + len(bins) * (c_in // 4), c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[2:]
        pooled = [
            resize(conv(adaptive_avg_pool(x, b)), size)
            for b, conv in zip(self.bins, self.reduce, strict=True)
        ]
        return self.project(torch.cat([x, *pooled], 1))


class FastSCNN(nn.Module):
    """Fast-SCNN (see the module docstring).

    Args:
        num_classes: Output classes.
        width: Channel multiplier.
        aux: Build the auxiliary head on the 1/8 learning-to-downsample feature.
    """

    def __init__(self, num_classes: int, width: float = 1.0, aux: bool = False) -> None:
        super().__init__()
        c = {k: _scaled(v, width) for k, v in {32: 32, 48: 48, 64: 64, 96: 96, 128: 128}.items()}
        self.aux = aux
        self.downsample = nn.Sequential(
            _conv_bn(3, c[32], 3, stride=2), _ds_conv(c[32], c[48], 2), _ds_conv(c[48], c[64], 2)
        )
        stages = []
        for c_in, c_out, stride in ((c[64], c[64], 2), (c[64], c[96], 2), (c[96], c[128], 1)):
            stages += [
                Bottleneck(c_in, c_out, stride),
                *(Bottleneck(c_out, c_out, 1) for _ in range(2)),
            ]
        self.features = nn.Sequential(*stages)
        self.ppm = PyramidPooling(c[128], c[128])
        # Feature fusion: the 1/32 path goes up, through a depthwise conv and a linear 1x1.
        self.fuse_low = nn.Sequential(
            _conv_bn(c[128], c[128], 3, groups=c[128]), _conv_bn(c[128], c[128], relu=False)
        )
        self.fuse_high = _conv_bn(c[64], c[128], relu=False)
        self.classifier = nn.Sequential(
            _ds_conv(c[128], c[128]),
            _ds_conv(c[128], c[128]),
            nn.Dropout(0.1),
            nn.Conv2d(c[128], num_classes, 1),
        )
        self.aux_head = (
            nn.Sequential(
                _conv_bn(c[64], c[32], 3), nn.Dropout(0.1), nn.Conv2d(c[32], num_classes, 1)
            )
            if aux
            else None
        )

    def forward(self, x: torch.Tensor) -> NetOutput:
        """Logits (eval) or (logits, [aux logits]) in training with the aux head."""
        check_input(x)
        size = x.shape[2:]
        high = self.downsample(x)
        low = self.ppm(self.features(high))
        low = self.fuse_low(resize(low, high.shape[2:]))
        fused = F.relu(low + self.fuse_high(high))
        logits = resize(self.classifier(fused), size)
        if not (self.training and self.aux_head is not None):
            return logits
        return logits, [resize(self.aux_head(high), size)]


# name -> builder(num_classes, width, aux); add new baselines here.
BASELINES: dict[str, Callable[[int, float, bool], nn.Module]] = {
    "fast_scnn": lambda num_classes, width, aux: FastSCNN(num_classes, width, aux),
}


def build_baseline(cfg: BaselineConfig, num_classes: int) -> nn.Module:
    """Builds the baseline `cfg.name` with `num_classes` outputs."""
    return BASELINES[cfg.name](num_classes, float(cfg.width), bool(cfg.aux))
