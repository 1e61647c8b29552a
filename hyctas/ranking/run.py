"""The `rank_check` stage's logic: does the supernet rank architectures the way stand-alone
training does? Inherited-weight mIoU against stand-alone mIoU.

The package's modules: `pick` (N random architectures spread over the branch counts and the
predicted-latency range, the same for one seed), `correlation` (Kendall tau, its "sparse"
variant, Spearman rho, the noise ceilings and the band-pair counts), `standalone` (one
architecture trained from scratch and evaluated on val, resumably, its result cached under a
fingerprint of that code only) and this one.

For N architectures picked over the branch counts and the predicted-latency range
(`hyctas.ranking.pick`):

* the *inherited* mIoU is the search's objective itself: `inherited_miou` on the first
  `search.images` search-split frames after re-estimating BatchNorm on
  `search.bn_calib_batches` batches of `search.bn_batch_size` supernet training frames;
* the *stand-alone* mIoU comes from training the network from scratch with `retrain.recipe`
  (its `iterations` replaced by `rank_check.iterations`) on train.txt, then evaluating it on
  the whole val split as `evaluate` does (`val_confusion` with `evaluate`'s test-time
  inference: flip, scales, sliding window; Cityscapes mIoU);
* the first K architectures are trained again with `rank_check.repeat_seed`: the
  seed-to-seed tau and the seeds' noise say how well any proxy could rank against one seed
  or against the mean of two (`noise_ceilings`);
* zero-cost proxies (predicted latency, parameters, MACs at the search frames' size) rank
  the same K: a network's size is a strong baseline for any accuracy predictor (Ning et al.,
  NeurIPS 2021; White et al., NeurIPS 2021), so a supernet is worth its training only where it
  ranks better than they do.

Runs go one after another (`hyctas.ranking.standalone`), each with its own resumable
checkpoint (`<checkpoints>/<arch id>-seed<seed>.pt`, fingerprinted by the training and
evaluation code only) and, once evaluated, its result (`.json` beside it). SIGTERM saves
the run in progress; the next invocation reuses every finished run and resumes that one at
its step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hyctas.atomic import write_figure
from hyctas.errors import ConfigError
from hyctas.evaluation.inference import InferenceConfig, padded_size
from hyctas.models.cost import arch_cost
from hyctas.ranking.correlation import (
    band_pair_agreement,
    group_order_tau,
    noise_ceilings,
    rank_correlations,
    tau_spread,
    tau_within_groups,
)
from hyctas.ranking.pick import Candidate, candidate_pool, stratified_pick
from hyctas.ranking.standalone import STAGE, standalone_recipe, train_standalone
from hyctas.space.arch import Arch
from hyctas.train.supernet import inherited_miou, load_supernet, search_frames


def planned_runs(block: dict, seed: int) -> list[tuple[int, int]]:
    """(architecture index, seed) of every stand-alone run: all N with `seed`, then the first
    K again with `repeat_seed`.

    Raises:
        ConfigError: K exceeds N, or the repeat seed is the first seed.
    """
    n, k = block["architectures"], block["repeats"]
    if k > n:
        raise ConfigError(f"{STAGE}.repeats = {k} exceeds {STAGE}.architectures = {n}")
    if k and block["repeat_seed"] == seed:
        raise ConfigError(
            f"{STAGE}.repeat_seed = {seed} is base.seed: the repeats would be the same runs"
        )
    return [(i, seed) for i in range(n)] + [(i, block["repeat_seed"]) for i in range(k)]


def _log(message: str) -> None:
    print(f"[{STAGE}] {message}", file=sys.stderr, flush=True)


# Rankings that cost nothing to compute: name -> column of the rows.
ZERO_COST_PROXIES = {"latency": "predicted_latency_ms", "params": "params", "macs": "macs"}


def rank_check(
    params: dict,
    supernet_path: Path,
    lists_dir: Path,
    latency: Callable[[Arch], float],
    checkpoints: Path,
    *,
    device: torch.device,
    stop_after: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Pick, score and train the architectures; returns `rows` (one per run) and `metrics`.

    Args:
        latency: predicted latency (ms) of an architecture (`LatencyPredictor.predict`).
        checkpoints: folder of the runs' checkpoints and cached results.
        stop_after: stop each run after this step, as if signalled (tests of resumption).
    """
    start = time.perf_counter()
    base, block, search = params["base"], params[STAGE], params["search"]
    standalone_recipe(params)  # a bad recipe fails before anything runs
    InferenceConfig.from_params(params["evaluate"], "evaluate")  # so do bad scales or windows
    runs = planned_runs(block, base["seed"])
    supernet, cfg, state = load_supernet(supernet_path, device)
    picks = stratified_pick(
        candidate_pool(cfg, latency, base["seed"], block["pool"]), block["architectures"]
    )
    frames = search_frames(lists_dir, base, search, state)
    # MACs at the input the network runs on: the search frames padded to multiples of 64
    size = padded_size(*frames.search[0][0].shape[-2:])
    costs = [arch_cost(c.arch, cfg, base["num_classes"], size) for c in picks]
    score = inherited_miou(supernet, frames, base, search, device)
    inherited = [score(c.arch) for c in picks]
    del supernet, frames
    rows = []
    for number, (index, seed) in enumerate(runs, 1):
        pick = picks[index]
        where = f"run {number}/{len(runs)}: {pick.arch.compact()} (seed {seed})"
        checkpoint = checkpoints / f"{pick.arch.id}-seed{seed}.pt"
        result = train_standalone(
            params,
            pick.arch,
            cfg,
            seed,
            lists_dir,
            checkpoint,
            device=device,
            stop_after=stop_after,
            progress=progress,
        )
        if result["reused"]:
            _log(f"{where}: reused the finished run, mIoU {result['standalone_miou']:.4f}")
        else:
            resumed = result["resumed_from_step"]
            how = f"resumed from step {resumed}" if resumed else "trained"
            _log(f"{where}: {how}, mIoU {result['standalone_miou']:.4f}")
        rows.append(
            _row(index, pick, costs[index], inherited[index], seed, result["standalone_miou"])
        )
    return {
        "rows": rows,
        "metrics": {
            **ranking_metrics(rows, base["seed"], block["repeat_seed"], block["band"]),
            "pool": block["pool"],
            "standalone_iterations": block["iterations"],
            "seconds": round(time.perf_counter() - start, 1),
        },
    }


def _row(index: int, pick: Candidate, cost: dict, inherited: float, seed: int, miou: float) -> dict:
    return {
        "index": index,
        "arch_id": pick.arch.id,
        "compact": pick.arch.compact(),
        "branches": pick.branches,
        "predicted_latency_ms": pick.latency_ms,
        "params": cost["params"],
        "macs": cost["macs"],
        "inherited_miou": inherited,
        "seed": seed,
        "standalone_miou": miou,
    }


def ranking_metrics(rows: list[dict], seed: int, repeat_seed: int, band: float) -> dict[str, Any]:
    """Correlations and counts of the ranking rows (first seed: the N; both: the K).

    `kendall_tau`, `kendall_tau_sparse`, `spearman_rho`: inherited vs stand-alone mIoU over
    the N; `seed_tau`, `seed_spearman_rho`: stand-alone mIoU of the two seeds over the K, and
    `seed_abs_diff_mean` their mean absolute difference; `kendall_tau_seed_mean`,
    `spearman_rho_seed_mean`: inherited mIoU against the mean of the two seeds over the K (a
    stand-alone reference with half the seed variance: with K = N, the ranking's best estimate),
    and `kendall_tau_seed_mean_se`, `_low`, `_high` its bootstrap standard error and 90 %
    interval over the K (`tau_spread`: how far another draw of K architectures could move it);
    `seed_noise_std`, `ceiling_tau_one_seed`, `ceiling_tau_seed_mean`: the seeds' noise and
    the tau a perfect proxy would reach against one seed or the two seeds' mean
    (`noise_ceilings`, a normal model; steadier than `seed_tau` over a few pairs);
    `band`, `band_pairs`, `band_pairs_agree`: pairs of the N within a latency factor
    `1 + band`, and how many of them inherited mIoU orders as each architecture's mean
    stand-alone mIoU does (over its runs: both seeds for the K), `band_pairs_tied` those that
    mean ties (left out); `band_seed_pairs`, `band_seed_pairs_agree`, `band_seed_pairs_tied`:
    the same pairs among the K, how many the two seeds order alike and how many either seed
    ties (left out; `band_pair_agreement`);
    `*_vs_latency_rho`: Spearman rho of each mIoU against predicted latency (does accuracy grow
    with network size?); `zero_cost_tau_<proxy>`: the Kendall tau of one column of the rows
    (`ZERO_COST_PROXIES`, larger ranked higher) against the two seeds' mean over the K, as
    `kendall_tau_seed_mean` is for the supernet, or against the first seed over the N without
    repeats (None where the rows lack the column: older ranking.csv files), with the branch
    counts' order alone (`reference_only`); the ranking inside the branch counts
    (`within_branches`).
    """
    first = [r for r in rows if r["seed"] == seed]
    second = {r["index"]: r for r in rows if r["seed"] == repeat_seed}
    paired = [(r, second[r["index"]]) for r in first if r["index"] in second]
    inherited = [r["inherited_miou"] for r in first]
    standalone = [r["standalone_miou"] for r in first]
    latency = [r["predicted_latency_ms"] for r in first]
    seed_a = np.array([a["standalone_miou"] for a, _ in paired])  # the K's runs: first seed
    seed_b = np.array([b["standalone_miou"] for _, b in paired])  # and repeat seed
    seeds = rank_correlations(seed_a, seed_b)
    paired_inherited = [a["inherited_miou"] for a, _ in paired]
    mean_of_seeds = (seed_a + seed_b) / 2
    seed_mean = rank_correlations(paired_inherited, mean_of_seeds)
    seed_mean_spread = tau_spread(paired_inherited, mean_of_seeds)
    runs: dict[int, list[float]] = {}
    for r in rows:
        runs.setdefault(r["index"], []).append(r["standalone_miou"])
    in_band = band_pair_agreement(
        latency, inherited, [float(np.mean(runs[r["index"]])) for r in first], band
    )
    seeds_in_band = band_pair_agreement(
        [a["predicted_latency_ms"] for a, _ in paired], seed_a, seed_b, band, symmetric=True
    )
    counts: dict[str, int] = {}
    for r in first:
        counts[str(r["branches"])] = counts.get(str(r["branches"]), 0) + 1
    return {
        "architectures": len(first),
        "repeats": len(paired),
        "architectures_by_branches": counts,
        **rank_correlations(inherited, standalone),
        "seed_tau": seeds["kendall_tau"],
        "seed_spearman_rho": seeds["spearman_rho"],
        "seed_abs_diff_mean": float(np.mean(np.abs(seed_a - seed_b))) if paired else None,
        "kendall_tau_seed_mean": seed_mean["kendall_tau"],
        "spearman_rho_seed_mean": seed_mean["spearman_rho"],
        **{f"kendall_tau_seed_mean_{k}": v for k, v in seed_mean_spread.items()},
        **noise_ceilings(seed_a, seed_b),
        "band": band,
        "band_pairs": in_band["pairs"],
        "band_pairs_agree": in_band["agree"],
        "band_pairs_tied": in_band["ties"],
        "band_seed_pairs": seeds_in_band["pairs"],
        "band_seed_pairs_agree": seeds_in_band["agree"],
        "band_seed_pairs_tied": seeds_in_band["ties"],
        "inherited_vs_latency_rho": rank_correlations(latency, inherited)["spearman_rho"],
        "standalone_vs_latency_rho": rank_correlations(latency, standalone)["spearman_rho"],
        "inherited_miou_mean": float(np.mean(inherited)) if inherited else None,
        "standalone_miou_mean": float(np.mean(standalone)) if standalone else None,
        **within_branches(first, paired, mean_of_seeds),
        **reference_only(first, paired, mean_of_seeds),
    }


def reference_only(
    first: list[dict], paired: list[tuple[dict, dict]], mean_of_seeds: np.ndarray
) -> dict[str, float | None]:
    """Rankings that need no supernet, against the best reference there is: the two seeds'
    mean over the K, or the first seed over the N where nothing was trained twice
    (`rank_check.repeats: 0`).

    `zero_cost_tau_<proxy>` and `zero_cost_tau_<proxy>_within_branches` (`zero_cost_taus`),
    and `kendall_tau_branch_order`: what a scoring that ordered the branch counts by the
    reference's means, and nothing inside them, would reach (`group_order_tau`).
    """
    if paired:
        rows, reference = [a for a, _ in paired], mean_of_seeds
    else:
        rows, reference = first, np.array([r["standalone_miou"] for r in first])
    branches = [r["branches"] for r in rows]
    return {
        **zero_cost_taus(rows, reference),
        "kendall_tau_branch_order": group_order_tau(reference, branches),
    }


def within_branches(
    first: list[dict], paired: list[tuple[dict, dict]], mean_of_seeds: np.ndarray
) -> dict:
    """The ranking inside each branch count (`ranking_metrics`' rows of the first seed over
    the N, and pairs of both seeds over the K).

    `kendall_tau_within_branches`: the supernet's tau against the first seed inside the
    branch counts over the N, pooled (`tau_within_groups`), as `kendall_tau` is over all of
    them; `kendall_tau_seed_mean_within_branches` and `_by_branches` ({branch count: tau}):
    against the two seeds' mean over the K, pooled and per count;
    `seed_tau_within_branches`: the seeds' own tau there (the reference's agreement with
    itself where the search's pick competes).
    """
    branches = [a["branches"] for a, _ in paired]
    inherited = [a["inherited_miou"] for a, _ in paired]
    supernet = tau_within_groups(inherited, mean_of_seeds, branches)
    seeds = tau_within_groups(
        [a["standalone_miou"] for a, _ in paired],
        [b["standalone_miou"] for _, b in paired],
        branches,
    )
    one_seed = tau_within_groups(
        [r["inherited_miou"] for r in first],
        [r["standalone_miou"] for r in first],
        [r["branches"] for r in first],
    )
    return {
        "kendall_tau_within_branches": one_seed["pooled"],
        "kendall_tau_seed_mean_within_branches": supernet["pooled"],
        "kendall_tau_seed_mean_by_branches": {str(k): v for k, v in supernet["by_group"].items()},
        "seed_tau_within_branches": seeds["pooled"],
    }


def zero_cost_taus(rows: list[dict], reference: np.ndarray) -> dict[str, float | None]:
    """`zero_cost_tau_<proxy>`: Kendall tau of each zero-cost proxy of `rows` against
    `reference` (one value per row), and `zero_cost_tau_<proxy>_within_branches` inside the
    branch counts (`tau_within_groups`, pooled); None where a row lacks the proxy's column."""
    branches = [r["branches"] for r in rows]
    out: dict[str, float | None] = {}
    for name, column in ZERO_COST_PROXIES.items():
        has = all(column in r for r in rows)
        values = [r[column] for r in rows] if has else []
        out[f"zero_cost_tau_{name}"] = (
            rank_correlations(values, reference)["kendall_tau"] if has else None
        )
        out[f"zero_cost_tau_{name}_within_branches"] = (
            tau_within_groups(values, reference, branches)["pooled"] if has else None
        )
    return out


def plot_ranking(path: Path, rows: list[dict], metrics: dict, seed: int) -> None:
    """Inherited vs stand-alone mIoU, one colour per branch count; repeat seeds as crosses
    joined to their first run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {1: "tab:blue", 2: "tab:orange", 3: "tab:green"}
    first = {r["index"]: r for r in rows if r["seed"] == seed}
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for k in sorted({r["branches"] for r in rows}):
        mine = [r for r in first.values() if r["branches"] == k]
        ax.scatter(
            [r["inherited_miou"] for r in mine],
            [r["standalone_miou"] for r in mine],
            c=colours.get(k, "0.3"),
            label=f"{k} branch{'es' if k > 1 else ''}",
        )
    for r in rows:
        if r["seed"] != seed:
            a = first[r["index"]]
            colour = colours.get(r["branches"], "0.3")
            ax.scatter(r["inherited_miou"], r["standalone_miou"], marker="x", c=colour)
            ax.plot(
                [a["inherited_miou"]] * 2,
                [a["standalone_miou"], r["standalone_miou"]],
                c=colour,
                lw=0.8,
                alpha=0.6,
            )

    def fmt(key: str) -> str:
        value = metrics.get(key)
        return "n/a" if value is None else f"{value:.2f}"

    ax.set_title(
        f"Kendall tau {fmt('kendall_tau')}, Spearman rho {fmt('spearman_rho')} "
        f"(N={metrics['architectures']}); seed tau {fmt('seed_tau')} (K={metrics['repeats']})",
        fontsize=9,
    )
    ax.set_xlabel("inherited mIoU (supernet weights, search split)")
    ax.set_ylabel("stand-alone mIoU (trained from scratch, val)")
    ax.legend(fontsize=8, title="x: second seed", title_fontsize=7)
    fig.tight_layout()
    write_figure(path, fig, dpi=110)
