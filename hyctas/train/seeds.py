"""A retrained target's runs over seeds: which seeds, where each run's files go, and the
manifest (`seeds.json`) through which evaluate finds the further seeds' models.

Kept apart from the training code so that evaluate, which only reads the manifest, does not
depend on the training loop.
"""

from __future__ import annotations

import json
from pathlib import Path

from hyctas.atomic import write_json
from hyctas.errors import DataError

SEED_MANIFEST = "seeds.json"  # in a target's seed folder: each further seed's checkpoint


def training_seeds(params: dict) -> list[int]:
    """The seeds a target is trained with: base.seed, base.seed + 1, ... (`retrain.seeds`).

    The first one's model is the target's `model.pt` (evaluated, exported and registered);
    the others go to its seed folder.
    """
    first = params["base"]["seed"]
    return [first + k for k in range(params["retrain"]["seeds"])]


def seed_checkpoint(checkpoint: Path, seed: int) -> Path:
    """The resumable checkpoint of a further seed's run, beside the first seed's."""
    return checkpoint.with_name(f"{checkpoint.stem}-seed{seed}{checkpoint.suffix}")


def seed_model_name(seed: int) -> str:
    """File name of a further seed's model in the target's seed folder."""
    return f"seed{seed}.pt"


def write_seed_manifest(seeds_dir: Path, models: dict[str, str]) -> None:
    """Write `seeds.json` (further seed -> model file name) into `seeds_dir` and remove the
    models of seeds no longer trained. It is written with one seed too, so the folder is
    never empty and evaluate always has it to read."""
    for stale in set(p.name for p in seeds_dir.glob(seed_model_name("*"))) - set(models.values()):
        (seeds_dir / stale).unlink()
    write_json(seeds_dir / SEED_MANIFEST, {"models": models})


def seed_models(seeds_dir: Path) -> dict[int, Path]:
    """The further seeds' models a retrain wrote (seed -> checkpoint), from `seeds.json`.

    Raises:
        DataError: the manifest is missing or unreadable, or names a missing model.
    """
    manifest = seeds_dir / SEED_MANIFEST
    try:
        models = json.loads(manifest.read_text())["models"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(
            f"{manifest}: unreadable seed manifest ({exc}); re-run the retrain stage"
        ) from None
    paths = {int(seed): seeds_dir / name for seed, name in models.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DataError(
            f"{manifest} lists models that are missing ({', '.join(missing)}); "
            "re-run the retrain stage"
        )
    return paths
