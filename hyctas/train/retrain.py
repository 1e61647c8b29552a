"""Retraining one target's network with the recipe in params (from scratch or supernet weights).

The same loop as supernet pretraining (top-k CE with auxiliary heads, warm-up + poly SGD,
AMP, DDP, atomic resumable checkpoints, SIGTERM handling), on a fixed network. With
`retrain.seeds` > 1 the target is trained once per seed (`training_seeds`): one retrain's
mIoU moves by about 0.01 with its seed here, more than many differences a comparison asks
about, and evaluate reports the seeds' mean and spread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hyctas.atomic import atomic_dir, write_csv
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
from hyctas.train.seeds import (
    seed_checkpoint,
    seed_log_name,
    seed_model_name,
    training_seeds,
    write_seed_manifest,
)
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
    checkpoint: Path,
    *,
    init: str,
    supernet_path: Path | None,
    device: torch.device,
    info: DistInfo,
    on_log=lambda step, m: None,
    stop_after: int | None = None,
    progress: bool = True,
    seed: int | None = None,
) -> dict[str, Any]:
    """Train the network of `spec`, resuming from `checkpoint` when it was made for the same
    inputs.

    Args:
        seed: training seed (batches, augmentation and, from scratch, the initial weights);
            None: base.seed.

    Returns:
        `history`, `metrics` and `model`: the self-describing model checkpoint dict
        (`hyctas.models.factory.model_checkpoint`) on rank 0, None on the others.
    """
    base, block = params["base"], params[STAGE]
    if seed is not None:
        base = {**base, "seed": seed}
    # How many seeds the stage trains is not part of one run: adding seeds keeps the others.
    run_block = {k: v for k, v in block.items() if k != "seeds"}
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
        {
            "base": base,
            "spec": spec,
            "init": init,
            STAGE: run_block,
            "space": params["search_space"],
        },
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
    state = None
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
        state["seed"] = base["seed"]
        state["classes"] = classes.to_dict()
    return {
        "model": state,
        "history": result.history,
        "metrics": {
            **result.summary(time.perf_counter() - start),
            "init": init,
            "kind": spec["kind"],
            "seed": base["seed"],
        },
    }


def retrain_seeds(
    params: dict,
    spec: dict,
    lists_dir: Path,
    out: Path,
    checkpoint: Path,
    seeds_dir: Path,
    *,
    init: str,
    supernet_path: Path | None,
    device: torch.device,
    info: DistInfo,
    on_log: Callable[[int, str, dict], None] = lambda step, prefix, m: None,
    stop_after: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train `spec` once per seed of `training_seeds`; rank 0 then writes the others' models
    and training logs to `seeds_dir` (`seed<N>.pt`, `seed<N>_log.csv`, listed in its
    `seeds.json`, which is written with one seed too), then the first run's model to `out`.

    Each run resumes from its own checkpoint (`seed_checkpoint`), so a stopped stage goes on
    at the run it was in, and raising `retrain.seeds` trains only the new runs. The models
    are written only once every run has finished: a stopped stage leaves no new output.

    Args:
        on_log: called with (step, metric-name prefix, record): "" for the first seed,
            "seed<N>." for the others, so one MLflow run keeps every curve apart.

    Returns:
        `history` and `metrics` of the first seed's run, the metrics also listing the
        `training_seeds`, `seconds_all_seeds` and each further run's summary
        (`further_seeds`).
    """
    seeds = training_seeds(params)
    start = time.perf_counter()
    runs = []
    for number, seed in enumerate(seeds):
        prefix = f"seed{seed}." if number else ""
        runs.append(
            retrain(
                params,
                spec,
                lists_dir,
                seed_checkpoint(checkpoint, seed) if number else checkpoint,
                init=init,
                supernet_path=supernet_path,
                device=device,
                info=info,
                on_log=lambda step, m, prefix=prefix: on_log(step, prefix, m),
                stop_after=stop_after,
                progress=progress,
                seed=seed,
            )
        )
    if info.is_main:
        with atomic_dir(seeds_dir) as folder:  # the whole folder at once: nothing stale
            for seed, run in zip(seeds[1:], runs[1:], strict=True):
                save_checkpoint(folder / seed_model_name(seed), run["model"])
                write_csv(folder / seed_log_name(seed), run["history"])
            write_seed_manifest(folder, {str(s): seed_model_name(s) for s in seeds[1:]})
        save_checkpoint(out, runs[0]["model"])  # last: a model.pt comes with its seed folder
    metrics = {
        **runs[0]["metrics"],
        "training_seeds": seeds,
        "seconds_all_seeds": round(time.perf_counter() - start, 1),
        "further_seeds": {  # each further run's summary; its curve is in the seed folder
            str(seed): run["metrics"] for seed, run in zip(seeds[1:], runs[1:], strict=True)
        },
    }
    return {"history": runs[0]["history"], "metrics": metrics}
