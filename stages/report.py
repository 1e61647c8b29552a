"""Stage report: reports/summary.md with one table, a verdict against the baseline, and plots.

With `report.paired_latency` it also times every target's retrained model side by side in the
same interleaved rounds (the `evaluate.latency` protocol), and the verdict compares those.

    python -m stages.report --params params.yaml --select-dir results/select \
        --retrain-dir results/retrain --evaluate-dir results/evaluate \
        --archive results/search/archive.csv --search-metrics results/search/metrics.json \
        --data-metrics data/prepare_data/metrics.json --out reports/report \
        --metrics-out reports/metrics.json
"""

from __future__ import annotations

import argparse
import json

from hyctas.evaluate import measure_latencies_ms
from hyctas.models.factory import load_model
from hyctas.params import load_params
from hyctas.report import collect_rows, write_report
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
            "out": "report folder (summary.md, plots)",
        },
    )


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    targets = list(params["select"]["targets"])
    rows = collect_rows(targets, args.select_dir, args.retrain_dir, args.evaluate_dir)
    if params[STAGE]["paired_latency"]:
        block = params["evaluate"]["latency"]
        models = {
            t: load_model(args.retrain_dir / t / "model.pt", block["device"])[0] for t in targets
        }
        paired = measure_latencies_ms(models, block)
        for row in rows:
            row["paired_latency_ms"] = paired[row["target"]]["latency_ms"]
    with stage_run(STAGE, params) as run:
        summary = write_report(
            args.out,
            rows,
            json.loads(args.search_metrics.read_text()),
            json.loads(args.data_metrics.read_text()),
            args.archive,
            params[STAGE]["title"],
        )
        run.log_artifact(args.out, "report")
        metrics = {
            f"{r['target']}.{k}": r[k]
            for r in rows
            for k in ("miou", "latency_ms", "paired_latency_ms", "fps", "params_m")
            if k in r
        }
        run.write_metrics(args.metrics_out, {**metrics, "kendall_tau": summary["kendall_tau"]})
    print((args.out / "summary.md").read_text())


if __name__ == "__main__":
    run_stage(STAGE, main, parse_args())
