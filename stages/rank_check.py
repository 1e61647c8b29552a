"""Stage rank_check: does the supernet rank architectures as stand-alone training does?

Picks `rank_check.architectures` architectures over the branch counts and the predicted-latency
range, scores each with inherited supernet weights (the search's objective), trains each from
scratch with the retrain recipe (`rank_check.iterations` steps) and evaluates it on val; the
first `rank_check.repeats` again with `rank_check.repeat_seed`. Writes one row per run, the
Kendall tau / Spearman rho between inherited and stand-alone mIoU, the seed-to-seed tau, and a
scatter plot.

    python -m stages.rank_check --params params.yaml \
        --supernet results/pretrain_supernet/supernet.pt --lists data/prepare_data/lists \
        --latency-table results/profile_latency/latency_table.csv \
        --latency-model results/profile_latency/latency_model.json \
        --checkpoints checkpoints/rank_check --ranking results/rank_check/ranking.csv \
        --plot results/rank_check/ranking.png --metrics-out results/rank_check/metrics.json

--checkpoints (not a DAG output, so DVC keeps it) holds each run's checkpoint and result:
SIGTERM saves the run in progress and exits 143; a re-run reuses the finished runs and
resumes that one.
"""

from __future__ import annotations

import argparse

from hyctas.atomic import write_csv
from hyctas.latency.predictor import LatencyPredictor
from hyctas.params import load_params
from hyctas.ranking.run import STAGE, plot_ranking, rank_check
from hyctas.stage import LISTS, parse_stage_args, run_stage
from hyctas.tracking import stage_run
from hyctas.train.distributed import resolve_device


def parse_args() -> argparse.Namespace:
    return parse_stage_args(
        __doc__,
        {
            "supernet": "pretrained supernet checkpoint",
            "lists": LISTS,
            "latency-table": "profile_latency table",
            "latency-model": "profile_latency fitted model",
            "checkpoints": "folder of the stand-alone runs' checkpoints and results (kept)",
            "ranking": "one row per architecture and seed (CSV)",
            "plot": "inherited vs stand-alone mIoU scatter plot (PNG)",
        },
        stop_after=True,
    )


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    predictor = LatencyPredictor.load(args.latency_table, args.latency_model)
    with stage_run(STAGE, params, description=__doc__) as run:
        result = rank_check(
            params,
            args.supernet,
            args.lists,
            predictor.predict,
            args.checkpoints,
            device=resolve_device(params["base"]["device"]),
            stop_after=args.stop_after,
        )
        metrics = result["metrics"]
        write_csv(args.ranking, result["rows"])
        plot_ranking(args.plot, result["rows"], metrics, params["base"]["seed"])
        for path in (args.ranking, args.plot):
            run.log_artifact(path)
        run.write_metrics(args.metrics_out, metrics)
    print(f"[{STAGE}] {metrics}")


if __name__ == "__main__":
    run_stage(STAGE, main, parse_args())
