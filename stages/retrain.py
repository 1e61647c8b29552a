"""Stage retrain: train one target's network with the recipe in params (one job per target).

    python -m stages.retrain --params params.yaml --spec results/select/fast/model.json \
        --lists data/prepare_data/lists --supernet results/pretrain_supernet/supernet.pt \
        --checkpoint checkpoints/retrain/fast.pt --out results/retrain/fast/model.pt \
        --seeds-dir results/retrain/fast/seeds --train-log results/retrain/fast/train_log.csv \
        --metrics-out results/retrain/fast/metrics.json

`retrain.init` (or the target's own `init` in select.targets, carried by its spec) chooses
fresh weights (scratch) or the supernet's; baselines always start fresh. `retrain.seeds` > 1
trains it again with each further seed into --seeds-dir (evaluate scores them all).
Under torchrun it trains with DDP; SIGTERM checkpoints to --checkpoint (a further seed's run:
beside it, `<stem>.seed<N>.pt`) and a re-run resumes.
"""

from __future__ import annotations

import argparse
import json

from hyctas.atomic import write_csv
from hyctas.errors import DataError
from hyctas.params import load_params
from hyctas.stage import CHECKPOINT, LISTS, TRAIN_LOG, parse_stage_args, run_stage
from hyctas.train.launch import relaunch_if_multi_gpu
from hyctas.train.retrain import STAGE, retrain_seeds
from hyctas.train.session import training_session


def parse_args() -> argparse.Namespace:
    return parse_stage_args(
        __doc__,
        {
            "spec": "model spec JSON from select",
            "lists": LISTS,
            "supernet": "pretrained supernet checkpoint",
            "checkpoint": CHECKPOINT,
            "out": "retrained model checkpoint (the first seed's)",
            "seeds-dir": "folder of the further seeds' models and their manifest seeds.json",
            "train-log": TRAIN_LOG,
        },
        stop_after=True,
    )


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    relaunch_if_multi_gpu(params, STAGE)  # resources.<stage>.gpus > 1: torchrun, then exit
    try:
        spec = json.loads(args.spec.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(
            f"{args.spec}: unreadable model spec ({exc}); re-run the select stage"
        ) from None
    tags = {"hyctas.arch_id": spec.get("arch_id", spec["kind"])}
    with training_session(
        STAGE, params, target=spec["target"], tags=tags, description=__doc__
    ) as session:
        summary = retrain_seeds(
            params,
            spec,
            args.lists,
            args.out,
            args.checkpoint,
            args.seeds_dir,
            init=spec.get("init", params[STAGE]["init"]),
            supernet_path=args.supernet,
            device=session.device,
            info=session.info,
            on_log=lambda step, prefix, m: session.on_log(
                step, {prefix + k: v for k, v in m.items()}
            ),
            stop_after=args.stop_after,
        )
        if session.run is not None:
            write_csv(args.train_log, summary["history"])
            metrics = {"target": spec["target"], **summary["metrics"]}
            session.run.write_metrics(args.metrics_out, metrics)
            print(f"[{STAGE}] {spec['target']}: {summary['metrics']}")


if __name__ == "__main__":
    run_stage(STAGE, main, parse_args())
