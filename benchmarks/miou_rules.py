"""Val mIoU of every retrained target by the Cityscapes rule and by the old present-class mean.

The pipeline reports mIoU by the Cityscapes rule (IoU = TP / (TP + FP + FN) per class, a class
left out only when TP + FP + FN = 0). Before, it averaged over the classes present in the
ground truth only, so false positives on absent classes never counted. This prints both, side
by side from the same confusion matrices, for the retrained models of a finished run on val,
and for the searched architectures' search objective (inherited supernet weights on the first
`search.images` frames of the search split, where few frames leave classes absent):

    python benchmarks/miou_rules.py --params params.yaml --retrain-dir results/retrain \
        --lists data/prepare_data/lists --supernet results/pretrain_supernet/supernet.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from hyctas.evaluation.accuracy import val_confusion
from hyctas.evaluation.inference import InferenceConfig
from hyctas.evaluation.metrics import ConfusionMatrix
from hyctas.models.factory import load_model
from hyctas.params import load_params
from hyctas.space.arch import Arch
from hyctas.train.supernet import load_supernet, search_frames, subnet_confusion


def present_class_mean(iou: np.ndarray, present: np.ndarray) -> float:
    """The old rule: mean IoU over classes with ground-truth pixels."""
    chosen = iou[present]
    return float(np.nanmean(chosen)) if chosen.size else 0.0


def row(name: str, matrix: ConfusionMatrix, num_classes: int) -> str:
    """A table row: both rules and how many classes the ground truth holds."""
    present = matrix.matrix.sum(1) + matrix.missed > 0
    old = present_class_mean(matrix.iou(), present)
    return f"| {name} | {matrix.miou():.4f} | {old:.4f} | {int(present.sum())} of {num_classes} |"


def search_objective_rows(params: dict, supernet_path: Path, lists: Path, retrain_dir: Path):
    """Both rules for each searched target's architecture, as the search scores it."""
    base, block = params["base"], params["search"]
    device = torch.device("cpu")
    supernet, cfg, state = load_supernet(supernet_path, device)
    frames = search_frames(lists, base, block, state)
    for model_path in sorted(retrain_dir.glob("*/model.pt")):
        _, model_state = load_model(model_path, device)
        if model_state["kind"] != "segnet":
            continue
        arch = Arch.from_dict(model_state["arch"], cfg)
        matrix = subnet_confusion(
            supernet, arch, frames, base, device, channels_last=block["channels_last"]
        )
        yield row(model_path.parent.name, matrix, base["num_classes"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--retrain-dir", type=Path, default=Path("results/retrain"))
    parser.add_argument("--lists", type=Path, default=Path("data/prepare_data/lists"))
    parser.add_argument("--supernet", type=Path, default=None, help="also the search objective")
    args = parser.parse_args()
    params = load_params(args.params)
    base = params["base"]
    device = torch.device("cpu")
    inference = InferenceConfig.from_params(params["evaluate"], "evaluate")
    header = "| {} | mIoU (Cityscapes rule) | mIoU (old: present classes) | classes present |"
    print(header.format("target, val"))
    print("|---|---|---|---|")
    for model_path in sorted(args.retrain_dir.glob("*/model.pt")):
        model, state = load_model(model_path, device)
        matrix, _ = val_confusion(model, args.lists, state, base, device, inference)
        print(row(model_path.parent.name, matrix, base["num_classes"]))
    if args.supernet is not None:
        print()
        print(header.format("searched architecture, search objective"))
        print("|---|---|---|---|")
        for line in search_objective_rows(params, args.supernet, args.lists, args.retrain_dir):
            print(line)


if __name__ == "__main__":
    main()
