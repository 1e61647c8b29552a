"""Stage evaluate: mIoU, per-class IoU, measured latency/FPS, size and ONNX export of one model.

With `retrain.seeds` > 1 it scores the further seeds' models (--seeds-dir) on val too: `miou`
stays the first seed's (the exported model); `miou_seeds`, `miou_seed_mean`, `miou_seed_std`.

The mIoU is over val frames at their own size, predicted with `evaluate`'s test-time inference
(flip, scales, sliding window; recorded in the metrics); latency times the plain single pass;
size and the ONNX export are at the first val frame's size padded to multiples of 64. The
export is also logged as an MLflow model (a pyfunc over the ONNX file, `hyctas.registry`).

    python -m stages.evaluate --params params.yaml --model results/retrain/fast/model.pt \
        --seeds-dir results/retrain/fast/seeds --lists data/prepare_data/lists \
        --onnx-out results/evaluate/fast/model.onnx \
        --confusion results/evaluate/fast/confusion.png \
        --overlays results/evaluate/fast/overlays.png \
        --metrics-out results/evaluate/fast/metrics.json
"""

from __future__ import annotations

import argparse

import torch

from hyctas.data.classes import load_classes
from hyctas.evaluation.accuracy import accuracy_metrics, val_confusion, with_dataset_classes
from hyctas.evaluation.inference import InferenceConfig, padded_size
from hyctas.evaluation.latency import measure_latency_ms
from hyctas.evaluation.plots import plot_confusion, plot_overlays
from hyctas.evaluation.seeds import describe_spread, seed_metrics, seed_models
from hyctas.evaluation.size import size_metrics
from hyctas.export import check_onnx, checkpoint_metadata, export_onnx
from hyctas.latency.runmode import RunMode
from hyctas.models.factory import load_model
from hyctas.params import load_params
from hyctas.registry import log_evaluated_model
from hyctas.space.arch import Arch
from hyctas.stage import LISTS, parse_stage_args, run_stage
from hyctas.tracking import stage_run
from hyctas.train.distributed import resolve_device

STAGE = "evaluate"


def parse_args() -> argparse.Namespace:
    return parse_stage_args(
        __doc__,
        {
            "model": "retrained model checkpoint (the first seed's)",
            "seeds-dir": "retrain's folder of the further seeds' models (seeds.json)",
            "lists": LISTS,
            "onnx-out": "ONNX export of the model",
            "confusion": "confusion-matrix PNG",
            "overlays": "prediction overlays PNG",
        },
    )


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    base, block = params["base"], params[STAGE]
    # The dtype, memory format and compilation the latency table was measured in.
    mode = RunMode.from_params(params["profile_latency"])
    mode.check_warmup(block["latency"]["warmup"], "evaluate.latency.warmup")  # before mIoU
    inference = InferenceConfig.from_params(block, STAGE)
    classes = load_classes(args.lists)  # the dataset's class names and colours
    classes.check_num_classes(base["num_classes"])
    device = resolve_device(base["device"])
    model, state = load_model(args.model, device)
    further = seed_models(args.seeds_dir, state)  # a missing or stale model fails before work
    state = with_dataset_classes(state, classes, args.model, args.lists)
    target = state.get("target") or args.model.parent.name
    tags = {
        "hyctas.arch_id": Arch.from_dict(state["arch"]).id
        if state["kind"] == "segnet"
        else "baseline"
    }
    with stage_run(STAGE, params, target=target, tags=tags, description=__doc__) as run:
        matrix, dataset = val_confusion(model, args.lists, state, base, device, inference)
        metrics = {
            "target": target,
            "kind": state["kind"],
            **accuracy_metrics(matrix, classes.names),
            **inference.to_dict(),  # which inference the mIoU is of
        }
        first = {state.get("seed", base["seed"]): metrics["miou"]}  # older models: no seed
        metrics.update(seed_metrics(first, further, args.lists, classes, base, device, inference))
        # Size and export at the latency measurement's input, so MACs and latency in the
        # report describe one input whatever the val frames' sizes.
        height, width = padded_size(block["latency"]["height"], block["latency"]["width"])
        metrics.update(size_metrics(model, height, width))
        metrics.update(measure_latency_ms(model, block["latency"], mode))
        model.to(device)
        title = f"{target}: mIoU {metrics['miou']:.3f}{describe_spread(metrics)}"
        plot_confusion(args.confusion, matrix, classes.names, title)
        plot_overlays(
            args.overlays,
            model,
            dataset,
            block["overlay_images"],
            classes.colors,
            device,
            inference,
        )
        export_onnx(model.cpu(), args.onnx_out, height, width, metadata=checkpoint_metadata(state))
        metrics["onnx_max_abs_diff"] = check_onnx(
            model, args.onnx_out, torch.randn(1, 3, height, width)
        )
        for path in (args.confusion, args.overlays):
            run.log_artifact(path)
        # The ONNX export as an MLflow model (pyfunc), its URI in the metrics JSON too.
        model_tags = {"target": target, "arch_id": tags["hyctas.arch_id"]}
        log_evaluated_model(
            run, args.onnx_out, args.metrics_out, metrics, name=target, tags=model_tags
        )
    print(
        f"[{STAGE}] {target}: mIoU {metrics['miou']:.4f}{describe_spread(metrics)} "
        f"({metrics['inference']}), "
        f"{metrics['latency_ms']:.1f} ms, "
        f"{metrics['params'] / 1e6:.3f} M params, ONNX diff {metrics['onnx_max_abs_diff']:.2e}"
    )


if __name__ == "__main__":
    run_stage(STAGE, main, parse_args())
