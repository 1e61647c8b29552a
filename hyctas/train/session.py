"""What both training stages set up around their loop: the process group, the device, the
MLflow run (rank 0 only) and the training dataset."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from hyctas.data.dataset import SegmentationDataset
from hyctas.tracking import StageRun, stage_run
from hyctas.train.config import TrainConfig
from hyctas.train.distributed import DistInfo, init_distributed, resolve_device, shutdown


@dataclass
class TrainingSession:
    """This process's place in the job; `run` is None on ranks other than 0."""

    device: torch.device
    info: DistInfo
    run: StageRun | None

    def on_log(self, step: int, metrics: dict[str, float]) -> None:
        """Log training curves to MLflow (rank 0; a no-op elsewhere)."""
        if self.run is not None:
            self.run.log_metrics(metrics, step=step)


@contextlib.contextmanager
def training_session(
    stage: str,
    params: dict,
    *,
    target: str | None = None,
    tags: dict[str, str] | None = None,
    description: str | None = None,
) -> Iterator[TrainingSession]:
    """Join the torchrun process group (if any), pick this rank's device, open the MLflow run
    on rank 0 (`stage_run`'s arguments), and leave the group at the end."""
    info = init_distributed(resolve_device(params["base"]["device"]))
    device = resolve_device(params["base"]["device"], info)
    tracking = (
        stage_run(stage, params, target=target, tags=tags, description=description)
        if info.is_main
        else contextlib.nullcontext()
    )
    try:
        with tracking as run:
            yield TrainingSession(device, info, run)
    finally:
        shutdown(info)


def training_dataset(
    lists_dir: Path, list_name: str, base: dict, recipe: TrainConfig
) -> SegmentationDataset:
    """The augmented frames of list `list_name` (hyctas.data: TRAIN_LIST, SUPERNET_TRAIN_LIST)
    the recipe describes, seeded by `base.seed`."""
    return SegmentationDataset(
        lists_dir / list_name,
        ignore_label=base["ignore_label"],
        mean=recipe.augment.mean,
        std=recipe.augment.std,
        augment=recipe.augment,
        seed=base["seed"],
    )
