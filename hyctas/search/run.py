"""The `search` stage's logic: NSGA-II and a random baseline over supernet mIoU and latency.

Objectives are handed to the searcher: mIoU of a sub-network with inherited supernet weights
(BatchNorm re-estimated) on a fixed val subset, and latency predicted from the profiled table;
optionally parameters / MACs as extra objectives and upper bounds as constraints. Every
evaluation is cached in an archive kept beside the outputs (not a DAG output, so a re-run with
more generations reuses it); the cache is dropped when anything it depends on changes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hyctas.atomic import write_json
from hyctas.models.cost import arch_cost
from hyctas.params import params_hash
from hyctas.search.archive import Archive
from hyctas.search.nsga import run_nsga2, run_random
from hyctas.search.objectives import Constraint, Objective
from hyctas.search.published import evaluate_published
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig
from hyctas.train.supernet import EvalFrames, load_supernet, subnet_miou

STAGE = "search"
ACCURACY, LATENCY = "miou", "latency_ms"


def build_objectives(
    block: dict,
    miou: Callable[[Arch], float],
    latency: Callable[[Arch], float],
    cfg: SpaceConfig,
    num_classes: int,
    input_size: tuple[int, int],
) -> tuple[list[Objective], list[Constraint]]:
    """mIoU (max) and latency (min), plus the optional extras and constraints of `block`."""

    def params_m(arch: Arch) -> float:
        return arch_cost(arch, cfg, num_classes, input_size)["params"] / 1e6

    def macs_g(arch: Arch) -> float:
        return arch_cost(arch, cfg, num_classes, input_size)["macs"] / 1e9

    extra = {"params_m": params_m, "macs_g": macs_g, "latency_ms": latency}
    objectives = [Objective(ACCURACY, miou, "max"), Objective(LATENCY, latency, "min")]
    objectives += [Objective(name, extra[name], "min") for name in block["extra_objectives"]]
    constraints = [
        Constraint(f"{name}_cap", extra[name], float(bound))
        for name, bound in block["constraints"].items()
        if bound is not None
    ]
    return objectives, constraints


def run_search(
    params: dict,
    supernet_path: Path,
    lists_dir: Path,
    latency: Callable[[Arch], float],
    latency_fingerprint: str,
    cache_path: Path,
    *,
    device: torch.device,
    progress: bool = True,
) -> dict[str, Any]:
    """Run NSGA-II then random search with the same number of evaluations; return both results."""
    base, block = params["base"], params[STAGE]
    supernet, cfg, state = load_supernet(supernet_path, device)
    mean, std = (
        state["params"]["recipe"]["augment"]["mean"],
        state["params"]["recipe"]["augment"]["std"],
    )
    frames = EvalFrames.load(
        lists_dir,
        base,
        mean,
        std,
        block["bn_calib_batches"],
        block["bn_batch_size"],
        block["val_images"],
    )
    height, width = frames.val[0][0].shape[-2:]

    def miou(arch: Arch) -> float:
        return subnet_miou(supernet, arch, frames, base, device)

    objectives, constraints = build_objectives(
        block, miou, latency, cfg, base["num_classes"], (height, width)
    )
    fingerprint = params_hash(
        {
            "supernet": state["fingerprint"],
            "latency": latency_fingerprint,
            "base": base,
            "search": {
                k: block[k]
                for k in (
                    "val_images",
                    "bn_calib_batches",
                    "bn_batch_size",
                    "extra_objectives",
                    "constraints",
                )
            },
            "val": (lists_dir / "val.txt").read_text(),
        }
    )
    archive = _load_cache(cache_path, fingerprint, objectives, constraints)
    start = time.perf_counter()
    common = dict(archive=archive, hv_reference=block["hv_reference"], progress=progress)
    nsga = run_nsga2(
        cfg,
        objectives,
        constraints,
        population=block["population"],
        generations=block["generations"],
        crossover_prob=block["crossover_prob"],
        mutation_rate=block["mutation_rate"],
        seed=base["seed"],
        **common,
    )
    archive.save(cache_path)
    random = None
    if block["random_baseline"]:
        random = run_random(
            cfg,
            objectives,
            constraints,
            evaluations=nsga.n_evaluations,
            seed=base["seed"] + 1,
            checkpoints=nsga.evals_history,
            **common,
        )
        archive.save(cache_path)
    # Not archived: the published models are markers, never candidates for selection.
    published = evaluate_published(cfg, objectives, base["seed"]) if block["published"] else []
    return {
        "archive": archive,
        "nsga": nsga,
        "random": random,
        "published": published,
        "cfg": cfg,
        "seconds": time.perf_counter() - start,
        "input_size": (height, width),
    }


def _load_cache(path: Path, fingerprint: str, objectives, constraints) -> Archive:
    stamp = path.with_suffix(".fingerprint.json")
    if (
        path.is_file()
        and stamp.is_file()
        and json.loads(stamp.read_text()).get("fingerprint") == fingerprint
    ):
        return Archive.load(path, objectives, constraints)
    path.unlink(missing_ok=True)
    write_json(stamp, {"fingerprint": fingerprint})
    return Archive(objectives, constraints)


def hypervolume_rows(nsga, random) -> list[dict[str, float]]:
    """One row per generation: evaluations so far and the hypervolume of each method."""
    rows = []
    for i, (evals, hv) in enumerate(zip(nsga.evals_history, nsga.hv_history, strict=True)):
        row = {"generation": i + 1, "evaluations": evals, "hv_nsga2": hv}
        if random is not None:
            row["hv_random"] = random.hv_history[i]
        rows.append(row)
    return rows
