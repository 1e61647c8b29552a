"""Time per training step: the supernet running a sub-network vs that network stand-alone.

Goal (issue 4): the supernet's overhead over the stand-alone network of the same architecture is at
most 1.3x. Both are timed in the same run, interleaved, on the same batches, with the recipe of
params.yaml (loss stride, top-k, aux heads); prints a table and the median ratio.

    python benchmarks/supernet_step.py --params params.yaml --height 256 --width 512 --batch 8
    python benchmarks/supernet_step.py --device cuda --height 512 --width 1024 --amp bf16
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from hyctas.models.supernet import Supernet
from hyctas.params import load_params
from hyctas.space.config import SpaceConfig
from hyctas.space.evolve import sample_arch
from hyctas.train.loss import segmentation_loss


def step_seconds(model, x, y, arch, recipe, device, amp, repeats) -> float:
    """Median seconds of forward + backward + SGD step."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    for i in range(repeats + 1):
        sync()
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
            out = model(x, arch) if arch is not None else model(x)
        loss = segmentation_loss(
            out, y, ignore_label=255, top_k=recipe["top_k"], aux_weight=recipe["aux_weight"]
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
        if i:  # the first run builds kernels and caches
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--archs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="off", choices=["off", "bf16"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(args.params)
    recipe = params["pretrain_supernet"]["recipe"]
    cfg = SpaceConfig.from_params(params["search_space"])
    device = torch.device(args.device)
    supernet = Supernet(cfg, params["base"]["num_classes"], aux=True).to(device).train()
    supernet.train_output_stride = recipe["loss_stride"]
    x = torch.randn(args.batch, 3, args.height, args.width, device=device)
    y = torch.randint(
        0, params["base"]["num_classes"], (args.batch, args.height, args.width), device=device
    )
    rows = []
    for seed in range(args.archs):
        arch = sample_arch(cfg, np.random.default_rng(seed))
        net = supernet.extract(arch).to(device).train()
        net.train_output_stride = recipe["loss_stride"]
        alone = step_seconds(net, x, y, None, recipe, device, args.amp, args.repeats)
        shared = step_seconds(supernet, x, y, arch, recipe, device, args.amp, args.repeats)
        rows.append((arch.id, len(arch.branches), alone, shared))
    print(
        f"device {device}, threads {args.threads}, batch {args.batch}, {args.height}x{args.width}, "
        f"amp {args.amp}, loss stride {recipe['loss_stride']}, torch {torch.__version__}"
    )
    print(
        f"{'arch':14}{'branches':>9}{'alone s':>10}{'supernet s':>12}{'ratio':>8}"
        f"{'img/s (supernet)':>18}"
    )
    for arch_id, branches, alone, shared in rows:
        print(
            f"{arch_id:14}{branches:>9}{alone:>10.3f}{shared:>12.3f}{shared / alone:>8.2f}"
            f"{args.batch / shared:>18.1f}"
        )
    ratios = [s / a for _, _, a, s in rows]
    print(
        f"median ratio supernet/stand-alone: {statistics.median(ratios):.2f} (goal <= 1.30); "
        f"median supernet images/s: {statistics.median(args.batch / s for *_, s in rows):.1f}"
    )


if __name__ == "__main__":
    main()
