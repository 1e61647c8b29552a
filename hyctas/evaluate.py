"""The `evaluate` stage's logic: accuracy, speed and size of one retrained model.

mIoU and per-class IoU come from a confusion matrix over the whole val split at its own
resolution (optionally flip-averaged); latency is measured end to end at batch 1 in eval mode
on the configured device (warm-up, synchronisation or CUDA events, median of repeats, fixed
threads), in the dtype, memory format and compilation of `profile_latency` (a `RunMode`), so
the measured program is the one the latency table predicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from hyctas.atomic import atomic_path
from hyctas.data.dataset import SegmentationDataset
from hyctas.data.labels import trainid_colors, trainid_names
from hyctas.evaluation import confusion, predict
from hyctas.metrics import ConfusionMatrix
from hyctas.models.cost import count_macs, count_params

if TYPE_CHECKING:
    from hyctas.latency.runmode import RunMode


def measure_latency_ms(model: nn.Module, block: dict, mode: RunMode) -> dict[str, Any]:
    """End-to-end latency of one batch-1 forward pass, with profile_latency's protocol.

    `block` is `evaluate.latency`: device, size, threads, clock (cpu: CPU time of the timing
    thread, robust to other programs; wall: elapsed, CUDA events on a GPU), warm-up, repeats,
    the seconds the repeats are spread over and the statistic reported as `latency_ms` (FPS
    is its inverse). `mode` is `RunMode.from_params(params["profile_latency"])`: the dtype,
    memory format and compilation the latency table was measured in. `model` is left as it
    was (a copy is cast and compiled).
    """
    return measure_latencies_ms({"model": model}, block, mode)["model"]


def measure_latencies_ms(
    models: Mapping[str, nn.Module], block: dict, mode: RunMode
) -> dict[str, dict]:
    """`measure_latency_ms` of several models timed side by side in the same rounds.

    Each round runs every model once, in a shuffled order, so a slow stretch of a shared
    machine slows them all alike and their latencies compare fairly (a paired comparison).

    Raises:
        ConfigError: A clock that cannot time this device, or too few warm-up runs to
            cover compilation (named `evaluate.latency.<key>`).
    """
    from hyctas.latency.settings import checked_clock
    from hyctas.latency.timing import stopwatch_for, synchronizer, time_interleaved

    device = torch.device(block["device"])
    clock = checked_clock(block["clock"], device, block["threads"], "evaluate.latency.clock")
    mode.check_warmup(block["warmup"], "evaluate.latency.warmup")
    nets = [mode.prepare(model, device) for model in models.values()]
    x = mode.move(torch.randn(1, 3, block["height"], block["width"]), device)
    threads = torch.get_num_threads()
    torch.set_num_threads(block["threads"])
    try:
        with torch.inference_mode(), mode.compiling():
            timings = time_interleaved(
                [lambda net=net: net(x) for net in nets],
                block["warmup"],
                block["repeats"],
                synchronizer(device),
                seed=0,
                pause_s=block["spread_seconds"] / block["repeats"],
                stopwatch=stopwatch_for(device, clock),
            )
    finally:
        torch.set_num_threads(threads)
    results = {}
    for name, timing in zip(models, timings, strict=True):
        latency = timing.value(block["statistic"])
        results[name] = {
            "latency_ms": latency,
            "latency_median_ms": timing.median_ms,
            "latency_p90_ms": timing.p90_ms,
            "fps": 1000.0 / latency,
            **{f"latency_{k}": v for k, v in mode.to_dict().items()},
        }
    return results


def val_confusion(
    model: nn.Module, lists_dir: Path, state: dict, base: dict, device: torch.device, flip: bool
) -> tuple[ConfusionMatrix, SegmentationDataset]:
    """Confusion matrix over the whole val split at full resolution."""
    dataset = SegmentationDataset(
        lists_dir / "val.txt",
        ignore_label=base["ignore_label"],
        mean=state["mean"],
        std=state["std"],
        augment=None,
    )
    batches = ((img[None], lbl[None]) for img, lbl in (dataset[i] for i in range(len(dataset))))
    return confusion(
        model, batches, base["num_classes"], base["ignore_label"], device, flip
    ), dataset


def accuracy_metrics(matrix: ConfusionMatrix, num_classes: int) -> dict[str, Any]:
    """mIoU (Cityscapes rule), pixel accuracy and IoU per class.

    A class's IoU is null only when it is neither in the val ground truth nor predicted
    (TP + FP + FN = 0); those are the classes left out of the mIoU. A class predicted but
    absent from the ground truth has IoU 0 and counts in `classes_evaluated`.
    """
    iou = matrix.iou()
    names = trainid_names(num_classes)
    defined = ~np.isnan(iou)
    return {
        "miou": matrix.miou(),
        "pixel_accuracy": matrix.pixel_accuracy(),
        "classes_evaluated": int(defined.sum()),
        "iou": {names[i]: (float(iou[i]) if defined[i] else None) for i in range(num_classes)},
    }


def size_metrics(model: nn.Module, height: int, width: int) -> dict[str, float]:
    """Parameters and multiply-accumulates of the inference network at `height` x `width`."""
    x = torch.zeros(1, 3, height, width, device=next(model.parameters()).device)
    return {"params": count_params(model), "macs": count_macs(model.eval(), x)}


def plot_confusion(path: Path, matrix: ConfusionMatrix, num_classes: int, title: str) -> None:
    """Row-normalised confusion matrix as a PNG (rows: truth, columns: prediction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = matrix.matrix.sum(1, keepdims=True)
    norm = np.divide(
        matrix.matrix, rows, out=np.zeros_like(matrix.matrix, dtype=float), where=rows > 0
    )
    names = trainid_names(num_classes)
    fig, ax = plt.subplots(figsize=(9, 8))
    ax.imshow(norm, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(num_classes), names, rotation=90, fontsize=7)
    ax.set_yticks(range(num_classes), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_overlays(
    path: Path,
    model: nn.Module,
    dataset: SegmentationDataset,
    count: int,
    num_classes: int,
    device: torch.device,
) -> None:
    """Rows of image | truth | prediction for the first `count` val frames (Cityscapes colours)."""
    import cv2

    colors = np.vstack([trainid_colors(num_classes), np.zeros((256 - num_classes, 3), np.uint8)])
    rows = []
    for i in range(min(count, len(dataset))):
        image, label = dataset.read(i)
        x, _ = dataset[i]
        pred = predict(model.eval(), x[None].to(device)).argmax(1)[0].cpu().numpy()
        truth = colors[label]
        rows.append(np.hstack([image, truth, (0.4 * image + 0.6 * colors[pred]).astype(np.uint8)]))
    grid = np.vstack(rows)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp) + ".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        Path(str(tmp) + ".png").replace(tmp)
