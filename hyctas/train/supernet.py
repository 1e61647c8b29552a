"""Weight-sharing supernet pretraining: one sampled sub-network per step (or the sandwich rule).

Probe sub-networks (smallest, largest, one fixed random) are evaluated every `probe_every`
steps on a few validation frames after re-estimating their BatchNorm statistics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hyctas.data.dataset import SegmentationDataset
from hyctas.evaluation import confusion, recalibrate_bn
from hyctas.models.supernet import Supernet
from hyctas.params import params_hash
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig
from hyctas.space.evolve import sample_arch
from hyctas.space.extremes import largest_arch, smallest_arch
from hyctas.train.checkpoint import save_checkpoint
from hyctas.train.config import TrainConfig
from hyctas.train.distributed import DistInfo, barrier
from hyctas.train.loop import LoopHooks, train_loop
from hyctas.train.session import training_dataset

STAGE = "pretrain_supernet"


@dataclass
class EvalFrames:
    """Fixed frames for sub-network evaluation: BN calibration images and labelled val frames."""

    calib: list[torch.Tensor]
    val: list[tuple[torch.Tensor, torch.Tensor]]

    @classmethod
    def load(
        cls,
        lists_dir: Path,
        base: dict,
        mean: tuple,
        std: tuple,
        calib_batches: int,
        batch_size: int,
        val_images: int,
    ) -> EvalFrames:
        """The first frames of the train list (full frames) and of the val list."""
        kw = dict(ignore_label=base["ignore_label"], mean=mean, std=std, augment=None)
        train = SegmentationDataset(lists_dir / "train.txt", **kw)
        val = SegmentationDataset(lists_dir / "val.txt", **kw)
        n = min(len(train), calib_batches * batch_size)
        images = [train[i][0] for i in range(n)]
        calib = [torch.stack(images[i : i + batch_size]) for i in range(0, n, batch_size)]
        frames = [val[i] for i in range(min(len(val), val_images))]
        return cls(calib, [(img[None], lbl[None]) for img, lbl in frames])


def subnet_miou(
    supernet: Supernet, arch: Arch, frames: EvalFrames, base: dict, device: torch.device
) -> float:
    """Val mIoU of `arch` with inherited weights and re-estimated BatchNorm statistics."""
    net = supernet.extract(arch).to(device)
    recalibrate_bn(net, frames.calib, device)
    return confusion(net, frames.val, base["num_classes"], base["ignore_label"], device).miou()


def chance_miou(frames: EvalFrames, num_classes: int, ignore_label: int) -> float:
    """mIoU of always predicting the most frequent val class: the level probes must beat."""
    counts = np.zeros(num_classes, np.int64)
    for _, label in frames.val:
        values = label[(label != ignore_label) & (label < num_classes)]
        counts += np.bincount(values.numpy().ravel(), minlength=num_classes)
    present = counts > 0
    return float(counts.max() / counts.sum() / present.sum()) if counts.sum() else 0.0


def step_archs(cfg: SpaceConfig, seed: int, sampling: str) -> Any:
    """Sub-networks trained at each step, drawn from (seed, step) so resumption is exact."""
    extremes = [largest_arch(cfg), smallest_arch(cfg)]

    def archs(step: int) -> list[Arch]:
        sampled = sample_arch(cfg, np.random.default_rng([seed, 1, step]))
        return [*extremes, sampled] if sampling == "sandwich" else [sampled]

    return archs


def probe_archs(cfg: SpaceConfig, seed: int) -> dict[str, Arch]:
    """The fixed probes: smallest, largest and one random sub-network."""
    return {
        "smallest": smallest_arch(cfg),
        "largest": largest_arch(cfg),
        "random": sample_arch(cfg, np.random.default_rng([seed, 2])),
    }


def pretrain(
    params: dict,
    lists_dir: Path,
    out: Path,
    checkpoint: Path,
    *,
    device: torch.device,
    info: DistInfo,
    on_log=lambda step, m: None,
    stop_after: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the supernet; rank 0 writes `out` (weights + what rebuilds them). Returns a summary."""
    base, block = params["base"], params[STAGE]
    cfg = SpaceConfig.from_params(params["search_space"])
    tcfg = TrainConfig.from_params(block["recipe"], f"{STAGE}.recipe")
    seed = base["seed"]
    torch.manual_seed(seed)
    dataset = training_dataset(lists_dir, base, tcfg)
    frames = EvalFrames.load(
        lists_dir,
        base,
        tcfg.augment.mean,
        tcfg.augment.std,
        block["bn_calib_batches"],
        tcfg.batch_size,
        block["probe_val_images"],
    )
    supernet = Supernet(cfg, base["num_classes"], aux=True)
    probes = probe_archs(cfg, seed)

    def on_probe(step: int) -> dict[str, float]:
        result = (
            {
                f"probe_{name}_miou": subnet_miou(supernet, arch, frames, base, device)
                for name, arch in probes.items()
            }
            if info.is_main
            else {}
        )
        barrier(info)
        if info.is_main:
            on_log(step, result)
        return result

    hooks = LoopHooks(
        archs_for_step=step_archs(cfg, seed, block["sampling"]),
        forward=lambda model, x, arch: model(x, arch),
        on_log=on_log,
        on_probe=on_probe,
        probe_every=block["probe_every"],
    )
    fingerprint = params_hash(
        {
            "base": base,
            "space": params["search_space"],
            STAGE: block,
            "lists": (lists_dir / "train.txt").read_text(),
        }
    )
    start = time.perf_counter()
    result = train_loop(
        supernet,
        dataset,
        tcfg,
        hooks,
        device=device,
        info=info,
        seed=seed,
        ignore_label=base["ignore_label"],
        checkpoint_path=checkpoint,
        fingerprint=fingerprint,
        stop_after=stop_after,
        progress=progress,
    )
    if info.is_main:
        save_checkpoint(
            out,
            {
                "model": supernet.state_dict(),
                "search_space": params["search_space"],
                "num_classes": base["num_classes"],
                "aux": True,
                "params": block,
                "step": tcfg.iterations,
                "fingerprint": fingerprint,
            },
        )
    last = result.probes[-1] if result.probes else {}
    return {
        "history": result.history,
        "probes": result.probes,
        "metrics": {
            **result.summary(time.perf_counter() - start),
            "chance_miou": chance_miou(frames, base["num_classes"], base["ignore_label"]),
            **{k: v for k, v in last.items() if k != "step"},
        },
    }


def load_supernet(path: Path, device: torch.device) -> tuple[Supernet, SpaceConfig, dict]:
    """Rebuild a pretrained supernet from its checkpoint (safe `weights_only` load)."""
    from hyctas.train.checkpoint import load_checkpoint

    state = load_checkpoint(path, map_location=device)
    cfg = SpaceConfig.from_params(state["search_space"])
    net = Supernet(cfg, state["num_classes"], aux=state["aux"])
    net.load_state_dict(state["model"])
    return net.to(device).eval(), cfg, state
