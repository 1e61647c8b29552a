"""Stage report: reports/summary.md with one table, a verdict against the baseline, and plots.

With `report.paired_latency` it also times every target's retrained model side by side in the
same interleaved rounds (the `evaluate.latency` protocol), and the verdict compares those, as
do the searched targets' comparisons with the random architectures of their latency bands and
with the baseline family (hypervolume ratio; `hyctas.report.chance_section`). Each target's
model (logged by `evaluate`) is registered in the MLflow Model Registry as
`<base.mlflow_experiment>-<searched|random|baseline>`, alias the target's name.

    python -m stages.report --params params.yaml --select-dir results/select \
        --retrain-dir results/retrain --evaluate-dir results/evaluate \
        --archive results/search/archive.csv --search-metrics results/search/metrics.json \
        --data-metrics data/prepare_data/metrics.json \
        --ranking results/rank_check/ranking.csv \
        --ranking-metrics results/rank_check/metrics.json --out reports/report \
        --metrics-out reports/metrics.json
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from hyctas.evaluation.latency import measure_latencies_ms
from hyctas.latency.runmode import RunMode
from hyctas.models.factory import load_model
from hyctas.params import load_params
from hyctas.registry import check_aliases, register_targets
from hyctas.report import chance_metrics, collect_rows, write_report
from hyctas.stage import parse_stage_args, run_stage
from hyctas.tracking import stage_run

STAGE = "report"
STAGES_READ = ("select", "retrain", "evaluate")  # per-target outputs the report collects


def parse_args() -> argparse.Namespace:
    folders = {f"{s}-dir": f"folder of the per-target {s} outputs" for s in STAGES_READ}
    return parse_stage_args(
        __doc__,
        {
            **folders,
            "archive": "search archive CSV",
            "search-metrics": "search metrics JSON",
            "data-metrics": "prepare_data metrics JSON (list sizes)",
            "ranking": "rank_check rows CSV",
            "ranking-metrics": "rank_check metrics JSON",
            "out": "report folder (summary.md, plots)",
        },
    )


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    targets = list(params["select"]["targets"])
    check_aliases(targets)  # before any work: each target name becomes a registry alias
    rows = collect_rows(targets, args.select_dir, args.retrain_dir, args.evaluate_dir)
    if params[STAGE]["paired_latency"]:
        block = params["evaluate"]["latency"]
        models = {
            t: load_model(args.retrain_dir / t / "model.pt", block["device"])[0] for t in targets
        }
        mode = RunMode.from_params(params["profile_latency"])  # the program evaluate timed
        paired = measure_latencies_ms(models, block, mode)
        for row in rows:
            row["paired_latency_ms"] = paired[row["target"]]["latency_ms"]
    with stage_run(STAGE, params, description=__doc__) as run:
        summary = write_report(
            args.out,
            rows,
            json.loads(args.search_metrics.read_text()),
            json.loads(args.data_metrics.read_text()),
            args.archive,
            params[STAGE]["title"],
            {
                "rows": pd.read_csv(args.ranking).to_dict("records"),
                "metrics": json.loads(args.ranking_metrics.read_text()),
            },
        )
        run.log_artifact(args.out, "report")
        metrics = {
            f"{r['target']}.{k}": r[k]
            for r in rows
            for k in (
                "miou",
                "miou_std",
                "seeds",
                "latency_ms",
                "paired_latency_ms",
                "fps",
                "params_m",
            )
            if r.get(k) is not None
        }
        metrics.update(chance_metrics(summary))  # vs band randoms and the baseline family
        run.write_metrics(args.metrics_out, {**metrics, "kendall_tau": summary["kendall_tau"]})
        experiment = params["base"]["mlflow_experiment"]
        registered = register_targets(run, experiment, targets, args.select_dir, args.evaluate_dir)
    print((args.out / "summary.md").read_text())
    for entry in registered:  # what `mlflow.pyfunc.load_model` takes
        print(f"[{STAGE}] {entry.uri}: version {entry.version}")


if __name__ == "__main__":
    run_stage(STAGE, main, parse_args())
