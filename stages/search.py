"""Stage search: NSGA-II over the search space on supernet mIoU and predicted latency.

Also runs random search with the same number of evaluations (the baseline the hypervolume is
compared with). Evaluations are cached in --cache (not a DAG output), so a re-run with more
generations reuses them. Progress is saved beside it after every generation: SIGTERM/SIGINT
exit with 143, and a re-run resumes to the same results. The archive output marks the rows
each search visited (in_nsga2, in_random); select picks from the in_nsga2 rows only.

    python -m stages.search --params params.yaml --supernet results/pretrain_supernet/supernet.pt \
        --lists data/prepare_data/lists --latency-table results/profile_latency/latency_table.csv \
        --latency-model results/profile_latency/latency_model.json \
        --cache checkpoints/search/archive.csv \
        --archive results/search/archive.csv --front results/search/front.csv \
        --hypervolume results/search/hypervolume.csv --front-plot results/search/front.png \
        --hv-plot results/search/hypervolume.png --published results/search/published.csv \
        --metrics-out results/search/metrics.json
"""

from __future__ import annotations

import argparse

from hyctas.atomic import write_csv
from hyctas.latency.predictor import LatencyPredictor
from hyctas.params import load_params
from hyctas.search.plots import plot_front, plot_hypervolume, write_front_table
from hyctas.search.run import ACCURACY, LATENCY, STAGE, hypervolume_rows, run_search
from hyctas.stage import LISTS, parse_stage_args, run_stage
from hyctas.tracking import stage_run
from hyctas.train.distributed import resolve_device

OUTPUTS = {
    "archive": "search archive CSV",
    "front": "front table CSV",
    "hypervolume": "hypervolume CSV",
    "front-plot": "front PNG",
    "hv-plot": "hypervolume PNG",
    "published": "published S/M/L models' objective values CSV (empty when off)",
}


def parse_args() -> argparse.Namespace:
    inputs = {
        "supernet": "pretrained supernet checkpoint",
        "lists": LISTS,
        "latency-table": "profile_latency table",
        "latency-model": "profile_latency fitted model",
        "cache": "evaluation cache and resumable state (kept between runs)",
    }
    return parse_stage_args(__doc__, {**inputs, **OUTPUTS})


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    predictor = LatencyPredictor.load(args.latency_table, args.latency_model)
    with stage_run(STAGE, params) as run:
        result = run_search(
            params,
            args.supernet,
            args.lists,
            predictor.predict,
            {"latency_table": args.latency_table, "latency_model": args.latency_model},
            args.cache,
            device=resolve_device(params["base"]["device"]),
        )
        archive, nsga, random = result["archive"], result["nsga"], result["random"]
        runs = {"nsga2": nsga.evaluated_ids, **({"random": random.evaluated_ids} if random else {})}
        archive.save(args.archive, runs=runs)
        write_front_table(args.front, archive, nsga.front_ids, sort_by=LATENCY)
        write_csv(args.hypervolume, hypervolume_rows(nsga, random))
        published = result["published"]
        write_csv(args.published, published)
        plot_front(
            args.front_plot,
            archive,
            accuracy=ACCURACY,
            latency=LATENCY,
            front_ids=nsga.front_ids,
            extra_points={
                r["name"] + (" (projected)" if r["projected"] else ""): (r[LATENCY], r[ACCURACY])
                for r in published
            },
            title=f"Search: {nsga.n_evaluations} architectures per method",
        )
        plot_hypervolume(args.hv_plot, {"NSGA-II": nsga, **({"random": random} if random else {})})
        metrics = {
            "evaluations": nsga.n_evaluations,
            "front_size": len(nsga.front_ids),
            "hv_nsga2": nsga.hypervolume,
            "mean_eval_seconds": nsga.mean_eval_seconds,
            "cache_reused": nsga.n_reused,
            "seconds": round(result["seconds"], 1),
        }
        if random is not None:
            metrics.update(
                hv_random=random.hypervolume,
                hv_ratio=nsga.hypervolume / random.hypervolume if random.hypervolume else None,
            )
        for path in (args.front_plot, args.hv_plot):
            run.log_artifact(path)
        run.write_metrics(args.metrics_out, metrics)
        result["checkpoint"].finish()  # every output written: only the cache stays
    print(f"[{STAGE}] {metrics}")


if __name__ == "__main__":
    run_stage(STAGE, main, parse_args())
