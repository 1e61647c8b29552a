"""A dataset over the file lists written by `prepare_data`, and its seeded DataLoader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from hyctas.data.transforms import IMREAD_IMAGE, AugmentConfig, eval_transform, train_transform
from hyctas.errors import DataError


def read_list(list_file: str | Path) -> list[tuple[Path, Path]]:
    """Read `<image>\t<label>` lines; relative paths are relative to the list file."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise DataError(f"{list_file}: file list not found; run the prepare_data stage first")
    base = list_file.parent
    pairs = []
    for number, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataError(f"{list_file}:{number}: expected '<image>\\t<label>', got {line!r}")
        pairs.append(tuple(p if Path(p).is_absolute() else base / p for p in map(Path, parts)))
    if not pairs:
        raise DataError(f"{list_file}: empty file list")
    return pairs


class SegmentationDataset(Dataset):
    """Frames of one split; train mode augments, eval mode returns full normalised frames.

    Randomness is seeded per sample from (seed, epoch, index): call `set_epoch` each epoch, or
    index it with `(epoch, index)` keys (what `hyctas.train.sampler.StepBatchSampler` yields).
    """

    def __init__(
        self,
        list_file: str | Path,
        *,
        ignore_label: int,
        mean: tuple,
        std: tuple,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.pairs = read_list(list_file)
        self.ignore_label = ignore_label
        self.mean, self.std = tuple(mean), tuple(std)
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of an epoch (deterministic resumption)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pairs)

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw RGB image and label array of a frame; DataError names an unreadable file."""
        image_path, label_path = self.pairs[index]
        image = cv2.imread(str(image_path), IMREAD_IMAGE)
        if image is None:
            raise DataError(f"{image_path}: unreadable or corrupt image")
        label = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
        if label is None or label.shape[:2] != image.shape[:2]:
            raise DataError(f"{label_path}: unreadable label or size differs from {image_path}")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), label

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample `key`: an index (epoch from `set_epoch`) or an `(epoch, index)` pair."""
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        image, label = self.read(index)
        if self.augment is None:
            return eval_transform(image, label, self.mean, self.std)
        rng = np.random.default_rng([self.seed, epoch, index])
        return train_transform(image, label, self.augment, self.ignore_label, rng)


def _seed_worker(worker_id: int) -> None:
    # Transforms draw from per-sample generators; this only pins torch's own RNG in workers.
    torch.manual_seed(torch.initial_seed() % 2**32 + worker_id)


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    workers: int,
    shuffle: bool,
    seed: int,
    drop_last: bool = False,
    sampler: Sampler | None = None,
    collate_fn: Callable | None = None,
) -> DataLoader:
    """A DataLoader whose order is fixed by `seed` (and the sampler's epoch when distributed)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        generator=generator,
        worker_init_fn=_seed_worker,
        persistent_workers=False,
        collate_fn=collate_fn,
    )
