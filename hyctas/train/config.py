"""The training recipe of a training stage's params block (pretrain_supernet, retrain)."""

from __future__ import annotations

from dataclasses import dataclass

from hyctas.data.transforms import AugmentConfig
from hyctas.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """Every number of the recipe; nothing has a default: params.yaml says what runs."""

    iterations: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    warmup_iters: int
    poly_power: float
    grad_clip: float
    top_k: float
    aux_weight: float
    amp: str
    channels_last: bool
    checkpoint_every: int
    log_every: int
    workers: int
    loss_stride: int
    augment: AugmentConfig

    @classmethod
    def from_params(cls, block: dict, stage: str) -> TrainConfig:
        """Build from `params[stage]`; ConfigError names the key when values disagree."""
        fields = {k: block[k] for k in cls.__dataclass_fields__ if k != "augment"}
        cfg = cls(**fields, augment=AugmentConfig.from_params(block["augment"], f"{stage}.augment"))
        if cfg.warmup_iters >= cfg.iterations:
            raise ConfigError(
                f"{stage}.warmup_iters ({cfg.warmup_iters}) must be below {stage}.iterations"
            )
        return cfg
