"""Weight-sharing supernet pretraining: one sampled sub-network per step, or the sandwich rule.

`pretrain_supernet.sampling` chooses what trains at each step:

* `uniform`: one sub-network drawn with `pretrain_supernet.branch_ratios` (rho, the share of
  1, 2, 3-branch networks), the rest of its choices uniform;
* `sandwich`: the largest, the smallest and one drawn sub-network, every one on the labels;
* `sandwich_distill`: the same three, with in-place distillation (BigNAS, Once-for-All): the
  largest learns from the labels, the smallest and the drawn one from the largest's detached
  soft predictions (`distillation_loss`, KL at the loss resolution) plus
  `distill.label_weight` times their own label loss.

The supernet trains on supernet_train.txt. Probe sub-networks (smallest, largest, one fixed
random) are evaluated every `probe_every` steps on the first frames of search.txt (held out of
training; val.txt stays for evaluate) after re-estimating their BatchNorm statistics.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hyctas.data import SEARCH_LIST, SUPERNET_TRAIN_LIST
from hyctas.data.dataset import SegmentationDataset
from hyctas.errors import ConfigError
from hyctas.evaluation.accuracy import confusion
from hyctas.evaluation.batchnorm import recalibrate_bn
from hyctas.evaluation.inference import PLAIN, pad_to, padded_size
from hyctas.evaluation.metrics import ConfusionMatrix
from hyctas.models.supernet import Supernet
from hyctas.provenance import Fingerprint
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig
from hyctas.space.evolve import sample_arch
from hyctas.space.extremes import largest_arch, smallest_arch
from hyctas.train.checkpoint import save_checkpoint
from hyctas.train.config import TrainConfig
from hyctas.train.distributed import DistInfo, barrier
from hyctas.train.loop import LoopHooks, train_loop
from hyctas.train.loss import distillation_loss, segmentation_loss
from hyctas.train.session import training_dataset

STAGE = "pretrain_supernet"
SAMPLING = ("uniform", "sandwich", "sandwich_distill")


@dataclass
class EvalFrames:
    """Fixed frames that score sub-networks: BatchNorm calibration batches and search frames.

    The labelled frames come from the search split, held out of the supernet's training and
    apart from val.txt, which only `evaluate` reads: the search selects on frames the final
    evaluation never sees. BatchNorm is re-estimated on frames the supernet trained on (as
    once-for-all networks do), so no statistic is fitted to the frames being scored.

    Frames may have any size: `search` keeps each (1, 3, H, W) frame and its label at their
    own size (`subnet_confusion` pads and crops them), and each `calib` batch is padded to
    multiples of 64 covering its largest frame.
    """

    calib: list[torch.Tensor]
    search: list[tuple[torch.Tensor, torch.Tensor]]

    @classmethod
    def load(
        cls,
        lists_dir: Path,
        base: dict,
        mean: tuple,
        std: tuple,
        calib_batches: int,
        batch_size: int,
        images: int,
        images_key: str,
    ) -> EvalFrames:
        """The first full frames of supernet_train.txt (calibration) and of search.txt.

        search.txt lists its frames groups (Cityscapes: cities) in turn, so its first frames
        span the groups.

        Raises:
            ConfigError: search.txt has fewer than `images` frames (`images_key` is the
                params key that asked for them).
        """
        kw = dict(ignore_label=base["ignore_label"], mean=mean, std=std, augment=None)
        train = SegmentationDataset(lists_dir / SUPERNET_TRAIN_LIST, **kw)
        search = SegmentationDataset(lists_dir / SEARCH_LIST, **kw)
        if len(search) < images:
            raise ConfigError(
                f"{images_key} = {images}: {lists_dir / SEARCH_LIST} holds only {len(search)} "
                "frame(s); lower it or raise prepare_data.search_split.images"
            )
        n = min(len(train), calib_batches * batch_size)
        # Frames of one padded size batch together, so a small frame is not mirrored many
        # times over to a large one's size (a stable sort: one-size datasets keep their order).
        calib_images = sorted(
            (train[i][0] for i in range(n)), key=lambda x: padded_size(*x.shape[-2:])
        )
        calib = [_padded_batch(calib_images[i : i + batch_size]) for i in range(0, n, batch_size)]
        frames = [search[i] for i in range(images)]
        return cls(calib, [(img[None], lbl[None]) for img, lbl in frames])


def _padded_batch(images: list[torch.Tensor]) -> torch.Tensor:
    """(3, h, w) frames of any sizes as one (N, 3, H, W) batch the network takes.

    Each frame is mirrored (reflect-101, as `inference.infer` pads) up to the multiples of 64
    covering the batch's largest sides. Padding, rather than batches of one, keeps the
    configured batch size, so BatchNorm sees the same statistics as before when every frame
    has one size (Cityscapes' 1024x2048: no padding at all); batches of one would average
    per-frame variances and drop the spread between frames. The mirrored border is image
    content, so it moves the statistics little.
    """
    size = padded_size(max(x.shape[-2] for x in images), max(x.shape[-1] for x in images))
    return torch.cat([pad_to(x[None], size) for x in images])


def subnet_confusion(
    supernet: Supernet,
    arch: Arch,
    frames: EvalFrames,
    base: dict,
    device: torch.device,
    *,
    channels_last: bool,
) -> ConfusionMatrix:
    """Search-frame confusion matrix of `arch` with inherited weights and re-estimated BatchNorm.

    Each frame is predicted at its own size by the plain pass of `inference.infer` (padded to
    multiples of 64, the logits cropped back), so padding is never scored. `channels_last`
    runs the sub-network with NHWC weights, whose convolutions then run in NHWC: the same
    mIoU up to float rounding, faster on CPUs (`benchmarks/memory_format.py`).
    """
    net = supernet.extract(arch).to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    recalibrate_bn(net, frames.calib, device)
    return confusion(net, frames.search, base["num_classes"], base["ignore_label"], device, PLAIN)


def search_frames(
    lists_dir: Path, base: dict, search: dict, state: dict, images: int | None = None
) -> EvalFrames:
    """The frames the search scores sub-networks on, normalised as the supernet trained.

    `search` is the search block (its BatchNorm batches and `images`, unless `images` is
    given); `state` the supernet checkpoint's (`load_supernet`).
    """
    augment = state["params"]["recipe"]["augment"]
    count, key = (search["images"], "search.images") if images is None else (images, "images")
    return EvalFrames.load(
        lists_dir,
        base,
        augment["mean"],
        augment["std"],
        search["bn_calib_batches"],
        search["bn_batch_size"],
        count,
        key,
    )


def inherited_miou(
    supernet: Supernet, frames: EvalFrames, base: dict, search: dict, device: torch.device
) -> Callable[[Arch], float]:
    """The search's accuracy objective: `subnet_confusion`'s mIoU of an architecture on `frames`.

    In the memory format `search.channels_last` asks for.
    """
    channels_last = bool(search["channels_last"])

    def score(arch: Arch) -> float:
        matrix = subnet_confusion(supernet, arch, frames, base, device, channels_last=channels_last)
        return matrix.miou()

    return score


def chance_miou(frames: EvalFrames, num_classes: int, ignore_label: int) -> float:
    """mIoU of always predicting the most frequent search-frame class: what probes must beat.

    By the Cityscapes rule (`ConfusionMatrix.miou`): the predicted class c has
    TP = n_c, FP = N - n_c, FN = 0, so IoU n_c / N; every other class in the ground truth
    has IoU 0; the classes absent from it are never predicted either and are left out.
    Hence mIoU = (n_c / N) / (number of classes in the ground truth).
    """
    counts = np.zeros(num_classes, np.int64)
    for _, label in frames.search:
        values = label[(label != ignore_label) & (label < num_classes)]
        counts += np.bincount(values.numpy().ravel(), minlength=num_classes)
    present = counts > 0
    return float(counts.max() / counts.sum() / present.sum()) if counts.sum() else 0.0


def step_archs(cfg: SpaceConfig, seed: int, sampling: str) -> Any:
    """Sub-networks trained at each step, drawn from (seed, step) so resumption is exact.

    The drawn one follows `cfg.branch_ratios`; the sandwich rules put the largest first
    (the teacher of `sandwich_distill`), then the smallest, then the drawn one.
    """
    if sampling not in SAMPLING:
        raise ConfigError(f"{STAGE}.sampling: {sampling!r} (allowed: {', '.join(SAMPLING)})")
    extremes = [largest_arch(cfg), smallest_arch(cfg)]

    def archs(step: int) -> list[Arch]:
        sampled = sample_arch(cfg, np.random.default_rng([seed, 1, step]))
        return [sampled] if sampling == "uniform" else [*extremes, sampled]

    return archs


def training_space(cfg: SpaceConfig, branch_ratios: list[float]) -> SpaceConfig:
    """The search space with the training rho: what `step_archs` draws sub-networks from.

    The supernet has its own rho (`pretrain_supernet.branch_ratios`) so that training more
    3-branch networks changes neither the search's random architectures (its initial
    population, the random-search baseline) nor the latency profile's calibration draws,
    which all follow `search_space.branch_ratios`.

    Raises:
        ConfigError: not one probability per branch count, or they do not sum to 1.
    """
    try:
        return dataclasses.replace(cfg, branch_ratios=tuple(branch_ratios))
    except ConfigError as err:
        message = str(err).replace("search_space.branch_ratios", f"{STAGE}.branch_ratios")
        raise ConfigError(message) from None


def inplace_distillation(
    recipe: TrainConfig, ignore_label: int, temperature: float, label_weight: float
) -> Any:
    """`LoopHooks.loss` of `sandwich_distill`: the step's first sub-network (the largest)
    learns from the labels, every later one from its detached main logits.

    A student's loss is `distillation_loss(student, teacher)` plus `label_weight` times its
    own label loss (top-k CE with auxiliary heads); the teacher's is the label loss alone.
    """
    teacher: list[torch.Tensor] = []

    def labelled(outputs: Any, labels: torch.Tensor) -> torch.Tensor:
        return segmentation_loss(
            outputs,
            labels,
            ignore_label=ignore_label,
            top_k=recipe.top_k,
            aux_weight=recipe.aux_weight,
        )

    def loss(position: int, outputs: Any, labels: torch.Tensor) -> torch.Tensor:
        main = outputs if isinstance(outputs, torch.Tensor) else outputs[0]
        if position == 0:
            teacher[:] = [main.detach()]
            return labelled(outputs, labels)
        kd = distillation_loss(
            main, teacher[0], labels, ignore_label=ignore_label, temperature=temperature
        )
        return kd + label_weight * labelled(outputs, labels) if label_weight > 0 else kd

    return loss


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
    # The supernet's own seed (weights, sub-network draws, batch order); the probes keep
    # base.seed's random architecture, so supernets trained with different seeds probe alike.
    seed = base["seed"] if block["seed"] is None else block["seed"]
    torch.manual_seed(seed)
    dataset = training_dataset(lists_dir, SUPERNET_TRAIN_LIST, base, tcfg)
    if len(dataset) < tcfg.batch_size * info.world_size:
        raise ConfigError(
            f"{lists_dir / SUPERNET_TRAIN_LIST}: {len(dataset)} frame(s) are left to train the "
            f"supernet on, fewer than one batch ({STAGE}.recipe.batch_size = {tcfg.batch_size} "
            f"x {info.world_size} process(es)); lower prepare_data.search_split.images (the "
            "frames held out of the training split) or the batch size"
        )
    frames = EvalFrames.load(
        lists_dir,
        base,
        tcfg.augment.mean,
        tcfg.augment.std,
        block["bn_calib_batches"],
        tcfg.batch_size,
        block["probe_images"],
        f"{STAGE}.probe_images",
    )
    supernet = Supernet(
        cfg,
        base["num_classes"],
        aux=True,
        cell_sharing=block["cell_sharing"],
        head_sharing=block["head_sharing"],
    )
    probes = probe_archs(cfg, base["seed"])
    distill = block["distill"]

    def on_probe(step: int) -> dict[str, float]:
        result = (
            {
                f"probe_{name}_miou": subnet_confusion(
                    supernet, arch, frames, base, device, channels_last=tcfg.channels_last
                ).miou()
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
        archs_for_step=step_archs(
            training_space(cfg, block["branch_ratios"]), seed, block["sampling"]
        ),
        forward=lambda model, x, arch: model(x, arch),
        on_log=on_log,
        on_probe=on_probe,
        probe_every=block["probe_every"],
        loss=inplace_distillation(
            tcfg, base["ignore_label"], distill["temperature"], distill["label_weight"]
        )
        if block["sampling"] == "sandwich_distill"
        else None,
    )
    fingerprint = Fingerprint.of(
        STAGE,
        {"base": base, "space": params["search_space"], STAGE: block},
        {"lists": lists_dir},
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
                "cell_sharing": block["cell_sharing"],
                "head_sharing": block["head_sharing"],
                "params": block,
                "step": tcfg.iterations,
                "fingerprint": fingerprint.to_dict(),
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
    # Checkpoints from before these options existed share cells by position, heads by count.
    net = Supernet(
        cfg,
        state["num_classes"],
        aux=state["aux"],
        cell_sharing=state.get("cell_sharing", "position"),
        head_sharing=state.get("head_sharing", "separate"),
    )
    net.load_state_dict(state["model"])
    return net.to(device).eval(), cfg, state
