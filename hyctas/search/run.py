"""The `search` stage's logic: NSGA-II and a random baseline over supernet mIoU and latency.

Objectives are handed to the searcher: mIoU of a sub-network with inherited supernet weights
(BatchNorm re-estimated) on the first `search.images` frames of the search split (search.txt,
held out of the supernet's training; val.txt is left to evaluate), and latency predicted from
the profiled table; optionally parameters / MACs as extra objectives and upper bounds as
constraints. Every evaluation is cached in an archive kept beside the outputs (not a DAG
output, so a re-run with more generations reuses it); the cache is dropped when anything it
depends on changes.

The search resumes: after every generation (random-search chunk) the cache and the searchers'
progress (`<cache>.state.json`, keyed by the cache's fingerprint) are saved; SIGTERM/SIGINT
during the search save them and exit 143, and a re-run finishes with the same archive, fronts,
hypervolume history and targets as a run never stopped (`hyctas.search.result`).

Search efficiency (`hyctas.search.efficiency`): with `search.efficiency_seeds` > 1 further
NSGA-II / random-search pairs run over the same cache after the search itself (their
progress joins the same state file), and every pair's random search runs to
`search.random_budget_factor` times its NSGA-II's evaluations.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hyctas.atomic import write_json
from hyctas.errors import ConfigError
from hyctas.evaluation.inference import padded_size
from hyctas.models.cost import arch_cost
from hyctas.provenance import Fingerprint
from hyctas.search.archive import Archive
from hyctas.search.efficiency import SeedPair, pair_seeds, run_names
from hyctas.search.nsga import run_nsga2, run_random
from hyctas.search.objectives import ACCURACY, LATENCY, Constraint, Objective
from hyctas.search.published import evaluate_published
from hyctas.search.result import SearchCheckpoint, SearchResult, check_positive_int
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig
from hyctas.train.supernet import inherited_miou, load_supernet, search_frames

STAGE = "search"
SEARCH_ONLY_KEYS = (
    "population",
    "generations",
    "crossover_prob",
    "mutation_rate",
    "random_baseline",
    "published",
    "hv_reference",
    "efficiency_seeds",
    "random_budget_factor",
)


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
    latency_files: dict[str, Path],
    cache_path: Path,
    *,
    device: torch.device,
    progress: bool = True,
) -> dict[str, Any]:
    """Run NSGA-II then random search (and the further efficiency seeds); return the results.

    Resumes from the progress saved beside `cache_path` (see `run_searchers`); the returned
    `checkpoint` is to be finished (`finish()`) once the stage's outputs are written. `nsga`
    and `random` are the search's own pair (seed index 0), `pairs` every seed's.
    """
    base, block = params["base"], params[STAGE]
    supernet, cfg, state = load_supernet(supernet_path, device)
    frames = search_frames(lists_dir, base, block, state)
    height, width = padded_size(*frames.search[0][0].shape[-2:])  # the network's input
    miou = inherited_miou(supernet, frames, base, block, device)
    objectives, constraints = build_objectives(
        block, miou, latency, cfg, base["num_classes"], (height, width)
    )
    # Keys that change how an architecture is scored; the others (population, generations,
    # ...) only change which architectures are asked for, so the cache survives them.
    scoring = {k: v for k, v in block.items() if k not in SEARCH_ONLY_KEYS}
    fingerprint = Fingerprint.of(
        STAGE,
        {"base": base, "search": scoring},
        {"supernet": supernet_path, "lists": lists_dir, **latency_files},
    )
    archive = _load_cache(cache_path, fingerprint, objectives, constraints)
    start = time.perf_counter()
    # The progress file is keyed by the cache's own fingerprint: both are dropped together.
    checkpoint = SearchCheckpoint(cache_path, fingerprint.digest)
    pairs = run_searchers(
        cfg, objectives, constraints, block, base["seed"], archive, checkpoint, progress=progress
    )
    # Not archived: the published models are markers, never candidates for selection.
    published = evaluate_published(cfg, objectives, base["seed"]) if block["published"] else []
    return {
        "archive": archive,
        "nsga": pairs[0].nsga,
        "random": pairs[0].random,
        "pairs": pairs,
        "published": published,
        "checkpoint": checkpoint,
        "cfg": cfg,
        "seconds": time.perf_counter() - start,
        "input_size": (height, width),
    }


def check_efficiency(block: dict) -> tuple[int, float]:
    """`search.efficiency_seeds` and `search.random_budget_factor`, checked.

    Raises:
        ConfigError: A bad value, or either asks for random search while
            `search.random_baseline` is off.
    """
    seeds = check_positive_int(block["efficiency_seeds"], "efficiency_seeds")
    factor = block["random_budget_factor"]
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor >= 1:
        raise ConfigError(f"search.random_budget_factor: must be a number >= 1, got {factor!r}")
    if not block["random_baseline"] and (seeds > 1 or factor != 1):
        raise ConfigError(
            "search.efficiency_seeds / search.random_budget_factor measure NSGA-II against "
            "random search: set search.random_baseline: true (or efficiency_seeds: 1 and "
            "random_budget_factor: 1)"
        )
    return seeds, float(factor)


def random_marks(nsga: SearchResult, factor: float, step: int) -> list[int]:
    """Random search's checkpoints: NSGA-II's, then every `step` evaluations to factor x budget.

    The first part gives both methods' hypervolume at equal evaluations (`hypervolume.csv`).
    """
    marks = list(nsga.evals_history)
    total = max(marks[-1], round(factor * nsga.n_evaluations))
    while marks[-1] < total:
        marks.append(min(marks[-1] + step, total))
    return marks


def run_searchers(
    cfg: SpaceConfig,
    objectives: list[Objective],
    constraints: list[Constraint],
    block: dict,
    seed: int,
    archive: Archive,
    checkpoint: SearchCheckpoint,
    *,
    progress: bool = True,
) -> list[SeedPair]:
    """NSGA-II, then (if `block["random_baseline"]`) random search, for each efficiency seed.

    Pair k (`block["efficiency_seeds"]` of them) runs NSGA-II with seed `seed + 2k`, then
    random search with seed `seed + 2k + 1` to `block["random_budget_factor"]` times NSGA-II's
    evaluations; pair 0 is the search itself. All share `archive`. Every run resumes from
    `checkpoint`'s progress (under its own name, `run_names`) and saves its own after every
    generation (chunk); a SIGTERM/SIGINT meanwhile raises `Preempted` with everything saved.
    The progress stays until the caller has written its outputs and calls
    `checkpoint.finish()`: a stage stopped after the search but before its last output
    resumes with nothing left to search.

    Returns:
        One pair per seed, pair 0 first (`random` is None when the baseline is off).
    """
    seeds, factor = check_efficiency(block)
    common = dict(
        archive=archive,
        hv_reference=block["hv_reference"],
        progress=progress,
        checkpoint=checkpoint,
    )
    pairs = []
    with checkpoint:
        for index in range(seeds):
            nsga_name, random_name = run_names(index)
            nsga_seed, random_seed = pair_seeds(seed, index)
            nsga = run_nsga2(
                cfg,
                objectives,
                constraints,
                population=block["population"],
                generations=block["generations"],
                crossover_prob=block["crossover_prob"],
                mutation_rate=block["mutation_rate"],
                seed=nsga_seed,
                run_name=nsga_name,
                **common,
            )
            random = None
            if block["random_baseline"]:
                marks = random_marks(nsga, factor, block["population"])
                random = run_random(
                    cfg,
                    objectives,
                    constraints,
                    evaluations=marks[-1],
                    seed=random_seed,
                    checkpoints=marks,
                    run_name=random_name,
                    **common,
                )
            pairs.append(SeedPair(index, nsga, random, nsga_seed, random_seed))
    return pairs


def visited(pairs: list[SeedPair]) -> dict[str, tuple[str, ...]]:
    """Run name -> ids it evaluated: the archive output's `in_<name>` membership columns."""
    runs = {}
    for pair in pairs:
        nsga_name, random_name = pair.names
        runs[nsga_name] = pair.nsga.evaluated_ids
        if pair.random is not None:
            runs[random_name] = pair.random.evaluated_ids
    return runs


def _load_cache(path: Path, fingerprint: Fingerprint, objectives, constraints) -> Archive:
    """The cached archive when it was made for the same inputs; else an empty one (said so)."""
    stamp = path.with_suffix(".fingerprint.json")
    stored = json.loads(stamp.read_text()).get("fingerprint") if stamp.is_file() else None
    if path.is_file() and fingerprint.matches(stored):
        return Archive.load(path, objectives, constraints)
    if path.is_file():
        print(
            f"{path}: evaluations made for other inputs ({fingerprint.changes(stored)}); "
            "scoring afresh",
            file=sys.stderr,
        )
    path.unlink(missing_ok=True)
    write_json(stamp, {"fingerprint": fingerprint.to_dict()})
    return Archive(objectives, constraints)


def hypervolume_rows(nsga, random) -> list[dict[str, float]]:
    """One row per generation: evaluations so far and the hypervolume of each method.

    Random search's value is at the same evaluation count (its first checkpoints are
    NSGA-II's); what it found beyond that budget is in the efficiency CSV.
    """
    rows = []
    for i, (evals, hv) in enumerate(zip(nsga.evals_history, nsga.hv_history, strict=True)):
        row = {"generation": i + 1, "evaluations": evals, "hv_nsga2": hv}
        if random is not None:
            row["hv_random"] = random.hv_history[i]
        rows.append(row)
    return rows
