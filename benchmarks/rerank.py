"""Stored inherited scorings ranked against another stand-alone reference, without retraining.

`rank_check` writes `ranking.csv`: for N architectures, the inherited mIoU of the supernet it
read and the stand-alone mIoU of each seed's run. An ablation of supernet training reruns
`rank_check` once per variant (its MLflow run keeps that variant's `ranking.csv`), always
against the stand-alone runs of its day. When the reference changes (a longer stand-alone
recipe), this recomputes every variant's correlations against the new one, as `rank_check`
computes them (`hyctas.ranking.run.ranking_metrics`: first seed's stand-alone mIoU), matched
by architecture id, and prints one row per variant below the reference's seed-to-seed tau
and the tau a perfect proxy would reach against it (`noise_ceilings`).

    python benchmarks/rerank.py \\
        --reference scenarios/runs/search_quality/results/rank_check/ranking.csv \\
        --inherited uniform=<uniform's run>/artifacts/ranking.csv sandwich=...

A supernet checkpoint can be ranked directly too (`--supernet NAME=CHECKPOINT`): the
reference's architectures are scored with its inherited weights exactly as `rank_check` does
(`inherited_miou` on the search split's `search.images` frames, from `--params` and `--lists`).

Above the table, the zero-cost proxies' taus (parameters, MACs, predicted latency, where the
reference has their columns), over all architectures and inside the branch counts, and what
ordering the branch counts alone is worth (`ranking_metrics`' own). They and the gaps are
taken against the two seeds' mean, or against the one seed of a one-seed reference
(`rank_check.repeats: 0`).
Below the table, each scoring's tau gap to the first one and to the parameter count (a
zero-cost proxy, where the reference has it) against the same reference, with the paired
bootstrap spread (`hyctas.ranking.correlation.tau_gap`): on the same architectures, a gap
far below either tau's own standard error can still be told from zero.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from hyctas.atomic import write_json
from hyctas.params import load_params
from hyctas.ranking.correlation import tau_gap
from hyctas.ranking.run import ZERO_COST_PROXIES, ranking_metrics
from hyctas.space.arch import Arch
from hyctas.train.distributed import resolve_device
from hyctas.train.supernet import inherited_miou, load_supernet, search_frames

KEYS = (
    "kendall_tau",
    "kendall_tau_within_branches",
    "spearman_rho",
    "kendall_tau_seed_mean",
    "kendall_tau_seed_mean_se",
    "kendall_tau_seed_mean_within_branches",
    "spearman_rho_seed_mean",
    "inherited_vs_latency_rho",
)


def reranked(reference: pd.DataFrame, inherited: pd.DataFrame, band: float = 0.1) -> dict:
    """`ranking_metrics` of `reference`'s rows with `inherited`'s inherited mIoU per arch_id.

    Raises:
        ValueError: An architecture of the reference has no inherited score.
    """
    scores = inherited.drop_duplicates("arch_id").set_index("arch_id")["inherited_miou"]
    missing = sorted(set(reference["arch_id"]) - set(scores.index))
    if missing:
        raise ValueError(f"no inherited mIoU for {len(missing)} architecture(s): {missing}")
    rows = reference.assign(inherited_miou=reference["arch_id"].map(scores))
    # rank_check writes the first seed's N rows, then the repeat seed's K (if any).
    first = int(rows["seed"].iloc[0])
    others = [int(s) for s in rows["seed"].unique() if s != first]
    repeat = others[0] if others else first - 1  # absent: no pairs, seed tau undefined
    return ranking_metrics(rows.to_dict("records"), first, repeat, band)


def scored(reference: pd.DataFrame, checkpoint: Path, params: dict, lists: Path) -> pd.DataFrame:
    """The reference's architectures scored with the supernet at `checkpoint`, as rank_check.

    Returns `arch_id` and `inherited_miou` per architecture, on the search split under `lists`.

    Raises:
        ValueError: An architecture's compact form does not give the reference's id.
    """
    device = resolve_device(params["base"]["device"])
    supernet, _, state = load_supernet(checkpoint, device)
    frames = search_frames(lists, params["base"], params["search"], state)
    score = inherited_miou(supernet, frames, params["base"], params["search"], device)
    rows = reference.drop_duplicates("arch_id")
    archs = [Arch.from_compact(c) for c in rows["compact"]]
    for arch, arch_id in zip(archs, rows["arch_id"], strict=True):
        if arch.id != arch_id:  # another space's ids (its last-cell width, say)
            raise ValueError(f"{arch.compact()}: id {arch.id} here, {arch_id} in the reference")
    return pd.DataFrame({"arch_id": rows["arch_id"], "inherited_miou": [score(a) for a in archs]})


def reference_scores(reference: pd.DataFrame) -> pd.Series:
    """Stand-alone mIoU by arch_id that the gaps and proxies are ranked against: the first
    two seeds' mean over the architectures that have both, or the one seed's where the
    reference has one."""
    seeds = list(dict.fromkeys(reference["seed"]))
    by_seed = reference.pivot_table(index="arch_id", columns="seed", values="standalone_miou")
    return by_seed[seeds[:2]].dropna().mean(axis=1)


def gaps(reference: pd.DataFrame, scorings: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """Each scoring's `tau_gap` to the first one and to the parameter count, by name.

    Against `reference_scores`: the two seeds' mean over the architectures that have both,
    or the one seed over all of them where the reference has one.
    `gap_to_first` is None for the first scoring itself; `gap_to_params` is None where the
    reference has no `params` column (a ranking.csv from before it).
    """
    mean = reference_scores(reference)
    arch = reference.drop_duplicates("arch_id").set_index("arch_id")
    params = arch["params"].loc[mean.index] if "params" in arch else None

    def inherited(scores: pd.DataFrame) -> pd.Series:
        return scores.drop_duplicates("arch_id").set_index("arch_id")["inherited_miou"]

    first = inherited(next(iter(scorings.values()))).loc[mean.index]
    out = {}
    for number, (name, scores) in enumerate(scorings.items()):
        mine = inherited(scores).loc[mean.index]
        out[name] = {
            "gap_to_first": tau_gap(mine, first, mean) if number else None,
            "gap_to_params": tau_gap(mine, params, mean) if params is not None else None,
        }
    return out


def _gap(gap: dict | None) -> str:
    if gap is None or gap["gap"] is None:
        return "n/a"
    return f"{gap['gap']:+.3f} (SE {gap['se']:.3f}, 90 % {gap['low']:+.3f} to {gap['high']:+.3f})"


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reference", type=Path, required=True, help="ranking.csv (stand-alone)")
    parser.add_argument(
        "--inherited", nargs="*", default=[], metavar="NAME=CSV", help="ranking.csv per name"
    )
    parser.add_argument(
        "--supernet", nargs="*", default=[], metavar="NAME=CHECKPOINT", help="supernet per name"
    )
    parser.add_argument("--params", type=Path, help="params.yaml the supernets are scored by")
    parser.add_argument("--lists", type=Path, help="prepare_data's lists (the search split)")
    parser.add_argument(
        "--band", type=float, default=0.1, help="latency band of the pair counts (rank_check.band)"
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if not args.inherited and not args.supernet:
        parser.error("give --inherited NAME=CSV or --supernet NAME=CHECKPOINT pairs")
    if not all("=" in item for item in (*args.inherited, *args.supernet)):
        parser.error("--inherited and --supernet take NAME=PATH pairs")
    if args.band <= 0:
        parser.error(f"--band {args.band}: a latency fraction above 0 (rank_check.band)")
    if args.supernet and not (args.params and args.lists):
        parser.error("--supernet needs --params and --lists")
    reference = pd.read_csv(args.reference)
    scorings = {}
    for item in args.inherited:
        name, _, path = item.partition("=")
        scorings[name] = pd.read_csv(path)
    params = load_params(args.params) if args.supernet else {}
    for item in args.supernet:
        name, _, path = item.partition("=")
        scorings[name] = scored(reference, Path(path), params, args.lists)
    results = {name: reranked(reference, scores, args.band) for name, scores in scorings.items()}
    tau_gaps = gaps(reference, scorings)
    for name, gap in tau_gaps.items():
        results[name].update(gap)
    if args.json:
        write_json(args.json, results)
    first = next(iter(results.values()))
    print(
        f"reference {args.reference}: N={first['architectures']}, seed tau "
        f"{_f(first['seed_tau'])} (K={first['repeats']}), perfect-proxy tau "
        f"{_f(first['ceiling_tau_one_seed'])} (one seed) / {_f(first['ceiling_tau_seed_mean'])} "
        f"(mean of two), the two seeds agree on {first['band_seed_pairs_agree']} of "
        f"{first['band_seed_pairs']} pairs within a latency band of {args.band} "
        f"({first['band_seed_pairs_tied']} tied, left out), "
        f"stand-alone vs latency Spearman "
        f"{_f(first['standalone_vs_latency_rho'])}, stand-alone mean "
        f"{first['standalone_miou_mean']:.4f}"
    )
    reference_name = "the mean of two seeds" if first["repeats"] else "the one seed"
    print(
        f"against {reference_name}, Kendall tau of zero-cost proxies (all / inside the branch "
        "counts): "
        + ", ".join(
            f"{k} {_f(first[f'zero_cost_tau_{k}'])} / "
            f"{_f(first[f'zero_cost_tau_{k}_within_branches'])}"
            for k in ZERO_COST_PROXIES
        )
        + f"; the branch counts' order alone (read off the reference) "
        f"{_f(first['kendall_tau_branch_order'])}; the seeds' tau inside the branch counts "
        f"{_f(first['seed_tau_within_branches'])}"
    )
    widths = {k: max(26, len(k) + 2) for k in KEYS}
    print(
        f"{'scoring':22}"
        + "".join(f"{k:>{widths[k]}}" for k in KEYS)
        + f"{'band pairs agreeing':>22}"
    )
    for name, metrics in results.items():
        band = f"{metrics['band_pairs_agree']} of {metrics['band_pairs']}"
        band += f" ({metrics['band_pairs_tied']} tied)" if metrics["band_pairs_tied"] else ""
        cells = "".join(f"{_f(metrics[k]):>{widths[k]}}" for k in KEYS)
        print(f"{name:22}{cells}{band:>22}")
    first_name = next(iter(results))
    for name, gap in tau_gaps.items():
        print(
            f"{name}: tau gap (against {reference_name}, paired bootstrap) to {first_name} "
            f"{_gap(gap['gap_to_first'])}, to the parameter count {_gap(gap['gap_to_params'])}"
        )


if __name__ == "__main__":
    main()
