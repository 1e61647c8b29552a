"""A retrained target's runs over seeds (`retrain.seeds`): which seeds, where each run's files
go, and the manifest (`seeds.json`) that lists the further seeds' models.

One retrain's mIoU moves by about 0.01 with its seed at the scenario's scale, more than many
differences a comparison asks about; evaluate scores every run (`hyctas.evaluation.seeds`) and
the report compares targets by the seeds' mean. This module imports no evaluation code, so
editing how runs are scored never makes a finished training run look stale.
"""

from __future__ import annotations

from pathlib import Path

from hyctas.atomic import write_json

SEED_MANIFEST = "seeds.json"  # in a target's seed folder: each further seed's model file


def training_seeds(params: dict) -> list[int]:
    """The seeds a target is trained with: base.seed, base.seed + 1, ... (`retrain.seeds`).

    The first one's model is the target's `model.pt` (evaluated, exported and registered);
    the others go to its seed folder.
    """
    first = params["base"]["seed"]
    return [first + k for k in range(params["retrain"]["seeds"])]


def seed_checkpoint(checkpoint: Path, seed: int) -> Path:
    """The resumable checkpoint of a further seed's run, beside the first seed's.

    The `.` cannot be in a target's name (`select.targets` keys), so no target's checkpoint
    shares this path.
    """
    return checkpoint.with_name(f"{checkpoint.stem}.seed{seed}{checkpoint.suffix}")


def seed_model_name(seed: int | str) -> str:
    """File name of a further seed's model in the target's seed folder."""
    return f"seed{seed}.pt"


def seed_log_name(seed: int | str) -> str:
    """File name of a further seed's training log (as the first's train_log.csv) in the folder."""
    return f"seed{seed}_log.csv"


def write_seed_manifest(seeds_dir: Path, models: dict[str, str]) -> None:
    """Write `seeds.json` (further seed -> model file name) into `seeds_dir`; it is written
    with one seed too, so the folder is never empty and evaluate always has it to read."""
    write_json(seeds_dir / SEED_MANIFEST, {"models": models})
