"""A retrained target's runs over seeds (`retrain.seeds`): which seeds, where each run's files
go, the manifest (`seeds.json`) through which evaluate finds the further seeds' models, and
their val mIoU, mean and spread.

One retrain's mIoU moves by about 0.01 with its seed at the scenario's scale, more than many
differences a comparison asks about; the report compares targets by the seeds' mean.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hyctas.atomic import write_json
from hyctas.data.classes import ClassTable
from hyctas.errors import DataError
from hyctas.evaluation.accuracy import val_confusion, with_dataset_classes
from hyctas.evaluation.inference import InferenceConfig
from hyctas.models.factory import load_model

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


def write_seed_manifest(seeds_dir: Path, models: dict[str, str]) -> None:
    """Write `seeds.json` (further seed -> model file name) into `seeds_dir` and remove the
    models of seeds no longer trained. It is written with one seed too, so the folder is
    never empty and evaluate always has it to read."""
    for stale in {p.name for p in seeds_dir.glob(seed_model_name("*"))} - set(models.values()):
        (seeds_dir / stale).unlink()
    write_json(seeds_dir / SEED_MANIFEST, {"models": models})


def seed_models(seeds_dir: Path) -> dict[int, Path]:
    """The further seeds' models a retrain wrote (seed -> checkpoint), from `seeds.json`.

    Raises:
        DataError: the manifest is missing, unreadable or malformed, or names a missing model.
    """
    manifest = seeds_dir / SEED_MANIFEST
    fix = "re-run the retrain stage"
    try:
        models = json.loads(manifest.read_text())["models"]
        paths = {int(seed): seeds_dir / str(name) for seed, name in models.items()}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{manifest}: unreadable seed manifest ({exc}); {fix}") from None
    except ValueError as exc:
        raise DataError(f"{manifest}: a seed that is not an integer ({exc}); {fix}") from None
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DataError(f"{manifest} lists models that are missing ({', '.join(missing)}); {fix}")
    return paths


def seed_spread(mious: dict[int, float]) -> dict[str, Any]:
    """The evaluate metrics of a target's runs over seeds (seed -> val mIoU): their number,
    each seed's mIoU, their mean and sample standard deviation (None with one seed)."""
    values = np.array([mious[s] for s in sorted(mious)], dtype=float)
    return {
        "seeds": len(values),
        "miou_seeds": {str(s): mious[s] for s in sorted(mious)},
        "miou_seed_mean": float(values.mean()),
        "miou_seed_std": float(values.std(ddof=1)) if len(values) > 1 else None,
    }


def seed_metrics(
    first: dict[int, float],
    models: dict[int, Path],
    lists_dir: Path,
    classes: ClassTable,
    base: dict,
    device: torch.device,
    inference: InferenceConfig,
) -> dict[str, Any]:
    """`seed_spread` of the first seed's val mIoU (`first`: seed -> mIoU, already scored)
    and those of the further seeds' `models` (seed -> checkpoint), each scored as the first:
    every val frame, the same test-time inference."""
    mious = dict(first)
    for seed, path in sorted(models.items()):
        model, state = load_model(path, device)
        state = with_dataset_classes(state, classes, path, lists_dir)
        matrix, _ = val_confusion(model, lists_dir, state, base, device, inference)
        mious[seed] = matrix.miou()
    return seed_spread(mious)


def describe_spread(metrics: dict[str, Any]) -> str:
    """The seeds' mean and std for a log line, as ' (mean of 3 seeds 0.2500 +- 0.0100)';
    empty with one seed."""
    if metrics["seeds"] < 2:
        return ""
    return (
        f" (mean of {metrics['seeds']} seeds {metrics['miou_seed_mean']:.4f} "
        f"+- {metrics['miou_seed_std']:.4f})"
    )
