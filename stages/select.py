"""Stage select: the model spec of one retraining target (searched architecture, random
architecture in a searched one's latency band, or baseline).

One job per name in `select.targets` (DVC foreach, Snakemake wildcard), so editing one
target's budget reruns only that target's select, retrain and evaluate:

    python -m stages.select --params params.yaml --target fast \
        --archive results/search/archive.csv \
        --out results/select/fast/model.json --metrics-out results/select/fast/metrics.json
"""

from __future__ import annotations

import argparse

from hyctas.atomic import write_json
from hyctas.errors import ConfigError
from hyctas.params import load_params
from hyctas.search.targets import model_spec
from hyctas.stage import parse_stage_args, run_stage
from hyctas.tracking import stage_run

STAGE = "select"


def parse_args() -> argparse.Namespace:
    return parse_stage_args(
        __doc__, {"archive": "search archive CSV", "out": "model spec JSON"}, target=True
    )


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    targets = params[STAGE]["targets"]
    if args.target not in targets:
        raise ConfigError(f"--target {args.target}: not in select.targets ({', '.join(targets)})")
    spec = model_spec(
        args.target,
        targets[args.target],
        args.archive,
        params["search"],
        seed=params["base"]["seed"],
    )
    tags = {"hyctas.arch_id": spec.get("arch_id", spec["kind"])}
    with stage_run(STAGE, params, target=args.target, tags=tags, description=__doc__) as run:
        write_json(args.out, spec)
        metrics = {f"predicted_{k}": v for k, v in spec.get("predicted", {}).items()}
        run.write_metrics(
            args.metrics_out, {"target": args.target, "kind": spec["kind"], **metrics}
        )
    print(f"[{STAGE}] {args.target}: {spec.get('compact', spec['kind'])}")


if __name__ == "__main__":
    run_stage(STAGE, main, parse_args())
