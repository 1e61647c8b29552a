"""Timing pieces and whole networks with one protocol.

Protocol (the same for table entries and end-to-end networks): fixed `torch` thread count,
eval mode, `torch.inference_mode`, garbage collector paused, `warmup` untimed runs of each
item, then interleaved rounds; each round times items of a group once, in a fresh seeded
random order. A burst of load from other programs thus lands on many items a little
instead of on a few items a lot. Items are grouped so that at most about `max_memory_mb`
of weights and inputs are alive at once. On a CPU each call is timed on the wall clock or
the measuring thread's CPU clock (`clock`); on a GPU (`stopwatch`) the device is
synchronised first, so no earlier work is counted, and the call is timed by CUDA events
recorded around it on its stream, whose end is waited for before the next call. Each item
runs in the `RunMode` of the settings (dtype, channels_last, compile); a compiled item
compiles during its warm-up. Each item's samples are summarised by median, p10, p90 and min.

`time_table_and_networks` times the table pieces and the whole calibration/validation
networks in the *same* rounds (each network's runs spread over every group), so both sides
of the fit see the same machine: on a shared VM whose speed drifts by 5-30 % over minutes,
timing the networks after the table left MAPE between 1.7 and 7 % from run to run.

Example:
    >>> with profiling(settings):
    ...     table, networks = time_table_and_networks(keys, archs, cfg, num_classes, settings)
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


Stopwatch = Callable[[Callable[[], Any]], float]


def host_stopwatch(sync: Callable[[], None], clock: Callable[[], float]) -> Stopwatch:
    """Milliseconds of one call on `clock` (seconds), `sync` waited for before and after."""

    def time_ms(run: Callable[[], Any]) -> float:
        sync()
        start = clock()
        run()
        sync()
        return (clock() - start) * 1e3

    return time_ms


def cuda_stopwatch(device: torch.device) -> Stopwatch:
    """Milliseconds of one call on a GPU, from CUDA events recorded around it.

    The device is synchronised first (earlier queued work is not counted), a start event
    is recorded on the device's current stream, the call queues its kernels, an end event
    follows them, and the host waits for the end event before reading the elapsed time.
    The events time the device: kernels plus any gaps while it waited for the host to
    launch the next one, which is what an application waits for, without the host's
    synchronisation overhead at the end.
    """
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)

    def time_ms(run: Callable[[], Any]) -> float:
        torch.cuda.synchronize(device)
        stream = torch.cuda.current_stream(device)
        start.record(stream)
        run()
        end.record(stream)
        end.synchronize()
        return start.elapsed_time(end)

    return time_ms


def stopwatch_for(device: torch.device, clock: Callable[[], float]) -> Stopwatch:
    """CUDA events on a GPU (checked_clock makes `clock` the wall clock there), else `clock`."""
    if device.type == "cuda":
        return cuda_stopwatch(device)
    return host_stopwatch(synchronizer(device), clock)


def round_members(repeats: Sequence[int]) -> list[list[int]]:
    """Runner indices timed in each round: runner i in `repeats[i]` of `max(repeats)` rounds,
    spread evenly (a runner with half the repeats runs every other round)."""
    total = max(repeats, default=0)
    return [
        [i for i, n in enumerate(repeats) if (r + 1) * n // total > r * n // total]
        for r in range(total)
    ]


def interleaved_samples(
    runners: Sequence[Callable[[], Any]],
    warmup: Sequence[int],
    repeats: Sequence[int],
    sync: Callable[[], None],
    seed: int,
    progress: tqdm | None = None,
    clock: Callable[[], float] = time.perf_counter,
    pause_s: float = 0.0,
    stopwatch: Stopwatch | None = None,
) -> list[list[float]]:
    """Raw run times (ms) of each runner: `warmup[i]` untimed runs, then `repeats[i]` timed
    runs in interleaved, shuffled rounds (see module doc), with `pause_s` of sleep after each
    round (spreads a few items' runs over more of a shared machine's quiet and busy spells).
    `stopwatch` times one call (default: `clock` with `sync` before and after; on a GPU pass
    `stopwatch_for(device, clock)`, which uses CUDA events)."""
    time_ms = stopwatch or host_stopwatch(sync, clock)
    for run, n in zip(runners, warmup, strict=True):
        for _ in range(n):
            run()
        sync()
        if progress is not None:
            progress.update(n)
    samples: list[list[float]] = [[] for _ in runners]
    rng = random.Random(seed)
    for order in round_members(repeats):
        rng.shuffle(order)
        for i in order:
            samples[i].append(time_ms(runners[i]))
        if progress is not None:
            progress.update(len(order))
        if pause_s > 0:
            time.sleep(pause_s)
    return samples


def time_interleaved(
    runners: Sequence[Callable[[], Any]],
    warmup: int,
    repeats: int,
    sync: Callable[[], None],
    seed: int,
    progress: tqdm | None = None,
    clock: Callable[[], float] = time.perf_counter,
    pause_s: float = 0.0,
    stopwatch: Stopwatch | None = None,
) -> list[Timing]:
    """Times each runner `repeats` times in interleaved, shuffled rounds (see module doc).

    `clock` returns seconds: `time.perf_counter` (wall) or `time.thread_time` (CPU);
    `pause_s` is slept after each round; `stopwatch` as in `interleaved_samples`.
    """
    n = len(runners)
    samples = interleaved_samples(
        runners, [warmup] * n, [repeats] * n, sync, seed, progress, clock, pause_s, stopwatch
    )
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


def network_piece(
    arch: Arch, cfg: SpaceConfig, num_classes: int, settings: ProfileSettings
) -> Piece:
    """The whole inference network of `arch` (`SegNet` in eval mode, no aux heads) on one batch."""
    net = SegNet(arch, cfg, num_classes, aux=False).eval()
    h, w = settings.input_size
    return Piece(net, (torch.randn(settings.batch_size, 3, h, w),), {})


def time_table_and_networks(
    keys: Sequence[OpKey],
    archs: Sequence[Arch],
    cfg: SpaceConfig,
    num_classes: int,
    settings: ProfileSettings,
    seed: int = 0,
) -> tuple[dict[OpKey, Timing], list[Timing]]:
    """Times the piece of every key and the whole network of every arch in shared rounds.

    Call inside `profiling(settings)`. Every piece and network runs in `settings.run_mode()`
    (compiled ones compile during their warm-up). Pieces are built group by group (memory
    bound); the
    networks stay alive throughout and their `network_repeats` runs are shared out over the
    groups in proportion to the pieces each holds, so both are timed over the same minutes.

    Args:
        keys: Distinct keys (from `enumerate_keys`); each is measured once.
        archs: Architectures timed end to end (calibration and validation).
        cfg: The search space the keys belong to.
        num_classes: Output classes.
        settings: The protocol (`repeats` per piece, `network_repeats` per network).
        seed: Seed of the round orders.

    Returns:
        Timing per key, and one timing per arch in the order given.
    """
    device, mode = settings.torch_device(), settings.run_mode()
    sync, stopwatch = synchronizer(device), stopwatch_for(device, settings.clock_fn())
    nets = [network_piece(a, cfg, num_classes, settings).prepare(device, mode) for a in archs]
    net_runners = [n.runner() for n in nets]
    net_bytes = sum(_piece_bytes(n) for n in nets)
    budget = max(settings.max_memory_mb * 2**20 - net_bytes, 1)
    pieces = (build_piece(k, cfg, num_classes, settings.batch_size) for k in keys)
    moved = (p.prepare(device, mode) for p in pieces)
    piece_timings: list[Timing] = []
    net_samples: list[list[float]] = [[] for _ in nets]
    runs = len(keys) * (settings.warmup + settings.repeats)
    runs += len(nets) * (settings.warmup + settings.network_repeats)
    given = 0  # network runs handed out to the groups so far
    bar = tqdm(total=runs, desc="latency table + networks", unit="run", mininterval=2.0)
    with bar, mode.compiling():
        for g, group in enumerate(_grouped(moved, budget)):
            done = len(piece_timings)
            # Network runs owed after this group: proportional to the pieces timed so far.
            owed = settings.network_repeats * (done + len(group)) // max(len(keys), 1)
            share, given = owed - given, owed
            runners = [p.runner() for p in group] + net_runners
            warmup = [settings.warmup] * len(group) + [settings.warmup if g == 0 else 0] * len(nets)
            repeats = [settings.repeats] * len(group) + [share] * len(nets)
            samples = interleaved_samples(
                runners, warmup, repeats, sync, seed + done, bar, stopwatch=stopwatch
            )
            piece_timings += [Timing.from_samples(s) for s in samples[: len(group)]]
            for kept, new in zip(net_samples, samples[len(group) :], strict=True):
                kept.extend(new)
            del group, runners
    table = dict(zip(keys, piece_timings, strict=True))
    return table, [Timing.from_samples(s) for s in net_samples]
