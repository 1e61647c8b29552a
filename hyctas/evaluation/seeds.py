"""Scoring a retrained target's runs over seeds (`retrain.seeds`): the further seeds' models
from the manifest retrain wrote (`hyctas.train.seeds`), their val mIoU beside the first's, and
the mean and spread the report compares targets by.

Only `evaluate` imports this module, so editing it reruns evaluate but no training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hyctas.data.classes import ClassTable
from hyctas.errors import DataError
from hyctas.evaluation.accuracy import val_confusion, with_dataset_classes
from hyctas.evaluation.inference import InferenceConfig
from hyctas.models.factory import load_model, read_checkpoint
from hyctas.space.arch import Arch
from hyctas.train.seeds import SEED_MANIFEST, seed_model_name


def seed_models(seeds_dir: Path, network: dict) -> dict[int, Path]:
    """The further seeds' models a retrain wrote (seed -> checkpoint), from `seeds.json`,
    each checked to be a run of `network` (model.pt's checkpoint dict) with its own seed
    (`check_same_network`), so a stale folder fails before any work.

    Raises:
        DataError: the manifest is missing, unreadable or malformed, or names a missing
            model, or one of another network or seed.
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
    renamed = [f"{s}: {p.name}" for s, p in paths.items() if p.name != seed_model_name(s)]
    if renamed:
        raise DataError(f"{manifest}: models not named for their seed ({renamed}); {fix}")
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DataError(f"{manifest} lists models that are missing ({', '.join(missing)}); {fix}")
    for seed, path in paths.items():
        check_same_network(read_checkpoint(path), network, path, seed)
    return paths


# The checkpoint keys that say which network a model is and how it was trained
# (`model_checkpoint`, and retrain's `init`).
NETWORK_KEYS = ("target", "kind", "arch", "baseline", "search_space", "init")


def _describe(key: str, value: Any) -> str:
    """A checkpoint value for a message: an architecture by its id, not its whole dict."""
    if key == "arch" and isinstance(value, dict):
        try:
            return Arch.from_dict(value).id
        except Exception:  # noqa: BLE001 - a malformed arch is still worth naming
            return "an unreadable architecture"
    if key == "search_space":
        return "another search space" if value is not None else "None"
    return repr(value)


def check_same_network(state: dict, first: dict, path: Path, seed: int) -> None:
    """Raise DataError unless the checkpoint `state` (read from `path`) is a run of the
    first model's network (`first`: model.pt's checkpoint dict) trained with `seed`.

    A seed folder left from a retrain of another architecture or target would otherwise be
    averaged into this target's mIoU.
    """
    fix = "re-run the retrain stage"
    differ = [k for k in NETWORK_KEYS if state.get(k) != first.get(k)]
    if differ:
        what = ", ".join(
            f"{k} {_describe(k, state.get(k))} (model.pt: {_describe(k, first.get(k))})"
            for k in differ
        )
        raise DataError(f"{path}: not a run of the first model's network: {what}; {fix}")
    if state.get("seed", seed) != seed:
        raise DataError(f"{path}: trained with seed {state['seed']}, listed as seed {seed}; {fix}")


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
    every val frame, the same test-time inference.

    Raises:
        DataError: a further model of the first seed (the manifest of another run).
    """
    if twice := set(first) & set(models):
        raise DataError(
            f"the seed folder holds a model of seed {sorted(twice)}, the first model's own; "
            "re-run the retrain stage"
        )
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
