"""Stand-alone training of one architecture for `rank_check`: the reference a supernet's
ranking is measured against.

The network is trained from scratch with `retrain.recipe` (its `iterations` replaced by
`rank_check.iterations`) on train.txt, then evaluated on the whole val split as `evaluate`
does. Each run has its own resumable checkpoint and, once evaluated, its result cached beside
it. Their fingerprint holds this module's code and its imports only, not the rest of
rank_check (picking, correlations, plots): a run takes minutes to hours, and editing how the
runs are compared must not throw them away.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from hyctas.atomic import write_json
from hyctas.data import TRAIN_LIST
from hyctas.errors import ConfigError
from hyctas.evaluation.accuracy import val_confusion
from hyctas.evaluation.inference import InferenceConfig
from hyctas.models.factory import build_model
from hyctas.provenance import Fingerprint
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig
from hyctas.train.config import TrainConfig
from hyctas.train.distributed import DistInfo
from hyctas.train.loop import LoopHooks, train_loop
from hyctas.train.session import training_dataset

STAGE = "rank_check"


def standalone_recipe(params: dict) -> dict:
    """`retrain.recipe` with `rank_check.iterations`: the recipe of every stand-alone run.

    Raises:
        ConfigError: the iterations do not exceed the recipe's warm-up.
    """
    recipe = {**params["retrain"]["recipe"], "iterations": params[STAGE]["iterations"]}
    if recipe["warmup_iters"] >= recipe["iterations"]:
        raise ConfigError(
            f"{STAGE}.iterations = {recipe['iterations']} must be above retrain.recipe."
            f"warmup_iters = {recipe['warmup_iters']} (the stand-alone runs use the retrain "
            "recipe with these iterations)"
        )
    return recipe


def train_standalone(
    params: dict,
    arch: Arch,
    cfg: SpaceConfig,
    seed: int,
    lists_dir: Path,
    checkpoint: Path,
    *,
    device: torch.device,
    stop_after: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train `arch` from scratch with `seed` (resuming `checkpoint`), then its val mIoU.

    The result is cached beside the checkpoint (`.json`) under the run's fingerprint; a
    cached result with the same fingerprint is returned without training.
    """
    base = {**params["base"], "seed": seed}
    block = standalone_recipe(params)
    recipe = TrainConfig.from_params(block, "retrain.recipe")
    inference = InferenceConfig.from_params(params["evaluate"], "evaluate")
    fingerprint = Fingerprint.of(
        STAGE,
        {
            "base": base,
            "arch": arch.to_dict(),
            "space": cfg.to_params(),
            "recipe": block,
            "inference": inference.to_dict(),
        },
        {"lists": lists_dir},
        code_module=__name__,
    )
    done = checkpoint.with_suffix(".json")
    if done.is_file():
        cached = json.loads(done.read_text())
        if fingerprint.matches(cached.get("fingerprint")):
            return {**cached["result"], "reused": True}
    torch.manual_seed(seed)
    model = build_model(
        "segnet", num_classes=base["num_classes"], aux=True, arch=arch, search_space=cfg
    )
    hooks = LoopHooks(archs_for_step=lambda step: [None], forward=lambda m, x, _: m(x))
    start = time.perf_counter()
    trained = train_loop(
        model,
        training_dataset(lists_dir, TRAIN_LIST, base, recipe),
        recipe,
        hooks,
        device=device,
        info=DistInfo(),
        seed=seed,
        ignore_label=base["ignore_label"],
        checkpoint_path=checkpoint,
        fingerprint=fingerprint,
        stop_after=stop_after,
        progress=progress,
    )
    norm = {"mean": recipe.augment.mean, "std": recipe.augment.std}
    matrix, _ = val_confusion(model, lists_dir, norm, base, device, inference)
    result = {
        "standalone_miou": matrix.miou(),
        "final_loss": trained.summary(0.0)["final_loss"],
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_json(done, {"fingerprint": fingerprint.to_dict(), "result": result})
    return {**result, "reused": False, "resumed_from_step": trained.resumed_from}
