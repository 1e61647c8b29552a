"""Stage pretrain_supernet: train the weight-sharing supernet once, resumably.

Single process, or DDP under torchrun (WORLD_SIZE > 1; only rank 0 writes and logs):

    python -m stages.pretrain_supernet --params params.yaml --lists data/prepare_data/lists \
        --checkpoint checkpoints/pretrain_supernet/last.pt \
        --out results/pretrain_supernet/supernet.pt \
        --train-log results/pretrain_supernet/train_log.csv \
        --probes results/pretrain_supernet/probes.csv \
        --metrics-out results/pretrain_supernet/metrics.json

--checkpoint is the in-progress state (not a DAG output, so DVC keeps it): SIGTERM saves it and a
re-run resumes from it.
"""

from __future__ import annotations

import argparse

from hyctas.atomic import write_csv
from hyctas.params import load_params
from hyctas.stage import CHECKPOINT, LISTS, TRAIN_LOG, parse_stage_args, run_stage
from hyctas.train.launch import relaunch_if_multi_gpu
from hyctas.train.session import training_session
from hyctas.train.supernet import STAGE, pretrain


def parse_args() -> argparse.Namespace:
    return parse_stage_args(
        __doc__,
        {
            "lists": LISTS,
            "checkpoint": CHECKPOINT,
            "out": "final supernet checkpoint",
            "train-log": TRAIN_LOG,
            "probes": "probe mIoU CSV (DVC plot)",
        },
        stop_after=True,
    )


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    relaunch_if_multi_gpu(params, STAGE)  # resources.<stage>.gpus > 1: torchrun, then exit
    with training_session(STAGE, params, description=__doc__) as session:
        summary = pretrain(
            params,
            args.lists,
            args.out,
            args.checkpoint,
            device=session.device,
            info=session.info,
            on_log=session.on_log,
            stop_after=args.stop_after,
        )
        if session.run is not None:
            write_csv(args.train_log, summary["history"])
            write_csv(args.probes, summary["probes"])
            session.run.write_metrics(args.metrics_out, summary["metrics"])
            print(f"[{STAGE}] {summary['metrics']}")


if __name__ == "__main__":
    run_stage(STAGE, main, parse_args())
