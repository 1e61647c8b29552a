"""Stage search: NSGA-II over the search space on supernet mIoU and predicted latency.

Also runs random search (the baseline the hypervolume is compared with) to
search.random_budget_factor x NSGA-II's evaluations, and both again for each further
search.efficiency_seeds seed: the efficiency CSV, the hypervolume plot and the `efficiency`
metrics compare them in normalised hypervolume (hyctas.search.efficiency).

Evaluations are cached in --cache (not a DAG output), so a re-run with more generations
reuses them. Progress is saved beside it after every generation: SIGTERM/SIGINT exit with
143, and a re-run resumes to the same results. The archive output marks the rows
each search visited (in_nsga2, in_random; in_nsga2_s1, in_random_s1... for the further
seeds); select picks from the in_nsga2 rows only.

    python -m stages.search --params params.yaml --supernet results/pretrain_supernet/supernet.pt \
        --lists data/prepare_data/lists --latency-table results/profile_latency/latency_table.csv \
        --latency-model results/profile_latency/latency_model.json \
        --cache checkpoints/search/archive.csv \
        --archive results/search/archive.csv --front results/search/front.csv \
        --hypervolume results/search/hypervolume.csv --front-plot results/search/front.png \
        --hv-plot results/search/hypervolume.png --published results/search/published.csv \
        --efficiency results/search/efficiency.csv --metrics-out results/search/metrics.json
"""

from __future__ import annotations

import argparse

from hyctas.atomic import write_csv
from hyctas.latency.predictor import LatencyPredictor
from hyctas.params import load_params
from hyctas.search.efficiency import measure
from hyctas.search.objectives import ACCURACY, LATENCY
from hyctas.search.plots import (
    plot_efficiency,
    plot_front,
    plot_hypervolume,
    write_front_table,
)
from hyctas.search.run import STAGE, hypervolume_rows, run_search, visited
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
    "efficiency": "normalised hypervolume of every seed's NSGA-II and random runs CSV",
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
    with stage_run(STAGE, params, description=__doc__) as run:
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
        pairs, block = result["pairs"], params[STAGE]
        archive.save(args.archive, runs=visited(pairs))
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
        efficiency = measure(archive, pairs, block["random_budget_factor"]) if random else None
        write_csv(args.efficiency, efficiency.rows if efficiency else [])
        if efficiency is not None:
            plot_efficiency(
                args.hv_plot,
                efficiency.curves,
                budget=nsga.n_evaluations,
                title=f"NSGA-II vs random search, {len(pairs)} seed(s)",
            )
        else:  # no random search: NSGA-II's own hypervolume history
            plot_hypervolume(args.hv_plot, {"NSGA-II": nsga})
        metrics = {
            "evaluations": nsga.n_evaluations,
            "front_size": len(nsga.front_ids),
            "hv_nsga2": nsga.hypervolume,
            "mean_eval_seconds": nsga.mean_eval_seconds,
            "cache_reused": nsga.n_reused,
            "seconds": round(result["seconds"], 1),
        }
        if random is not None:
            # at NSGA-II's number of evaluations (random search may have gone on beyond it)
            hv_random = random.hv_history[min(len(nsga.hv_history), len(random.hv_history)) - 1]
            metrics.update(
                hv_random=hv_random,
                hv_ratio=nsga.hypervolume / hv_random if hv_random else None,
                efficiency=efficiency.summary,
            )
        for path in (args.front_plot, args.hv_plot):
            run.log_artifact(path)
        run.write_metrics(args.metrics_out, metrics)
        result["checkpoint"].finish()  # every output written: only the cache stays
    print(f"[{STAGE}] {metrics}")


if __name__ == "__main__":
    run_stage(STAGE, main, parse_args())
