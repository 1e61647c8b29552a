"""Val mIoU of every retrained target by the Cityscapes rule and by the old present-class mean.

The pipeline reports mIoU by the Cityscapes rule (IoU = TP / (TP + FP + FN) per class, a class
left out only when TP + FP + FN = 0). Before, it averaged over the classes present in the
ground truth only, so false positives on absent classes never counted. This prints both for the
models of a finished run, side by side, from the same confusion matrices:

    python benchmarks/miou_rules.py --params params.yaml --retrain-dir results/retrain \
        --lists data/prepare_data/lists
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from hyctas.evaluate import val_confusion
from hyctas.models.factory import load_model
from hyctas.params import load_params


def present_class_mean(iou: np.ndarray, present: np.ndarray) -> float:
    """The old rule: mean IoU over classes with ground-truth pixels."""
    chosen = iou[present]
    return float(np.nanmean(chosen)) if chosen.size else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--retrain-dir", type=Path, default=Path("results/retrain"))
    parser.add_argument("--lists", type=Path, default=Path("data/prepare_data/lists"))
    args = parser.parse_args()
    params = load_params(args.params)
    base = params["base"]
    device = torch.device("cpu")
    print("| target | mIoU (Cityscapes rule) | mIoU (old: present classes) | classes in val |")
    print("|---|---|---|---|")
    for model_path in sorted(args.retrain_dir.glob("*/model.pt")):
        model, state = load_model(model_path, device)
        matrix, _ = val_confusion(
            model, args.lists, state, base, device, params["evaluate"]["flip"]
        )
        present = matrix.matrix.sum(1) + matrix.missed > 0
        old = present_class_mean(matrix.iou(), present)
        print(
            f"| {model_path.parent.name} | {matrix.miou():.4f} | {old:.4f} | "
            f"{int(present.sum())} of {base['num_classes']} |"
        )


if __name__ == "__main__":
    main()
