"""Measured latency: end-to-end batch-1 forward passes, with `profile_latency`'s protocol.

Latency is measured in eval mode on the configured device (warm-up, synchronisation or CUDA
events, median of repeats, fixed threads), in the dtype, memory format and compilation of
`profile_latency` (a `RunMode`), so the measured program is the one the latency table
predicts. It times the plain single pass at `evaluate.latency.height` x `width`, whatever
test-time inference (flip, scales, windows) the mIoU used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from hyctas.latency.runmode import RunMode


def measure_latency_ms(model: nn.Module, block: dict, mode: RunMode) -> dict[str, Any]:
    """End-to-end latency of one batch-1 forward pass, with profile_latency's protocol.

    `block` is `evaluate.latency`: device, size, threads, clock (cpu: CPU time of the timing
    thread, robust to other programs; wall: elapsed, CUDA events on a GPU), warm-up, repeats,
    the seconds the repeats are spread over and the statistic reported as `latency_ms` (FPS
    is its inverse). `mode` is `RunMode.from_params(params["profile_latency"])`: the dtype,
    memory format and compilation the latency table was measured in. `model` is left as it
    was (a copy is cast and compiled).
    """
    return measure_latencies_ms({"model": model}, block, mode)["model"]


def measure_latencies_ms(
    models: Mapping[str, nn.Module], block: dict, mode: RunMode
) -> dict[str, dict]:
    """`measure_latency_ms` of several models timed side by side in the same rounds.

    Each round runs every model once, in a shuffled order, so a slow stretch of a shared
    machine slows them all alike and their latencies compare fairly (a paired comparison).

    Raises:
        ConfigError: A clock that cannot time this device, or too few warm-up runs to
            cover compilation (named `evaluate.latency.<key>`).
    """
    from hyctas.latency.settings import checked_clock
    from hyctas.latency.timing import stopwatch_for, synchronizer, time_interleaved

    device = torch.device(block["device"])
    clock = checked_clock(block["clock"], device, block["threads"], "evaluate.latency.clock")
    mode.check_warmup(block["warmup"], "evaluate.latency.warmup")
    nets = [mode.prepare(model, device) for model in models.values()]
    x = mode.move(torch.randn(1, 3, block["height"], block["width"]), device)
    threads = torch.get_num_threads()
    torch.set_num_threads(block["threads"])
    try:
        with torch.inference_mode(), mode.compiling():
            timings = time_interleaved(
                [lambda net=net: net(x) for net in nets],
                block["warmup"],
                block["repeats"],
                synchronizer(device),
                seed=0,
                pause_s=block["spread_seconds"] / block["repeats"],
                stopwatch=stopwatch_for(device, clock),
            )
    finally:
        torch.set_num_threads(threads)
    results = {}
    for name, timing in zip(models, timings, strict=True):
        latency = timing.value(block["statistic"])
        results[name] = {
            "latency_ms": latency,
            "latency_median_ms": timing.median_ms,
            "latency_p90_ms": timing.p90_ms,
            "fps": 1000.0 / latency,
            **{f"latency_{k}": v for k, v in mode.to_dict().items()},
        }
    return results
