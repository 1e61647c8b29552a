"""Stored inherited scorings ranked against another stand-alone reference, without retraining.

`rank_check` writes `ranking.csv`: for N architectures, the inherited mIoU of the supernet it
read and the stand-alone mIoU of each seed's run. An ablation of supernet training reruns
`rank_check` once per variant (its MLflow run keeps that variant's `ranking.csv`), always
against the stand-alone runs of its day. When the reference changes (a longer stand-alone
recipe), this recomputes every variant's correlations against the new one, as `rank_check`
computes them (`hyctas.ranking.run.ranking_metrics`: first seed's stand-alone mIoU), matched
by architecture id, and prints one row per variant with the reference's seed-to-seed ceiling.

    python benchmarks/rerank.py \\
        --reference scenarios/runs/search_quality/results/rank_check/ranking.csv \\
        --inherited uniform=<uniform's run>/artifacts/ranking.csv sandwich=...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from hyctas.atomic import write_json
from hyctas.ranking.run import ranking_metrics

KEYS = ("kendall_tau", "kendall_tau_sparse", "spearman_rho", "inherited_vs_latency_rho")


def reranked(reference: pd.DataFrame, inherited: pd.DataFrame) -> dict:
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
    return ranking_metrics(rows.to_dict("records"), first, repeat)


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reference", type=Path, required=True, help="ranking.csv (stand-alone)")
    parser.add_argument(
        "--inherited", nargs="+", required=True, metavar="NAME=CSV", help="ranking.csv per name"
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if not all("=" in item for item in args.inherited):
        parser.error("--inherited takes NAME=CSV pairs")
    reference = pd.read_csv(args.reference)
    results = {}
    for item in args.inherited:
        name, _, path = item.partition("=")
        results[name] = reranked(reference, pd.read_csv(path))
    if args.json:
        write_json(args.json, results)
    first = next(iter(results.values()))
    print(
        f"reference {args.reference}: N={first['architectures']}, seed tau "
        f"{_f(first['seed_tau'])} (K={first['repeats']}), stand-alone vs latency Spearman "
        f"{_f(first['standalone_vs_latency_rho'])}, stand-alone mean "
        f"{first['standalone_miou_mean']:.4f}"
    )
    print(f"{'scoring':22}" + "".join(f"{k:>26}" for k in KEYS))
    for name, metrics in results.items():
        print(f"{name:22}" + "".join(f"{_f(metrics[k]):>26}" for k in KEYS))


if __name__ == "__main__":
    main()
