"""A batch sampler indexed by training step, so a resumed run sees exactly the same batches.

Each epoch is a permutation of the dataset drawn from (seed, epoch); step `s` takes the
`s % steps_per_epoch`-th slice of epoch `s // steps_per_epoch`; under DDP each rank takes its
own part of that global batch. It yields `(epoch, index)` keys: the dataset seeds its
augmentation from them, whatever DataLoader worker loads the sample.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from hyctas.errors import ConfigError


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches for steps `start_step .. total_steps - 1`."""

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        seed: int,
        total_steps: int,
        start_step: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.global_batch = batch_size * world_size
        if num_samples < self.global_batch:
            raise ConfigError(
                f"batch_size {batch_size} x {world_size} process(es) exceeds the {num_samples} "
                "training frames; lower batch_size"
            )
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.total_steps, self.start_step = total_steps, start_step
        self.rank = rank
        self.steps_per_epoch = num_samples // self.global_batch

    def batch(self, step: int) -> list[tuple[int, int]]:
        """The (epoch, index) keys this rank loads at `step`."""
        epoch, position = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)
        start = position * self.global_batch + self.rank * self.batch_size
        return [(epoch, int(i)) for i in order[start : start + self.batch_size]]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start_step, self.total_steps):
            yield self.batch(step)

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)
