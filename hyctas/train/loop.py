"""The training loop shared by supernet pretraining and retraining.

It is resumable step for step: batches come from a step-indexed sampler, per-step randomness
(which sub-network to train) is drawn from (seed, step), and checkpoints hold the model,
optimizer, scheduler, RNG states and history. SIGTERM/SIGINT checkpoint and raise Preempted.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from hyctas.errors import HyctasError
from hyctas.provenance import Fingerprint
from hyctas.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from hyctas.train.config import TrainConfig
from hyctas.train.distributed import DistInfo
from hyctas.train.loss import segmentation_loss
from hyctas.train.sampler import StepBatchSampler
from hyctas.train.schedule import make_optimizer, warmup_poly
from hyctas.train.signals import Preempted, StopRequest, ignore_stop_signals


class Diverged(HyctasError):
    """The loss became NaN or infinite."""


@dataclass
class LoopHooks:
    """What differs between stages.

    archs_for_step: sub-networks trained at a step ([None] for a fixed network); several
        (the sandwich rule) accumulate their gradients in one step.
    forward: runs the model on images for one of those archs.
    on_log: receives (step, metrics) every `log_every` steps (rank 0).
    on_probe: optional (step) -> metrics, called every `probe_every` steps and at the end.
    loss: optional (position in the step's archs, outputs, labels) -> loss; None: the
        recipe's label loss (top-k CE plus auxiliary heads). The sandwich rule with in-place
        distillation uses it: the first sub-network's outputs teach the others.
    """

    archs_for_step: Callable[[int], list[Any]]
    forward: Callable[[torch.nn.Module, torch.Tensor, Any], Any]
    on_log: Callable[[int, dict[str, float]], None] = lambda step, metrics: None
    on_probe: Callable[[int], dict[str, float]] | None = None
    probe_every: int = 0
    loss: Callable[[int, Any, torch.Tensor], torch.Tensor] | None = None


@dataclass
class LoopResult:
    """The trained model's state and the logged history."""

    history: list[dict[str, float]] = field(default_factory=list)
    probes: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int = 0

    def summary(self, seconds: float) -> dict[str, float]:
        """Metrics every training stage reports: final loss (mean of the last 3 records),
        mean images/s, wall seconds of this run and the step it resumed from.

        Their names differ from the per-step curve's (`loss`, `images_per_s`): MLflow keeps
        one latest value per name, and a summary must not be hidden by the curve's last step.
        """
        tail = self.history[-3:]
        speeds = [r["images_per_s"] for r in self.history]
        return {
            "final_loss": sum(r["loss"] for r in tail) / len(tail) if tail else float("nan"),
            "mean_images_per_s": sum(speeds) / len(speeds) if speeds else 0.0,
            "seconds": round(seconds, 1),
            "resumed_from_step": self.resumed_from,
        }


def _autocast(cfg: TrainConfig, device: torch.device):
    if cfg.amp == "fp32" or device.type != "cuda":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast("cuda", dtype=torch.bfloat16 if cfg.amp == "bf16" else torch.float16)


def _stop_everywhere(requested: bool, info: DistInfo, device: torch.device) -> bool:
    """Whether any rank was signalled: all ranks then checkpoint and stop at the same step."""
    if info.world_size == 1:
        return requested
    import torch.distributed as dist

    flag = torch.tensor([float(requested)], device=device)  # nccl reduces GPU tensors only
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def train_loop(
    model: torch.nn.Module,
    dataset: Dataset,
    cfg: TrainConfig,
    hooks: LoopHooks,
    *,
    device: torch.device,
    info: DistInfo,
    seed: int,
    ignore_label: int,
    checkpoint_path: Path,
    fingerprint: Fingerprint,
    extra_state: dict[str, Any] | None = None,
    stop_after: int | None = None,
    progress: bool = True,
) -> LoopResult:
    """Train `model` for `cfg.iterations` steps, resuming from `checkpoint_path` when it matches.

    Args:
        fingerprint: digests of everything that defines the run (params, input files, code);
            a checkpoint with another fingerprint is ignored: the run starts over, and says
            which part changed.
        extra_state: saved in every checkpoint (for example the architecture).
        stop_after: stop (checkpointed, Preempted raised) after this step, as if signalled;
            for tests of resumption.
    """
    model.to(device)
    if hasattr(model, "train_output_stride"):
        model.train_output_stride = cfg.loss_stride  # eval mode always predicts at full size
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, cfg.lr, cfg.momentum, cfg.weight_decay)
    scheduler = warmup_poly(optimizer, cfg.iterations, cfg.warmup_iters, cfg.poly_power)
    scaler = torch.amp.GradScaler(enabled=cfg.amp == "fp16" and device.type == "cuda")
    result, step = LoopResult(), 0
    if checkpoint_path.is_file():
        state = load_checkpoint(checkpoint_path)
        if not fingerprint.matches(state.get("fingerprint")):
            print(
                f"{checkpoint_path}: made for other inputs "
                f"({fingerprint.changes(state.get('fingerprint'))}); training from step 0",
                file=sys.stderr,
            )
        else:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if state.get("scaler"):  # fp16 on a GPU: resume with the loss scale it had reached
                scaler.load_state_dict(state["scaler"])
            set_rng_state(state["rng"])
            step = result.resumed_from = state["step"]
            result.history, result.probes = state["history"], state["probes"]
    trained = (
        DistributedDataParallel(model, find_unused_parameters=True)
        if info.world_size > 1
        else model
    )

    def checkpoint(at: int) -> None:
        if info.is_main:
            save_checkpoint(
                checkpoint_path,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),  # empty unless fp16 AMP is on
                    "rng": rng_state(),
                    "step": at,
                    "fingerprint": fingerprint.to_dict(),
                    "history": result.history,
                    "probes": result.probes,
                    **(extra_state or {}),
                },
            )

    sampler = StepBatchSampler(
        len(dataset), cfg.batch_size, seed, cfg.iterations, step, info.rank, info.world_size
    )
    loader = DataLoader(
        dataset, batch_sampler=sampler, num_workers=cfg.workers, worker_init_fn=ignore_stop_signals
    )
    bar = tqdm(
        total=cfg.iterations,
        initial=step,
        desc="train",
        unit="step",
        disable=not (progress and info.is_main),
    )
    trained.train()
    tick = time.perf_counter()
    with StopRequest() as stop:
        for images, labels in loader:
            images, labels = (
                images.to(device, non_blocking=True),
                labels.to(device, non_blocking=True),
            )
            if cfg.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            archs = hooks.archs_for_step(step)
            total = 0.0
            for position, arch in enumerate(archs):
                with _autocast(cfg, device):
                    outputs = hooks.forward(trained, images, arch)
                if hooks.loss is not None:
                    loss = hooks.loss(position, outputs, labels)
                else:
                    loss = segmentation_loss(
                        outputs,
                        labels,
                        ignore_label=ignore_label,
                        top_k=cfg.top_k,
                        aux_weight=cfg.aux_weight,
                    )
                loss = loss / len(archs)
                if not torch.isfinite(loss):
                    raise Diverged(
                        f"loss is {loss.item()} at step {step}; lower the learning rate "
                        "(lr) or enable grad_clip; the last checkpoint is kept"
                    )
                scaler.scale(loss).backward()
                total += loss.item()
            scaler.unscale_(optimizer)
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            bar.update()
            if step % cfg.log_every == 0 or step == cfg.iterations:
                seconds = time.perf_counter() - tick
                tick = time.perf_counter()
                steps = cfg.log_every if step % cfg.log_every == 0 else step % cfg.log_every
                record = {
                    "step": step,
                    "loss": total,
                    "lr": scheduler.get_last_lr()[0],
                    "images_per_s": steps * cfg.batch_size * info.world_size / max(seconds, 1e-9),
                }
                bar.set_postfix(
                    loss=f"{total:.3f}",
                    lr=f"{record['lr']:.4f}",
                    img_s=f"{record['images_per_s']:.1f}",
                )
                result.history.append(record)
                if info.is_main:
                    hooks.on_log(step, record)
            if hooks.on_probe and (
                (hooks.probe_every and step % hooks.probe_every == 0) or step == cfg.iterations
            ):
                probe = {"step": step, **hooks.on_probe(step)}
                result.probes.append(probe)
                trained.train()
            if step % cfg.checkpoint_every == 0 or step == cfg.iterations:
                checkpoint(step)
            if _stop_everywhere(stop.requested, info, device) or (
                stop_after is not None and step >= stop_after and step < cfg.iterations
            ):
                checkpoint(step)
                bar.close()
                why = stop.signal_name or "stop_after"
                raise Preempted(
                    f"{why} received at step {step}/{cfg.iterations}: checkpoint saved to "
                    f"{checkpoint_path}; run the stage again to resume"
                )
    bar.close()
    return result
