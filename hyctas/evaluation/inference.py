"""The one test-time inference routine: class scores of a network for a frame of any size.

Search scoring (`hyctas.train.supernet.subnet_confusion`), the `evaluate` stage and
`hyctas predict` all call `infer`. The networks take sides that are multiples of
`INPUT_MULTIPLE` (64); a frame of any size is run as follows.

* **Whole frame**: padded at the bottom and right to the next multiples of 64 by mirroring it
  (reflect-101, OpenCV's BORDER_REFLECT_101: no artificial edge for the network to react
  to), run, and the logits cropped back to the frame, so padding is never scored. Logits
  smaller than the input (a network predicting at 1/4) are first upsampled bilinearly to the
  padded input's size.
* **Sliding window** (`SlidingWindow`): windows of `crop` pixels every `stride` pixels, the
  last one flush with the frame's far edge (a side no longer than the crop is one window);
  each window is run as a whole frame (padded the same way) and the logits of overlapping
  windows are averaged.
* **Scales**: the frame resized bilinearly by each scale, run as above (windows are taken in
  the resized frame), and its logits resized back to the frame's size.
* **Flip**: every pass also on the mirrored frame, its logits mirrored back.

The result is the mean of all passes' logits at the frame's size. With one scale of 1.0, no
window and no flip it is the single padded pass itself.

The network is any callable from a normalised (1, 3, H, W) tensor to (1, C, h, w) logits: an
eval-mode torch module, or `hyctas.evaluation.predict.Predictor.forward` (ONNX too).

Example:
    >>> inference = InferenceConfig.from_params(params["evaluate"], "evaluate")
    >>> logits = infer(model.eval(), image[None].to(device), inference)  # (1, C, H, W)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from hyctas.errors import ConfigError
from hyctas.models.network import INPUT_MULTIPLE

Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SlidingWindow:
    """Windows of `crop` (h, w) pixels every `stride` (h, w) pixels; stride <= crop."""

    crop: tuple[int, int]
    stride: tuple[int, int]

    def __str__(self) -> str:
        (ch, cw), (sh, sw) = self.crop, self.stride
        return f"sliding {ch}x{cw}/{sh}x{sw}"


@dataclass(frozen=True)
class InferenceConfig:
    """How a frame is predicted (see the module docstring).

    Attributes:
        flip: Also predict the mirrored frame.
        scales: Resize factors of the frame, each > 0; (1.0,) is the native size only.
        window: Sliding windows, or None for the whole frame.
    """

    flip: bool
    scales: tuple[float, ...]
    window: SlidingWindow | None

    @classmethod
    def from_params(cls, block: dict, key: str) -> InferenceConfig:
        """From a params block with `flip`, `scales` and `sliding_window` (`key` names it).

        Raises:
            ConfigError: A scale <= 0, no scale, a window side < 1, or a stride larger than
                its crop (pixels between windows would never be predicted); names the key.
        """
        flip = block["flip"]
        if not isinstance(flip, bool):
            raise ConfigError(f"{key}.flip = {flip!r}: must be true or false")
        scales = block["scales"]
        if not isinstance(scales, list | tuple) or not scales:
            raise ConfigError(f"{key}.scales = {scales!r}: must be a non-empty list of numbers")
        for scale in scales:
            if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
                raise ConfigError(f"{key}.scales = {list(scales)}: every scale must be > 0")
        return cls(
            flip=flip,
            scales=tuple(float(s) for s in scales),
            window=_window(block["sliding_window"], f"{key}.sliding_window"),
        )

    def to_dict(self) -> dict[str, Any]:
        """What a metrics file records: `inference` ("whole" or "sliding HxW/HxW"), scales, flip."""
        return {
            "inference": str(self.window) if self.window else "whole",
            "inference_scales": list(self.scales),
            "inference_flip": self.flip,
        }

    def is_plain(self) -> bool:
        """One pass at the native size over the whole frame (no flip)."""
        return not self.flip and self.scales == (1.0,) and self.window is None


# The search objective's inference and the latency measurement's: one padded pass.
PLAIN = InferenceConfig(flip=False, scales=(1.0,), window=None)


def _pair(value: Any, key: str) -> tuple[int, int]:
    ok = isinstance(value, list | tuple) and len(value) == 2
    if not ok or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
        raise ConfigError(f"{key} = {value!r}: must be [height, width], two integers >= 1")
    return int(value[0]), int(value[1])


def _window(block: dict | None, key: str) -> SlidingWindow | None:
    if block is None:
        return None
    if not isinstance(block, dict) or set(block) != {"crop", "stride"}:
        raise ConfigError(f"{key} = {block!r}: must be null or {{crop: [h, w], stride: [h, w]}}")
    crop, stride = _pair(block["crop"], f"{key}.crop"), _pair(block["stride"], f"{key}.stride")
    if stride[0] > crop[0] or stride[1] > crop[1]:
        raise ConfigError(
            f"{key}.stride = {list(stride)} is larger than {key}.crop = {list(crop)}: the "
            "pixels between windows would never be predicted"
        )
    return SlidingWindow(crop, stride)


def padded_size(height: int, width: int) -> tuple[int, int]:
    """The next multiples of `INPUT_MULTIPLE` at or above `height` x `width`."""
    m = INPUT_MULTIPLE
    return -(-height // m) * m, -(-width // m) * m


def pad_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(N, C, h, w) mirrored (reflect-101) at the bottom and right up to `size` (H, W).

    One reflection adds at most side - 1 pixels, so a frame less than half the target size
    is mirrored again; a side of one pixel is repeated instead.
    """
    height, width = size
    while x.shape[-2] < height or x.shape[-1] < width:
        h, w = x.shape[-2:]
        more_h, more_w = max(height - h, 0), max(width - w, 0)
        if min(h, w) < 2:
            return F.pad(x, (0, more_w, 0, more_h), mode="replicate")
        x = F.pad(x, (0, min(more_w, w - 1), 0, min(more_h, h - 1)), mode="reflect")
    return x


def _padded_pass(forward: Forward, x: torch.Tensor) -> torch.Tensor:
    """Logits (N, C, h, w) of `x` (N, 3, h, w): padded to multiples of 64, cropped back."""
    h, w = x.shape[-2:]
    padded = pad_to(x, padded_size(h, w))
    logits = forward(padded).float()
    if logits.shape[-2:] != padded.shape[-2:]:
        logits = F.interpolate(logits, size=padded.shape[-2:], mode="bilinear", align_corners=False)
    return logits[..., :h, :w]


def window_starts(side: int, crop: int, stride: int) -> list[int]:
    """Offsets of the windows along one side: every `stride`, the last flush with the end."""
    if side <= crop:
        return [0]
    return [*range(0, side - crop, stride), side - crop]


def _windowed_pass(forward: Forward, x: torch.Tensor, window: SlidingWindow | None) -> torch.Tensor:
    """Logits of `x` at its own size: one padded pass, or overlapping windows averaged."""
    if window is None:
        return _padded_pass(forward, x)
    h, w = x.shape[-2:]
    total: torch.Tensor | None = None
    count = torch.zeros((1, 1, h, w), device=x.device)
    for top in window_starts(h, window.crop[0], window.stride[0]):
        for left in window_starts(w, window.crop[1], window.stride[1]):
            part = _padded_pass(
                forward, x[..., top : top + window.crop[0], left : left + window.crop[1]]
            )
            if total is None:
                total = torch.zeros((*part.shape[:2], h, w), device=part.device)
            ph, pw = part.shape[-2:]
            total[..., top : top + ph, left : left + pw] += part
            count[..., top : top + ph, left : left + pw] += 1
    assert total is not None
    return total / count


@torch.no_grad()
def infer(forward: Forward, image: torch.Tensor, inference: InferenceConfig) -> torch.Tensor:
    """Class scores (N, C, H, W) of a normalised (N, 3, H, W) frame of any size.

    Args:
        forward: The network: normalised (N, 3, H', W') with sides multiples of 64 ->
            (N, C, h, w) logits (eval mode for a torch module).
        image: The frame(s), on the network's device.
        inference: Whole frame or windows, scales and flip (see the module docstring).

    Returns:
        float32 logits at the frame's size, the mean over the passes.
    """
    h, w = image.shape[-2:]
    total: torch.Tensor | None = None
    passes = 0
    for scale in inference.scales:
        x = image
        if scale != 1.0:
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            x = F.interpolate(image, size=size, mode="bilinear", align_corners=False)
        for mirrored in (False, True) if inference.flip else (False,):
            logits = _windowed_pass(forward, x.flip(-1) if mirrored else x, inference.window)
            if mirrored:
                logits = logits.flip(-1)
            if logits.shape[-2:] != (h, w):
                logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
            total = logits if total is None else total + logits
            passes += 1
    assert total is not None
    return total if passes == 1 else total / passes
