"""Timing pieces and whole networks with one protocol.

Protocol (the same for table entries and end-to-end networks): fixed `torch` thread count,
eval mode, `torch.inference_mode`, garbage collector paused, `warmup` untimed runs of each
item, then `repeats` rounds; each round times every item of a group once, in a fresh
seeded random order, with the device synchronised before and after the call (CUDA), on
the wall clock or the measuring thread's CPU clock (`clock`). A
burst of load from other programs thus lands on many items a little instead of on a few
items a lot. Items are grouped so that at most about `max_memory_mb` of weights and inputs
are alive at once. Each item's samples are summarised by median, p10, p90 and min.

Example:
    >>> with profiling(settings):
    ...     timings = time_pieces(keys, cfg, num_classes, settings)
"""

from __future__ import annotations

import contextlib
import gc
import random
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm

from hyctas.latency.keys import OpKey
from hyctas.latency.pieces import Piece, build_piece
from hyctas.latency.settings import ProfileSettings
from hyctas.models.network import SegNet
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig


@dataclass(frozen=True)
class Timing:
    """Summary of the timed runs of one item, in milliseconds."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    runs: int

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float]) -> Timing:
        """Summarises raw run times (at least one)."""
        ordered = sorted(samples_ms)

        def quantile(q: float) -> float:  # linear interpolation, as numpy's default
            pos = q * (len(ordered) - 1)
            lo = int(pos)
            hi = min(lo + 1, len(ordered) - 1)
            return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

        return cls(
            median_ms=statistics.median(ordered),
            p10_ms=quantile(0.1),
            p90_ms=quantile(0.9),
            min_ms=ordered[0],
            runs=len(ordered),
        )

    def value(self, statistic: str) -> float:
        """The summary named `statistic` ("median", "p10" or "min")."""
        return getattr(self, f"{statistic}_ms")


@contextlib.contextmanager
def profiling(settings: ProfileSettings) -> Iterator[None]:
    """Fixes the thread count, pauses the garbage collector and disables autograd."""
    threads, gc_was_enabled = torch.get_num_threads(), gc.isenabled()
    torch.set_num_threads(settings.threads)
    gc.disable()
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(threads)
        if gc_was_enabled:
            gc.enable()


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function waiting for queued device work (a no-op on CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def time_interleaved(
    runners: Sequence[Callable[[], Any]],
    warmup: int,
    repeats: int,
    sync: Callable[[], None],
    seed: int,
    progress: tqdm | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[Timing]:
    """Times each runner `repeats` times in interleaved, shuffled rounds (see module doc).

    `clock` returns seconds: `time.perf_counter` (wall) or `time.thread_time` (CPU).
    """
    for run in runners:
        for _ in range(warmup):
            run()
        sync()
        if progress is not None:
            progress.update(warmup)
    samples: list[list[float]] = [[] for _ in runners]
    rng = random.Random(seed)
    order = list(range(len(runners)))
    for _ in range(repeats):
        rng.shuffle(order)
        for i in order:
            sync()
            start = clock()
            runners[i]()
            sync()
            samples[i].append((clock() - start) * 1e3)
        if progress is not None:
            progress.update(len(order))
    return [Timing.from_samples(s) for s in samples]


def _piece_bytes(piece: Piece) -> int:
    tensors = list(piece.module.parameters()) + list(piece.module.buffers())
    stack: list[Any] = [piece.args, piece.kwargs]
    while stack:
        obj = stack.pop()
        if isinstance(obj, torch.Tensor):
            tensors.append(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
    return sum(t.numel() * t.element_size() for t in tensors)


def _grouped(pieces: Iterable[Piece], budget_bytes: int) -> Iterator[list[Piece]]:
    group, size = [], 0
    for piece in pieces:
        nbytes = _piece_bytes(piece)
        if group and size + nbytes > budget_bytes:
            yield group
            group, size = [], 0
        group.append(piece)
        size += nbytes
    if group:
        yield group


def _time_all(
    pieces: Iterable[Piece], count: int, settings: ProfileSettings, seed: int, desc: str
) -> list[Timing]:
    device, dtype = settings.torch_device(), settings.torch_dtype()
    sync = synchronizer(device)
    moved = (p.to(device, dtype) for p in pieces)
    timings: list[Timing] = []
    total = count * (settings.warmup + settings.repeats)
    with tqdm(total=total, desc=desc, unit="run", mininterval=2.0) as bar:
        for group in _grouped(moved, settings.max_memory_mb * 2**20):
            runners = [p.runner() for p in group]
            timings += time_interleaved(
                runners,
                settings.warmup,
                settings.repeats,
                sync,
                seed + len(timings),
                bar,
                settings.clock_fn(),
            )
            del group, runners
    return timings


def time_pieces(
    keys: Sequence[OpKey],
    cfg: SpaceConfig,
    num_classes: int,
    settings: ProfileSettings,
    seed: int = 0,
) -> dict[OpKey, Timing]:
    """Times the piece of every key (call inside `profiling(settings)`).

    Args:
        keys: Distinct keys (from `enumerate_keys`); each is measured once.
        cfg: The search space the keys belong to.
        num_classes: Output classes.
        settings: The protocol.
        seed: Seed of the round orders.

    Returns:
        Timing per key.
    """
    pieces = (build_piece(k, cfg, num_classes, settings.batch_size) for k in keys)
    timings = _time_all(pieces, len(keys), settings, seed, "latency table")
    return dict(zip(keys, timings, strict=True))


def time_networks(
    archs: Sequence[Arch],
    cfg: SpaceConfig,
    num_classes: int,
    settings: ProfileSettings,
    seed: int = 0,
) -> list[Timing]:
    """Times whole inference networks (`SegNet` in eval mode, no aux heads), same protocol."""
    h, w = settings.input_size

    def piece(arch: Arch) -> Piece:
        net = SegNet(arch, cfg, num_classes, aux=False).eval()
        return Piece(net, (torch.randn(settings.batch_size, 3, h, w),), {})

    return _time_all((piece(a) for a in archs), len(archs), settings, seed, "networks")
