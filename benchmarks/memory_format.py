"""Time of inherited scoring and of a training step: NCHW against channels_last (NHWC).

`search.channels_last` scores sub-networks with NHWC weights (search, rank_check);
`recipe.channels_last` (pretrain_supernet, retrain) trains in NHWC order. This script
measures what each buys on a device, with the sizes of params.yaml: for each of
`--archs` random architectures, interleaved, in the same run,

- *scoring*: `hyctas.train.supernet.subnet_confusion` as the search runs it (extract the
  sub-network, re-estimate BatchNorm on `bn_calib_batches` x `bn_batch_size` frames, predict
  `search.images` frames one by one), and the mIoU difference of the two formats (float
  sums in another order: near-tied pixels of an untrained network may flip);
- *training*: forward + backward + SGD step of the stand-alone network, batch `--batch`.

The supernet is freshly initialised and the frames random: timing does not depend on the
weights. Prints one row per architecture and the median ratio NCHW / NHWC (> 1: NHWC faster).

    python benchmarks/memory_format.py --params params.yaml --archs 8 --threads 2 --images 12
    python benchmarks/memory_format.py --device cuda --archs 8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hyctas.models.supernet import Supernet
from hyctas.params import load_params
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig
from hyctas.space.evolve import sample_arch
from hyctas.train.supernet import EvalFrames, subnet_confusion

if str(Path(__file__).resolve().parent) not in sys.path:  # its sibling, when imported by path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import supernet_step  # noqa: E402

FORMATS = (False, True)  # channels_last off, on


def random_frames(params: dict, height: int, width: int, seed: int) -> EvalFrames:
    """Calibration batches and labelled search frames of the search block's counts."""
    block, classes = params["search"], params["base"]["num_classes"]
    gen = torch.Generator().manual_seed(seed)
    calib = [
        torch.randn(block["bn_batch_size"], 3, height, width, generator=gen)
        for _ in range(block["bn_calib_batches"])
    ]
    search = [
        (
            torch.randn(1, 3, height, width, generator=gen),
            torch.randint(0, classes, (1, height, width), generator=gen),
        )
        for _ in range(block["images"])
    ]
    return EvalFrames(calib, search)


def scoring_seconds(
    supernet: Supernet,
    arch: Arch,
    frames: EvalFrames,
    base: dict,
    device: torch.device,
    channels_last: bool,
) -> tuple[float, float]:
    """Seconds and mIoU of one inherited scoring."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    matrix = subnet_confusion(supernet, arch, frames, base, device, channels_last=channels_last)
    miou = matrix.miou()
    sync()
    return time.perf_counter() - start, miou


def step_seconds(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    recipe: dict,
    device: torch.device,
    channels_last: bool,
    repeats: int,
) -> float:
    """Median seconds of a training step of `net` (`supernet_step`'s) in the given format."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt).train()
    x = x.contiguous(memory_format=fmt)
    return supernet_step.step_seconds(net, x, y, None, recipe, device, "off", repeats)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--height", type=int, help="frame height (default: the synthetic data's)")
    parser.add_argument("--width", type=int, help="frame width (default: the synthetic data's)")
    parser.add_argument("--images", type=int, help="frames scored (default: search.images)")
    parser.add_argument("--batch", type=int, default=8, help="training batch")
    parser.add_argument("--crop", type=int, nargs=2, default=(256, 256), help="training crop")
    parser.add_argument("--archs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="training steps timed per arch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(args.params)
    base, recipe = params["base"], params["retrain"]["recipe"]
    synthetic = params["prepare_data"]["synthetic"]
    height, width = args.height or synthetic["height"], args.width or synthetic["width"]
    cfg = SpaceConfig.from_params(params["search_space"])
    device = torch.device(args.device)
    supernet = Supernet(cfg, base["num_classes"], aux=True).to(device).eval()
    if args.images:
        params = {**params, "search": {**params["search"], "images": args.images}}
    frames = random_frames(params, height, width, base["seed"])
    x = torch.randn(args.batch, 3, *args.crop, device=device)
    y = torch.randint(0, base["num_classes"], (args.batch, *args.crop), device=device)
    print(
        f"device {device}, threads {args.threads}, torch {torch.__version__}; scoring: "
        f"{len(frames.search)} frames {height}x{width}, BN on {len(frames.calib)} batch(es); "
        f"training: batch {args.batch}, crop {args.crop[0]}x{args.crop[1]}"
    )
    print(f"{'arch':14}{'br':>3}{'score NCHW':>11}{'NHWC':>8}{'ratio':>7}"
          f"{'step NCHW':>11}{'NHWC':>8}{'ratio':>7}{'|dmIoU|':>9}")  # fmt: skip
    score_ratios, step_ratios = [], []
    for seed in range(args.archs):
        arch = sample_arch(cfg, np.random.default_rng(seed))
        score = {fmt: [] for fmt in FORMATS}
        mious = {}
        for fmt in (*FORMATS, *reversed(FORMATS)):  # ABBA: drift cancels
            seconds, mious[fmt] = scoring_seconds(supernet, arch, frames, base, device, fmt)
            score[fmt].append(seconds)
        net = supernet.extract(arch).to(device)
        net.train_output_stride = recipe["loss_stride"]
        step = {fmt: step_seconds(net, x, y, recipe, device, fmt, args.repeats) for fmt in FORMATS}
        s0, s1 = (statistics.mean(score[fmt]) for fmt in FORMATS)
        score_ratios.append(s0 / s1)
        step_ratios.append(step[False] / step[True])
        diff = abs(mious[False] - mious[True])
        print(
            f"{arch.id:14}{len(arch.branches):>3}{s0:>11.3f}{s1:>8.3f}{s0 / s1:>7.2f}"
            f"{step[False]:>11.3f}{step[True]:>8.3f}{step_ratios[-1]:>7.2f}{diff:>9.1e}"
        )
    print(
        f"median ratio NCHW / channels_last: scoring {statistics.median(score_ratios):.2f}, "
        f"training step {statistics.median(step_ratios):.2f} (> 1: channels_last faster)"
    )


if __name__ == "__main__":
    main()
