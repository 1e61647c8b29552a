"""Peak memory and time of the `sa` operation: fused SDPA against dense softmax(QK^T)V.

The `sa` cell attends over every position of a 1/8-resolution feature map, so at 1024x2048
it sees 32,768 tokens: a dense attention matrix per head is 4 GiB in float32. The library calls
`torch.nn.functional.scaled_dot_product_attention`, whose fused kernels never build it. This
benchmark runs the same op (same weights and input) with the library call and with a dense
`softmax(q @ k^T / sqrt(d)) @ v` swapped in, each size and variant in a fresh process, in
alternating rounds, and prints peak memory and median time with the dense/SDPA ratios.

The channels, heads and head dimension are the `search_space` block's (`--fch` overrides
the base channel factor; the published models use 16). Peak memory is the growth of the
process's maximum resident set during the timed runs on CPU, and
`torch.cuda.max_memory_allocated` on a GPU.

    python benchmarks/attention_memory.py --params params.yaml --sizes 256x512 512x1024
    python benchmarks/attention_memory.py --device cuda --fch 16 --sizes 512x1024 1024x2048
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F

from hyctas.models.ops import create_op
from hyctas.params import load_params
from hyctas.space.config import SpaceConfig

VARIANTS = ("sdpa", "dense")
STRIDE = 8  # `sa` cells live at 1/8 of the input and below; 1/8 has the most tokens


def dense_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """What SDPA computes, with the (tokens x tokens) matrix materialised."""
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ v


def _reset_cpu_peak() -> None:
    """Lower this process's RSS high-water mark to its current RSS (Linux; elsewhere the
    mark stays where the imports left it, and growth below that headroom reads as 0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(args: argparse.Namespace) -> dict[str, float]:
    """One variant at one size, in this process: peak memory growth (MB) and median ms."""
    cfg = SpaceConfig.from_params(json.loads(args.space))
    device = torch.device(args.device)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    channels = cfg.channels(0, 1.0)  # a full-width cell at 1/8
    op = create_op("sa", channels, channels, 1, cfg).to(device).eval()
    height, width = (int(s) // STRIDE for s in args.size.split("x"))
    x = torch.randn(1, channels, height, width, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    patch = (
        mock.patch.object(F, "scaled_dot_product_attention", dense_attention)
        if args.variant == "dense"
        else contextlib.nullcontext()
    )
    with torch.inference_mode(), patch:
        op(torch.randn(1, channels, 8, 8, device=device))  # kernels and allocator, not the peak
        sync()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        # CPU: the process's high-water mark, reset to its RSS now; GPU: what is allocated
        if device.type == "cpu":
            _reset_cpu_peak()
        before = _peak_mb(device) if device.type == "cpu" else torch.cuda.memory_allocated() / 2**20
        times = []
        for _ in range(args.warmup + args.repeats):
            start = time.perf_counter()
            op(x)
            sync()
            times.append(time.perf_counter() - start)
    return {
        "peak_mb": _peak_mb(device) - before,
        "ms": statistics.median(times[args.warmup :]) * 1000,
    }


def run_worker(args: argparse.Namespace, size: str, variant: str, space: dict) -> dict[str, float]:
    """`measure` in a fresh process, so that each peak starts from the same baseline."""
    cmd = [sys.executable, __file__, "--worker", "--size", size, "--variant", variant]
    cmd += ["--space", json.dumps(space), "--device", args.device, "--threads", str(args.threads)]
    cmd += ["--warmup", str(args.warmup), "--repeats", str(args.repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {"error": tail[0][:80] or f"killed ({proc.returncode})"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sizes", nargs="+", default=["256x512", "512x1024"], help="HxW inputs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--fch", type=int, default=None, help="override search_space.fch")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per process")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per variant")
    # internal: one measurement in a child process
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--space", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args)))
        return
    space = load_params(args.params)["search_space"]
    if args.fch is not None:
        space = {**space, "fch": args.fch}
    cfg = SpaceConfig.from_params(space)
    print(
        f"sa op at 1/{STRIDE}: {cfg.channels(0, 1.0)} channels, {cfg.sa_heads} heads x "
        f"{cfg.sa_head_dim}, device {args.device}, {args.threads} thread(s), "
        f"torch {torch.__version__}"
    )
    print(f"{'input':>10}{'tokens':>8}{'variant':>8}{'peak MB':>10}{'ms':>10}")
    for size in args.sizes:
        rounds: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for _ in range(args.rounds):
            for variant in VARIANTS:
                rounds[variant].append(run_worker(args, size, variant, space))
        height, width = (int(s) // STRIDE for s in size.split("x"))
        summary = {}
        for variant, results in rounds.items():
            ok = [r for r in results if "error" in r] == []
            if ok:
                summary[variant] = (
                    max(r["peak_mb"] for r in results),
                    statistics.median(r["ms"] for r in results),
                )
                peak, ms = summary[variant]
                print(f"{size:>10}{height * width:>8}{variant:>8}{peak:>10.1f}{ms:>10.2f}")
            else:
                print(f"{size:>10}{height * width:>8}{variant:>8}  failed: {results[-1]['error']}")
        if len(summary) == 2:
            (sdpa_mb, sdpa_ms), (dense_mb, dense_ms) = summary["sdpa"], summary["dense"]
            print(
                f"{size:>10}  dense/sdpa: memory {dense_mb / max(sdpa_mb, 0.1):.1f}x, "
                f"time {dense_ms / sdpa_ms:.2f}x (goal: memory >= 10x, time >= 1.0x)"
            )


if __name__ == "__main__":
    main()
