"""Training and evaluation transforms on numpy arrays (OpenCV, no torchvision).

Every random choice comes from the `numpy.random.Generator` passed in, so a sample is a pure
function of (seed, epoch, index) whatever the number of DataLoader workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from hyctas.errors import ConfigError

# Images are read as stored: OpenCV would otherwise turn JPEGs by their EXIF orientation,
# which label maps (PNGs, read without it) do not carry, and image and labels would disagree.
IMREAD_IMAGE = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


@dataclass(frozen=True)
class AugmentConfig:
    """The `augment` block of a training stage in params.yaml."""

    crop_height: int
    crop_width: int
    scale_min: float
    scale_max: float
    flip_prob: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def from_params(cls, block: dict, key: str = "augment") -> AugmentConfig:
        """Build from a params block; ConfigError naming `key` when values disagree."""
        cfg = cls(
            crop_height=int(block["crop_height"]),
            crop_width=int(block["crop_width"]),
            scale_min=float(block["scale_min"]),
            scale_max=float(block["scale_max"]),
            flip_prob=float(block["flip_prob"]),
            mean=tuple(block["mean"]),
            std=tuple(block["std"]),
        )
        if cfg.scale_min > cfg.scale_max:
            raise ConfigError(
                f"{key}.scale_min ({cfg.scale_min}) is above {key}.scale_max ({cfg.scale_max})"
            )
        return cfg


def normalize(image: np.ndarray, mean: tuple, std: tuple) -> torch.Tensor:
    """RGB uint8 HxWx3 -> float CxHxW tensor, scaled to [0, 1] then standardised."""
    x = image.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def train_transform(
    image: np.ndarray,
    label: np.ndarray,
    cfg: AugmentConfig,
    ignore_label: int,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random scale, pad, random crop and horizontal flip, then normalise."""
    scale = rng.uniform(cfg.scale_min, cfg.scale_max)
    h, w = label.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)
    pad_h, pad_w = max(cfg.crop_height - size[1], 0), max(cfg.crop_width - size[0], 0)
    if pad_h or pad_w:
        image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=0)
        label = cv2.copyMakeBorder(
            label, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=ignore_label
        )
    top = int(rng.integers(0, label.shape[0] - cfg.crop_height + 1))
    left = int(rng.integers(0, label.shape[1] - cfg.crop_width + 1))
    image = image[top : top + cfg.crop_height, left : left + cfg.crop_width]
    label = label[top : top + cfg.crop_height, left : left + cfg.crop_width]
    if rng.random() < cfg.flip_prob:
        image, label = image[:, ::-1], label[:, ::-1]
    return normalize(image, cfg.mean, cfg.std), torch.from_numpy(label.astype(np.int64))


def eval_transform(
    image: np.ndarray, label: np.ndarray, mean: tuple, std: tuple
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full frame, normalised; no randomness."""
    return normalize(image, mean, std), torch.from_numpy(label.astype(np.int64))
