"""Retraining one target's network with the recipe in params (from scratch or supernet weights).

The same loop as supernet pretraining (top-k CE with auxiliary heads, warm-up + poly SGD,
AMP, DDP, atomic resumable checkpoints, SIGTERM handling), on a fixed network.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hyctas.data import TRAIN_LIST
from hyctas.data.classes import load_classes
from hyctas.errors import ConfigError
from hyctas.models.factory import build_model, model_checkpoint
from hyctas.provenance import Fingerprint
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig
from hyctas.train.checkpoint import save_checkpoint
from hyctas.train.config import TrainConfig
from hyctas.train.distributed import DistInfo
from hyctas.train.loop import LoopHooks, train_loop
from hyctas.train.session import training_dataset
from hyctas.train.supernet import load_supernet

STAGE = "retrain"


def initial_model(
    spec: dict, params: dict, init: str, supernet_path: Path | None, device: torch.device
) -> nn.Module:
    """The network of a model spec, with fresh weights or inherited from the supernet."""
    num_classes = params["base"]["num_classes"]
    if spec["kind"] == "baseline" or init == "scratch":
        return build_model(
            spec["kind"],
            num_classes=num_classes,
            aux=True,
            arch=spec.get("arch"),
            search_space=params["search_space"],
            baseline=spec.get("baseline"),
        )
    if supernet_path is None:
        raise ConfigError("retrain.init is supernet but no --supernet checkpoint was given")
    supernet, cfg, _ = load_supernet(supernet_path, device)
    return supernet.extract(Arch.from_dict(spec["arch"], cfg)).train()


def retrain(
    params: dict,
    spec: dict,
    lists_dir: Path,
    out: Path,
    checkpoint: Path,
    *,
    init: str,
    supernet_path: Path | None,
    device: torch.device,
    info: DistInfo,
    on_log=lambda step, m: None,
    stop_after: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the network of `spec`; rank 0 writes a self-describing checkpoint to `out`."""
    base, block = params["base"], params[STAGE]
    recipe = TrainConfig.from_params(block["recipe"], f"{STAGE}.recipe")
    classes = load_classes(lists_dir)  # names and colours travel in the checkpoint
    classes.check_num_classes(base["num_classes"])
    torch.manual_seed(base["seed"])
    model = initial_model(spec, params, init, supernet_path, device)
    dataset = training_dataset(lists_dir, TRAIN_LIST, base, recipe)
    hooks = LoopHooks(
        archs_for_step=lambda step: [None], forward=lambda m, x, _: m(x), on_log=on_log
    )
    inherits = spec["kind"] != "baseline" and init == "supernet"  # as initial_model decides
    inputs = {"lists": lists_dir, **({"supernet": supernet_path} if inherits else {})}
    fingerprint = Fingerprint.of(
        STAGE,
        {"base": base, "spec": spec, "init": init, STAGE: block, "space": params["search_space"]},
        inputs,
    )
    start = time.perf_counter()
    result = train_loop(
        model,
        dataset,
        recipe,
        hooks,
        device=device,
        info=info,
        seed=base["seed"],
        ignore_label=base["ignore_label"],
        checkpoint_path=checkpoint,
        fingerprint=fingerprint,
        stop_after=stop_after,
        progress=progress,
    )
    if info.is_main:
        arch = Arch.from_dict(spec["arch"]) if spec["kind"] == "segnet" else None
        state = model_checkpoint(
            model,
            kind=spec["kind"],
            arch=arch,
            search_space=SpaceConfig.from_params(params["search_space"]) if arch else None,
            baseline=spec.get("baseline"),
            num_classes=base["num_classes"],
            aux=True,
            mean=recipe.augment.mean,
            std=recipe.augment.std,
            target=spec["target"],
        )
        state["init"] = init
        state["classes"] = classes.to_dict()
        save_checkpoint(out, state)
    return {
        "history": result.history,
        "metrics": {
            **result.summary(time.perf_counter() - start),
            "init": init,
            "kind": spec["kind"],
        },
    }
