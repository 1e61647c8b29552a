"""Stage profile_latency: per-piece latency table on this device, fitted and validated.

Times every piece (cell configuration, stem, fusion, head) the search space can produce at
`profile_latency.height` x `width`, fits `scale * table_sum + overhead` on random
calibration architectures measured end to end, and validates the prediction on other
random architectures (MAPE, Kendall tau, scatter plot). See hyctas/latency/__init__.py.

    python -m stages.profile_latency --params params.yaml \
        --table results/profile_latency/latency_table.csv \
        --model results/profile_latency/latency_model.json \
        --validation results/profile_latency/validation.csv \
        --plot results/profile_latency/validation.png \
        --metrics-out results/profile_latency/metrics.json
"""

from __future__ import annotations

import argparse

from hyctas.latency.profile import run_profile, write_validation
from hyctas.latency.settings import ProfileSettings
from hyctas.params import load_params
from hyctas.space.config import SpaceConfig
from hyctas.stage import parse_stage_args, run_stage
from hyctas.tracking import stage_run

STAGE = "profile_latency"


def parse_args() -> argparse.Namespace:
    return parse_stage_args(
        __doc__,
        {
            "table": "latency table CSV",
            "model": "fitted correction JSON",
            "validation": "per-architecture CSV",
            "plot": "predicted vs measured PNG",
        },
    )


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    base = params["base"]
    cfg = SpaceConfig.from_params(params["search_space"])
    settings = ProfileSettings.from_params(params[STAGE])
    with stage_run(STAGE, params, description=__doc__) as run:
        result = run_profile(cfg, base["num_classes"], settings, base["seed"])
        result.table.save(args.table)
        result.model.save(args.model)
        write_validation(result, settings, args.validation, args.plot)
        m = result.metrics
        run.log_artifact(args.plot)
        run.write_metrics(args.metrics_out, m)
    print(
        f"[{STAGE}] {m['keys']} keys, measured in {m['measure_seconds']} s, "
        f"total {m['total_seconds']} s, MAPE {m['mape_pct']:.2f} %, "
        f"Kendall tau {m['kendall_tau']:.3f}"
    )


if __name__ == "__main__":
    run_stage(STAGE, main, parse_args())
