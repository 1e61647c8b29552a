"""DDP under `torchrun`: WORLD_SIZE > 1 selects it; gloo on CPU, nccl on GPU."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only rank 0 writes outputs and logs."""
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes (a no-op when WORLD_SIZE is 1 or unset)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def resolve_device(name: str, info: DistInfo | None = None) -> torch.device:
    """`cpu`, `cuda`, `cuda:N` or `auto` -> a torch device (one GPU per local rank)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            from hyctas.errors import ConfigError

            raise ConfigError(
                "base.device asks for cuda but no GPU is visible; set base.device: cpu"
            )
        if name == "cuda":
            local = info.local_rank if info else int(os.environ.get("LOCAL_RANK", "0"))
            name = f"cuda:{local}"
    return torch.device(name)


def all_reduce_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum a tensor over ranks (returns it unchanged in a single process)."""
    if info.world_size > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(info: DistInfo) -> None:
    """Wait for every rank."""
    if info.world_size > 1:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    """Leave the process group."""
    if info.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
