"""Every GPU figure of the project from one command that fits 8 minutes on an H200 (issue 14).

One JSON file, and a markdown table printed last. Parts, in order, each in a child process
of its own with its own time box (`--budget-s`, 360 s by default so that a second run fits
the same 15-minute lease, is shared out by weight, and time a part leaves unused passes to
the next; `--part-budget` fixes one). A part checks its deadline before each measurement and
records what it skipped; one that fails, or overruns its box (it is then killed), is
recorded with what it finished and why, and the suite goes on with the next.

  ceilings   the device's own limits, measured: bf16 and fp32 matrix-product rates, and
             device-to-device copy bandwidth (bytes read + written)
  models     published HyCTAS S/M/L and the searched model (`--arch`: a select spec
             `results/select/<t>/model.json`, or an architecture file in either format;
             without it, published S stands in) at 1x3x1024x2048: latency (CUDA events,
             warm-up, median) in eager fp32, bf16 + channels_last, and compiled
             (`torch.compile` of the bf16 + channels_last model, or CUDA graphs where
             compile fails: recorded); the roofline floor of each (MACs over the measured
             matrix rate; weights, input, logits and every convolution's output written
             and read once, over the measured bandwidth) and measured / floor
  attention  the `sa` op at 1024x2048, fused SDPA vs dense softmax(QK^T)V: peak memory and
             time (benchmarks/attention_memory.py's worker, one fresh process per variant)
  supernet   supernet training steps/s at 512x1024, batch 8, bf16 autocast
             (benchmarks/supernet_step.py's step), then a paper-scale search's cost in
             GPU-hours with every assumption printed (`--assume key=value` changes one)
  latency    the latency table and its predictor validation at 1024x2048 on the device
             (benchmarks/latency_device.py, i.e. what profile_latency runs): MAPE, Kendall tau;
             only the keys of the sampled architectures unless `--full-table`

`--space paper` (the default on a GPU) sizes the supernet, the latency table and an `--arch`
in our format with params.yaml's search_space at the published scale (fch 16, max_depth 20,
head_skip_channels 48); `--space params` keeps params.yaml's. Published-format files and S/M/L
always use the published config. It runs on a bare GPU image (torch, numpy, pyyaml, tqdm,
matplotlib): nothing it imports needs mlflow, dvc, pymoo, jsonschema or cityscapesscripts
(params.yaml is read without the schema when jsonschema is missing; the JSON says so).

    python benchmarks/gpu_suite.py --out results/gpu_suite/gpu_suite.json
    python benchmarks/gpu_suite.py --arch results/select/fast/model.json --parts models
    python benchmarks/gpu_suite.py --smoke --out /tmp/gpu_suite.json   # CPU, tiny sizes, ~1 min
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
for _path in (str(HERE), str(ROOT)):  # the package need not be installed (GPU image)
    if _path not in sys.path:
        sys.path.insert(0, _path)
# Children (the parts, attention_memory's workers) find the package too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from hyctas.atomic import write_json  # noqa: E402
from hyctas.latency.runmode import COMPILE_WARMUP, RunMode  # noqa: E402
from hyctas.latency.timing import stopwatch_for, synchronizer, time_interleaved  # noqa: E402
from hyctas.models.cost import arch_cost, sum_outputs  # noqa: E402
from hyctas.models.network import SegNet  # noqa: E402
from hyctas.models.presets import published_space_config  # noqa: E402
from hyctas.space.arch import Arch  # noqa: E402
from hyctas.space.config import SpaceConfig  # noqa: E402
from hyctas.space.io import arch_from_json  # noqa: E402

FORBIDDEN = ("mlflow", "dvc", "pymoo", "jsonschema", "cityscapesscripts")
PARTS = ("ceilings", "models", "attention", "supernet", "latency")
# Share of the budget per part; time a part leaves unused goes to the parts after it.
SHARES = {"ceilings": 0.06, "models": 0.44, "attention": 0.10, "supernet": 0.15, "latency": 0.25}
MIN_PART_S = 5.0  # a part given less is skipped (recorded)
GRACE_S = 15.0  # past its box a part is killed (it checks its own deadline before that)
# The bundled published models (hyctas.search.published reads the same files, but importing
# hyctas.search loads pymoo).
PUBLISHED_DIR = ROOT / "hyctas" / "search" / "published_archs"
PUBLISHED = {"S": "HRTNET_S.json", "M": "HRTNET_M.json", "L": "HRTNet_L.json"}
# README: params.yaml at paper scale.
PAPER_SPACE = {"fch": 16, "max_depth": 20, "head_skip_channels": 48}
CLASSES = 19  # Cityscapes, for the models and the supernet at full size
# Assumptions of the paper-scale search estimate (the paper publishes no schedule).
ASSUME = {
    "train_frames": 2975,  # Cityscapes fine train split
    "supernet_epochs": 100,  # assumed: one-shot supernets train for O(100) epochs
    "subnets_per_step": 1,  # from pretrain_supernet.sampling: 1 uniform, 3 sandwich
    "evaluations": 1000,  # assumed: NSGA-II population 50 x 20 generations
    "eval_frames": 500,  # assumed: search-split frames scored per candidate at 1024x2048
    "bn_calib_batches": 10,  # assumed: BatchNorm re-estimation batches per candidate
}
VARIANT_ORDER = ["eager_fp32", "bf16_channels_last", "compiled"]
GOALS = {"speedup": 1.5, "floor_ratio": 3.0, "attention_memory": 10.0, "mape": 5.0, "tau": 0.9}


def suite_config(args: argparse.Namespace) -> dict[str, Any]:
    """What each part measures: full sizes on a GPU, tiny ones with --smoke (CPU)."""
    smoke = args.smoke
    space = args.space or ("params" if smoke else "paper")
    return {
        "smoke": smoke,
        "device": "cpu" if smoke else args.device,
        "params": str(args.params),
        "space": space,
        "arch": str(args.arch) if args.arch else None,
        "threads": 1 if smoke else torch.get_num_threads(),
        "matmul_n": 256 if smoke else 8192,
        "copy_mb": 8 if smoke else 4096,
        "ceiling_repeats": 3 if smoke else 20,
        "models": ["S"] if smoke else ["S", "M", "L"],
        "model_size": [64, 128] if smoke else [1024, 2048],
        "model_warmup": COMPILE_WARMUP if smoke else 10,
        "model_repeats": 3 if smoke else 50,
        "compile_mode": args.compile_mode,
        # dynamo tracing only in the smoke run: inductor takes minutes on 2 CPU cores
        "compile_backend": "eager" if smoke else "inductor",
        # on CPU the peak is the growth of the RSS high-water mark: at 64x128 the dense
        # matrix (128 tokens, 64 KiB a head) is within the allocator's noise
        "attention_size": "256x512" if smoke else "1024x2048",
        "attention_fch": None if smoke else 16,
        "attention_repeats": 2 if smoke else 10,
        "supernet_size": [64, 128] if smoke else [512, 1024],
        "supernet_batch": 2 if smoke else 8,
        "supernet_archs": 1 if smoke else 6,
        "supernet_repeats": 1 if smoke else 5,
        "latency_arch_keys_only": not args.full_table,
        "latency": {  # profile_latency keys overridden for the device run
            "device": "cpu" if smoke else args.device,
            "height": 64 if smoke else 1024,
            "width": 128 if smoke else 2048,
            "batch_size": 1,
            "dtype": "bfloat16",
            "channels_last": True,
            "compile": "none",
            "threads": 1,
            "clock": "wall",
            "statistic": "median",
            "warmup": 1 if smoke else 5,
            "repeats": 2 if smoke else 20,
            "network_repeats": 2 if smoke else 30,
            "max_memory_mb": 256 if smoke else 16384,
            "calibration_archs": 2 if smoke else 10,
            "validation_archs": 3 if smoke else 20,
        },
    }


# ---------------------------------------------------------------- shared helpers


def read_params(path: str) -> tuple[dict, bool]:
    """params.yaml, schema-checked when jsonschema is there (not on the bare GPU image)."""
    from hyctas.params import load_params, read_params

    try:
        import jsonschema  # noqa: F401
    except ImportError:
        return read_params(path), False
    return load_params(path), True


def space_of(params: dict, which: str) -> dict[str, Any]:
    """params.yaml's search_space, at the published scale for `which == "paper"`."""
    block = dict(params["search_space"])
    return block | PAPER_SPACE if which == "paper" else block


class Recorder:
    """A part's results, saved after every measurement (a killed part keeps what it did)."""

    def __init__(self, path: Path, deadline: float) -> None:
        self.path, self.deadline = path, deadline
        self.data: dict[str, Any] = {"skipped": []}

    def left(self) -> float:
        """Seconds until this part's deadline."""
        return self.deadline - time.time()

    def skip(self, what: str, why: str) -> None:
        self.data["skipped"].append(f"{what}: {why}")
        self.save()

    def save(self) -> None:
        write_json(self.path, self.data)


def timed_ms(run, device: torch.device, warmup: int, repeats: int) -> dict[str, float]:
    """Median/p10/min ms of `run()` with the library's protocol (CUDA events on a GPU)."""
    (t,) = time_interleaved(
        [run],
        warmup,
        repeats,
        synchronizer(device),
        seed=0,
        stopwatch=stopwatch_for(device, time.perf_counter),
    )
    return {"median_ms": t.median_ms, "p10_ms": t.p10_ms, "min_ms": t.min_ms, "runs": t.runs}


def device_info(device: torch.device) -> dict[str, Any]:
    info = {"device": str(device), "torch": torch.__version__}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info |= {
            "name": props.name,
            "multiprocessors": props.multi_processor_count,
            "memory_gib": round(props.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
        }
    else:
        from hyctas.latency.profile import device_name

        info["name"] = device_name(device)
    return info


def free_device(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


# ---------------------------------------------------------------- part: ceilings


def part_ceilings(cfg: dict, rec: Recorder) -> None:
    """bf16 / fp32 matrix-product rates (TFLOP/s) and copy bandwidth (GB/s, read + write)."""
    device = torch.device(cfg["device"])
    rec.data["device"] = device_info(device)
    n, repeats = cfg["matmul_n"], cfg["ceiling_repeats"]
    gen = torch.Generator(device=device).manual_seed(0)
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        # random data: zeros run faster than real data on an H200
        a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
        b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
        t = timed_ms(lambda a=a, b=b: a @ b, device, 3, repeats)
        rec.data[f"matmul_{name}_tflops"] = 2 * n**3 / (t["median_ms"] / 1e3) / 1e12
        rec.data[f"matmul_{name}_ms"] = t["median_ms"]
        rec.save()
        del a, b
    numel = cfg["copy_mb"] * 2**20 // 4
    src = torch.randn(numel, device=device, generator=gen)
    dst = torch.empty_like(src)
    t = timed_ms(lambda: dst.copy_(src), device, 3, repeats)
    rec.data["copy_gbps"] = 2 * numel * 4 / (t["median_ms"] / 1e3) / 1e9
    rec.data["matmul_n"], rec.data["copy_mb"] = n, cfg["copy_mb"]
    rec.data["fp32_matmul_precision"] = torch.get_float32_matmul_precision()
    rec.save()


# ---------------------------------------------------------------- part: models


def load_model_arch(path: str, space: dict) -> tuple[Arch, SpaceConfig, str]:
    """The architecture in a select spec or an architecture file, and the config sizing it."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and "kind" in data:  # a select spec
        if data["kind"] != "segnet":
            raise SystemExit(f"--arch {path}: a {data['kind']} spec, not a searched architecture")
        cfg = SpaceConfig.from_params(space)
        return Arch.from_dict(data["arch"], cfg), cfg, f"select spec {path}"
    if isinstance(data, dict) and "ops" in data:  # the published format
        cfg = published_space_config()
        return arch_from_json(data, cfg), cfg, f"published-format file {path}"
    cfg = SpaceConfig.from_params(space)
    return arch_from_json(data, cfg), cfg, f"architecture file {path}"


def model_entries(cfg: dict, space: dict) -> list[tuple[str, Arch, SpaceConfig, str]]:
    """(name, arch, config, source) of the models to time, the found model first."""
    published = published_space_config()
    entries = []
    if cfg["arch"]:
        arch, arch_cfg, source = load_model_arch(cfg["arch"], space)
        entries.append(("searched", arch, arch_cfg, source))
    for name in cfg["models"]:
        data = json.loads((PUBLISHED_DIR / PUBLISHED[name]).read_text(encoding="utf-8"))
        entries.append((name, arch_from_json(data, published), published, f"published {name}"))
    return entries


def conv_output_elements(net: nn.Module, x: torch.Tensor) -> int:
    """Elements written by every convolution of `net(x)` (meta tensors: no compute)."""
    return sum_outputs(net, x, lambda m: isinstance(m, nn.Conv2d), torch.Tensor.numel)


def model_costs(arch: Arch, arch_cfg: SpaceConfig, size: list[int]) -> dict[str, int]:
    """MACs and the element counts behind the bytes floor, at batch 1 and `size`."""
    cost = arch_cost(arch, arch_cfg, CLASSES, tuple(size))
    with torch.device("meta"):
        net = SegNet(arch, arch_cfg, CLASSES, aux=False).eval()
        x = torch.empty(1, 3, *size)
    return {
        "macs": cost["macs"],
        "params": cost["params"],
        "input_elements": 3 * size[0] * size[1],
        "logit_elements": CLASSES * size[0] * size[1],
        "conv_output_elements": conv_output_elements(net, x),
    }


def roofline(costs: dict, element_bytes: int, tflops: float, gbps: float) -> dict[str, Any]:
    """The floor: the larger of MACs over the matrix rate and bytes over the bandwidth.

    Bytes: weights, input and logits once, and each convolution's output written once and
    read once (norms and activations fold into the convolutions when compiled; the
    convolutions' outputs still go through memory).
    """
    flops = 2 * costs["macs"]
    elements = costs["params"] + costs["input_elements"] + costs["logit_elements"]
    nbytes = (elements + 2 * costs["conv_output_elements"]) * element_bytes
    compute_ms, memory_ms = flops / (tflops * 1e12) * 1e3, nbytes / (gbps * 1e9) * 1e3
    return {
        "floor_ms": max(compute_ms, memory_ms),
        "compute_ms": compute_ms,
        "memory_ms": memory_ms,
        "bound": "compute" if compute_ms >= memory_ms else "memory",
        "bytes": nbytes,
    }


def cuda_graph_runner(net: nn.Module, x: torch.Tensor):
    """`net(x)` captured once in a CUDA graph; returns the replay (compile's fallback)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # cuDNN picks its algorithms outside the capture
            net(x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        net(x)
    return graph.replay


def compiled_runner(net: nn.Module, x: torch.Tensor, cfg: dict, device: torch.device):
    """torch.compile of `net`, or a CUDA graph where compile fails: (runner, how, seconds)."""
    start = time.perf_counter()
    try:
        if cfg["compile_backend"] == "inductor":
            fn = torch.compile(net, mode=cfg["compile_mode"], dynamic=False)
        else:
            fn = torch.compile(net, backend=cfg["compile_backend"], dynamic=False)
        fn(x)  # compiles
        synchronizer(device)()
        if cfg["compile_backend"] == "inductor":
            how = f"torch.compile (inductor, mode {cfg['compile_mode']})"
        else:
            how = f"torch.compile ({cfg['compile_backend']} backend: graph capture only)"
        return (lambda: fn(x)), how, time.perf_counter() - start
    except Exception as err:  # noqa: BLE001 - any compile failure falls back, recorded
        reason = f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
        if device.type != "cuda":
            raise
        torch._dynamo.reset()
        replay = cuda_graph_runner(net, x)
        return replay, f"cuda_graph (torch.compile failed: {reason})", time.perf_counter() - start


def part_models(cfg: dict, rec: Recorder) -> None:
    """Latency of each model in three modes, against its roofline floor."""
    device = torch.device(cfg["device"])
    params = cfg["params_data"]
    ceilings = cfg.get("ceilings") or {}
    size, warmup, repeats = cfg["model_size"], cfg["model_warmup"], cfg["model_repeats"]
    entries = model_entries(cfg, space_of(params, cfg["space"]))
    rec.data["size"] = size
    rec.data["found"] = entries[0][0] if cfg["arch"] else "S"
    models = rec.data.setdefault("models", {})
    for name, arch, arch_cfg, source in entries:
        models[name] = {"source": source, "arch_id": arch.id, "compact": arch.compact()}
        models[name] |= model_costs(arch, arch_cfg, size)
        models[name]["variants"] = {}
    rec.save()
    modes = {
        "eager_fp32": RunMode("float32", channels_last=False, compile="none"),
        "bf16_channels_last": RunMode("bfloat16", channels_last=True, compile="none"),
    }
    rates = {"float32": ceilings.get("matmul_fp32_tflops"), "bfloat16": None}
    rates["bfloat16"] = ceilings.get("matmul_bf16_tflops")
    gbps = ceilings.get("copy_gbps")

    def record(name: str, variant: str, mode: RunMode, timing: dict, extra: dict) -> None:
        row = {**timing, **extra}
        if device.type == "cuda":
            row["peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        if rates[mode.dtype] and gbps:
            element_bytes = torch.finfo(mode.torch_dtype()).bits // 8
            row |= roofline(models[name], element_bytes, rates[mode.dtype], gbps)
            row["measured_over_floor"] = row["median_ms"] / row["floor_ms"]
        eager = models[name]["variants"].get("eager_fp32")
        if eager:
            row["speedup_vs_eager_fp32"] = eager["median_ms"] / row["median_ms"]
        models[name]["variants"][variant] = row
        rec.save()

    spent: dict[str, float] = {}  # seconds of the last run of each variant, to plan the next
    torch.set_num_threads(cfg["threads"])
    with torch.inference_mode():
        for variant, mode in modes.items():
            for name, arch, arch_cfg, _ in entries:
                if rec.left() < 2 * spent.get(variant, 1.0):
                    rec.skip(f"models.{name}.{variant}", f"{rec.left():.0f} s left")
                    continue
                start = time.perf_counter()
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                net = mode.prepare(SegNet(arch, arch_cfg, CLASSES, aux=False), device, False)
                x = mode.move(torch.randn(1, 3, *size), device)
                timing = timed_ms(lambda n=net, x=x: n(x), device, warmup, repeats)
                record(name, variant, mode, timing, {})
                del net, x
                free_device(device)
                spent[variant] = time.perf_counter() - start
        # compiled: the found model first; a compile costs the most, so plan on the last one
        mode = RunMode("bfloat16", channels_last=True, compile="none")
        for name, arch, arch_cfg, _ in entries:
            need = 1.2 * spent.get("compiled", 20.0 if cfg["smoke"] else 90.0)
            if rec.left() < need:
                rec.skip(f"models.{name}.compiled", f"{rec.left():.0f} s left, ~{need:.0f} needed")
                continue
            start = time.perf_counter()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            net = mode.prepare(SegNet(arch, arch_cfg, CLASSES, aux=False), device, False)
            x = mode.move(torch.randn(1, 3, *size), device)
            try:
                run, how, compile_s = compiled_runner(net, x, cfg, device)
                timing = timed_ms(run, device, warmup, repeats)
                record(name, "compiled", mode, timing, {"how": how, "compile_s": compile_s})
            except Exception as err:  # noqa: BLE001 - recorded, the other models go on
                models[name]["variants"]["compiled"] = {"error": f"{type(err).__name__}: {err}"}
                rec.save()
            del net, x
            torch._dynamo.reset()
            free_device(device)
            spent["compiled"] = time.perf_counter() - start


# ---------------------------------------------------------------- part: attention


def part_attention(cfg: dict, rec: Recorder) -> None:
    """attention_memory.py's worker, one fresh process per variant (SDPA first)."""
    import attention_memory

    params = cfg["params_data"]
    space = dict(params["search_space"])
    if cfg["attention_fch"] is not None:
        space["fch"] = cfg["attention_fch"]
    space_cfg = SpaceConfig.from_params(space)
    size = cfg["attention_size"]
    h, w = (int(s) // attention_memory.STRIDE for s in size.split("x"))
    rec.data |= {"size": size, "tokens": h * w, "channels": space_cfg.channels(0, 1.0)}
    rec.data |= {"heads": space_cfg.sa_heads, "head_dim": space_cfg.sa_head_dim}
    worker_args = argparse.Namespace(
        device=cfg["device"], threads=1, warmup=1, repeats=cfg["attention_repeats"]
    )
    for variant in attention_memory.VARIANTS:
        if rec.left() < 5:
            rec.skip(f"attention.{variant}", f"{rec.left():.0f} s left")
            continue
        rec.data[variant] = attention_memory.run_worker(worker_args, size, variant, space)
        rec.save()
    sdpa, dense = rec.data.get("sdpa", {}), rec.data.get("dense", {})
    if "peak_mb" in sdpa and "peak_mb" in dense:
        rec.data["memory_ratio"] = dense["peak_mb"] / max(sdpa["peak_mb"], 0.1)
        rec.data["time_ratio"] = dense["ms"] / sdpa["ms"]
        rec.save()


# ---------------------------------------------------------------- part: supernet


def part_supernet(cfg: dict, rec: Recorder) -> None:
    """Supernet training steps/s (forward, backward, SGD step) with bf16 autocast."""
    import supernet_step

    from hyctas.models.supernet import Supernet
    from hyctas.space.evolve import sample_arch

    device = torch.device(cfg["device"])
    params = cfg["params_data"]
    recipe = params["pretrain_supernet"]["recipe"]
    space_cfg = SpaceConfig.from_params(space_of(params, cfg["space"]))
    classes = params["base"]["num_classes"] if cfg["smoke"] else CLASSES
    batch, (h, w) = cfg["supernet_batch"], cfg["supernet_size"]
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    with torch.device(device):
        supernet = Supernet(space_cfg, classes, aux=True).train()
    supernet.train_output_stride = recipe["loss_stride"]
    rec.data |= {"space": cfg["space"], "size": [h, w], "batch": batch, "amp": "bf16"}
    rec.data["loss_stride"] = recipe["loss_stride"]
    rec.data["supernet_params"] = sum(p.numel() for p in supernet.parameters())
    x = torch.randn(batch, 3, h, w, device=device)
    y = torch.randint(0, classes, (batch, h, w), device=device)
    steps, spent = [], 0.0
    for seed in range(cfg["supernet_archs"]):
        if steps and rec.left() < 2 * spent:
            rec.skip(f"supernet.arch{seed}", f"{rec.left():.0f} s left")
            break
        start = time.perf_counter()
        arch = sample_arch(space_cfg, np.random.default_rng(seed))
        s = supernet_step.step_seconds(
            supernet, x, y, arch, recipe, device, "bf16", cfg["supernet_repeats"]
        )
        steps.append({"arch_id": arch.id, "branches": len(arch.branches), "step_s": s})
        rec.data["steps"] = steps
        median = statistics.median(r["step_s"] for r in steps)
        rec.data |= {"step_s": median, "steps_per_s": 1 / median, "images_per_s": batch / median}
        if device.type == "cuda":
            rec.data["peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        rec.save()
        spent = time.perf_counter() - start


# ---------------------------------------------------------------- part: latency


def part_latency(cfg: dict, rec: Recorder) -> None:
    """latency_device.profile_once (profile_latency's run) at the device settings."""
    import latency_device

    params = cfg["params_data"]
    params = params | {"search_space": space_of(params, cfg["space"])}
    block = params["profile_latency"] | cfg["latency"]
    rec.data |= {"settings": block, "space": cfg["space"]}
    rec.data["arch_keys_only"] = cfg["latency_arch_keys_only"]
    rec.save()
    out = Path(cfg["latency_out"])
    m = latency_device.profile_once(params, block, out, cfg["latency_arch_keys_only"])
    keep = ("keys", "measure_seconds", "total_seconds", "mape_pct", "max_ape_pct", "kendall_tau")
    keep += ("plain_sum_mape_pct", "scale", "overhead_ms", "measured_min_ms", "measured_max_ms")
    rec.data |= {k: m[k] for k in keep} | {"files": str(out), "device_name": m["device_name"]}
    rec.save()


PART_FUNCTIONS = {
    "ceilings": part_ceilings,
    "models": part_models,
    "attention": part_attention,
    "supernet": part_supernet,
    "latency": part_latency,
}


def worker(part: str, config_path: Path, out_path: Path) -> int:
    """One part in this (child) process; results saved to `out_path` as they come."""
    cfg = json.loads(config_path.read_text())
    rec = Recorder(out_path, cfg["deadline"])
    code = 0
    try:
        PART_FUNCTIONS[part](cfg, rec)
    except BaseException as err:  # noqa: BLE001 - the parent records it and goes on
        rec.data["error"] = f"{type(err).__name__}: {err}"
        rec.data["traceback"] = traceback.format_exc()[-3000:]
        code = 1
    rec.data["forbidden_imports"] = sorted(m for m in FORBIDDEN if m in sys.modules)
    rec.save()
    return code


# ---------------------------------------------------------------- the parent


def run_part(part: str, cfg: dict, budget: float, tmp: Path) -> dict[str, Any]:
    """Runs one part in a child process, killed `GRACE_S` after its box; returns its record."""
    config_path, out_path = tmp / f"{part}.config.json", tmp / f"{part}.json"
    log_path = tmp / f"{part}.log"
    config_path.write_text(json.dumps(cfg | {"deadline": time.time() + budget}))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", part]
    cmd += ["--worker-config", str(config_path), "--worker-out", str(out_path)]
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=budget + GRACE_S)
            status = "ok" if code == 0 else "failed"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the part and the workers it started
            proc.wait()
            code, status = None, "timeout"
    data = json.loads(out_path.read_text()) if out_path.is_file() else {}
    if status == "ok" and data.get("skipped"):
        status = "partial"
    if status == "failed" and "error" not in data:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        data["error"] = f"exit {code}: " + " | ".join(tail)
    return {
        "status": status,
        "seconds": round(time.perf_counter() - start, 1),
        "budget_s": round(budget, 1),
        **data,
    }


def search_cost(results: dict, cfg: dict, assume: dict) -> dict[str, Any]:
    """GPU-hours of a paper-scale search from the measured parts, with the assumptions."""
    from hyctas.latency.enumerate import enumerate_keys

    supernet, latency = results.get("supernet", {}), results.get("latency", {})
    models = results.get("models", {}).get("models", {})
    out: dict[str, Any] = {"assumptions": dict(assume)}
    step_s = supernet.get("step_s")
    if step_s:
        steps = assume["supernet_epochs"] * assume["train_frames"] / cfg["supernet_batch"]
        out["supernet_steps"] = round(steps)
        out["supernet_h"] = steps * step_s * assume["subnets_per_step"] / 3600
    if latency.get("keys") and latency.get("measure_seconds"):
        params = cfg["params_data"]
        space = SpaceConfig.from_params(space_of(params, cfg["space"]))
        size = (cfg["latency"]["height"], cfg["latency"]["width"])
        keys = len(enumerate_keys(space, CLASSES, size))
        out["table_keys"] = keys
        # seconds per measured key, networks included: an upper bound for the whole table
        out["table_h"] = keys * latency["measure_seconds"] / latency["keys"] / 3600
    forward = [
        m["variants"]["bf16_channels_last"]["median_ms"]
        for m in models.values()
        if "median_ms" in m.get("variants", {}).get("bf16_channels_last", {})
    ]
    if forward and step_s:
        forward_ms = statistics.median(forward)
        # a candidate: its frames at full size, and BatchNorm re-estimation (a forward in train
        # mode, ~1/3 of a training step)
        per_eval = assume["eval_frames"] * forward_ms / 1e3 + assume["bn_calib_batches"] * (
            step_s / 3
        )
        out |= {"candidate_forward_ms": forward_ms, "seconds_per_evaluation": per_eval}
        out["evaluations_h"] = assume["evaluations"] * per_eval / 3600
    parts = ("supernet_h", "table_h", "evaluations_h")
    if all(k in out for k in parts):
        out["total_h"] = sum(out[k] for k in parts)
    return out


def goals(results: dict) -> dict[str, Any]:
    """The issue's goals, each met, missed or not measured (None)."""
    models = results.get("models", {})
    found = models.get("models", {}).get(models.get("found", ""), {}).get("variants", {})
    compiled, eager = found.get("compiled", {}), found.get("eager_fp32", {})
    attention, latency = results.get("attention", {}), results.get("latency", {})

    def check(value, goal, higher_is_better=True):
        if value is None:
            return {"value": None, "goal": goal, "met": None}
        met = value >= goal if higher_is_better else value <= goal
        return {"value": value, "goal": goal, "met": met}

    speedup = None
    if "median_ms" in compiled and "median_ms" in eager:
        speedup = eager["median_ms"] / compiled["median_ms"]
    return {
        "found_model": models.get("found"),
        "compiled_speedup_vs_eager_fp32": check(speedup, GOALS["speedup"]),
        "compiled_over_floor": check(
            compiled.get("measured_over_floor"), GOALS["floor_ratio"], False
        ),
        "attention_memory_ratio": check(attention.get("memory_ratio"), GOALS["attention_memory"]),
        "latency_mape_pct": check(latency.get("mape_pct"), GOALS["mape"], False),
        "latency_kendall_tau": check(latency.get("kendall_tau"), GOALS["tau"]),
    }


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown(summary: dict) -> str:
    """The figures as markdown tables (printed last)."""
    suite, parts = summary["suite"], summary["parts"]
    lines = [
        f"## GPU suite: {suite['device_name']} (torch {suite['torch']}), {suite['date']}",
        "",
        f"`{suite['command']}`: {suite['seconds']:.0f} s of a {suite['budget_s']:.0f} s "
        f"budget{', smoke run (CPU, tiny sizes)' if suite['smoke'] else ''}",
        "",
        "| part | status | seconds (box) | skipped / error |",
        "|---|---|---|---|",
    ]
    for name, p in parts.items():
        note = "; ".join(p.get("skipped", [])) or p.get("error", "")
        lines.append(
            f"| {name} | {p['status']} | {_f(p.get('seconds'), 1)} ({_f(p.get('budget_s'), 0)}) | "
            f"{note.replace('|', '/')[:200]} |"
        )
    c = parts.get("ceilings", {})
    lines += [
        "",
        f"Ceilings: bf16 matmul {_f(c.get('matmul_bf16_tflops'), 3)} TFLOP/s, fp32 "
        f"{_f(c.get('matmul_fp32_tflops'), 3)} TFLOP/s, copy {_f(c.get('copy_gbps'), 0)} GB/s "
        f"(read + write).",
    ]
    m = parts.get("models", {})
    if m.get("models"):
        h, w = m["size"]
        lines += [
            "",
            f"Models at 1x3x{h}x{w} (found model: {m.get('found')}); floor = max(MACs / matmul "
            "rate, bytes / bandwidth).",
            "",
            "| model | GMACs | variant | median ms | floor ms (bound) | measured/floor | "
            "vs eager fp32 | how |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, row in m["models"].items():
            for variant in sorted(row["variants"], key=VARIANT_ORDER.index):
                v = row["variants"][variant]
                floor = f"{_f(v.get('floor_ms'), 3)} ({v.get('bound', '–')})"
                how = v.get("how", v.get("error", ""))
                lines.append(
                    f"| {name} | {row['macs'] / 1e9:.1f} | {variant} | {_f(v.get('median_ms'))} | "
                    f"{floor} | {_f(v.get('measured_over_floor'), 1)} | "
                    f"{_f(v.get('speedup_vs_eager_fp32'))} | {how[:80]} |"
                )
    a = parts.get("attention", {})
    if "sdpa" in a or "dense" in a:
        sdpa, dense = a.get("sdpa", {}), a.get("dense", {})
        lines += [
            "",
            f"Attention (`sa` op, {a.get('size')}, {a.get('tokens')} tokens, {a.get('channels')} "
            f"channels): SDPA {_f(sdpa.get('peak_mb'), 1)} MB / {_f(sdpa.get('ms'))} ms, dense "
            f"{_f(dense.get('peak_mb'), 1)} MB / {_f(dense.get('ms'))} ms "
            f"{dense.get('error', '')}: memory {_f(a.get('memory_ratio'), 1)}x, time "
            f"{_f(a.get('time_ratio'))}x.",
        ]
    s = parts.get("supernet", {})
    if s.get("step_s"):
        lines += [
            "",
            f"Supernet ({s['space']} space, {s['supernet_params'] / 1e6:.0f} M params) at "
            f"{s['size'][0]}x{s['size'][1]}, batch {s['batch']}, bf16 autocast: "
            f"{s['steps_per_s']:.2f} steps/s ({s['images_per_s']:.1f} img/s) over "
            f"{len(s['steps'])} sampled architectures.",
        ]
    lat = parts.get("latency", {})
    if lat.get("keys"):
        st = lat["settings"]
        lines += [
            "",
            f"Latency table ({lat['space']} space, {st['height']}x{st['width']}, {st['dtype']}, "
            f"channels_last {st['channels_last']}, {lat['keys']} keys"
            f"{' of the sampled archs' if lat['arch_keys_only'] else ''}, "
            f"{lat['measure_seconds']} s): MAPE {lat['mape_pct']:.2f} %, Kendall tau "
            f"{lat['kendall_tau']:.3f} (plain sum {lat['plain_sum_mape_pct']:.2f} %).",
        ]
    cost = summary["search_cost"]
    assumptions = ", ".join(f"{k} {v}" for k, v in cost["assumptions"].items())
    lines += [
        "",
        f"Paper-scale search estimate: supernet {_f(cost.get('supernet_h'), 1)} GPU-h "
        f"({_f(cost.get('supernet_steps'))} steps), latency table {_f(cost.get('table_h'), 2)} "
        f"GPU-h ({_f(cost.get('table_keys'))} keys), evaluations "
        f"{_f(cost.get('evaluations_h'), 1)} GPU-h ({_f(cost.get('seconds_per_evaluation'))} s "
        f"each); total **{_f(cost.get('total_h'), 1)} GPU-h**. Assumptions: {assumptions}.",
        "",
        "Goals" + (" (not meaningful in a smoke run: CPU, tiny sizes):" if suite["smoke"] else ":"),
        "",
        "| goal | value | target | met |",
        "|---|---|---|---|",
    ]
    for name, g in summary["goals"].items():
        if isinstance(g, dict):
            met = {True: "yes", False: "**no**", None: "not measured"}[g["met"]]
            lines.append(f"| {name} | {_f(g['value'])} | {g['goal']} | {met} |")
    return "\n".join(lines)


def parse_assumptions(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in ASSUME:
            raise SystemExit(
                f"--assume {item!r}: expected key=value, key one of {', '.join(ASSUME)}"
            )
        out[key] = float(value)
    return out


def parse_budgets(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in PARTS:
            raise SystemExit(f"--part-budget {item!r}: expected part=seconds, part one of {PARTS}")
        out[key] = float(value)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("results/gpu_suite/gpu_suite.json"))
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--arch", type=Path, help="searched model: select spec or arch file")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="every part on CPU, tiny sizes")
    parser.add_argument("--space", choices=["paper", "params"], help="see the docstring")
    parser.add_argument("--budget-s", type=float, help="whole suite (default 360; smoke 300)")
    parser.add_argument("--part-budget", nargs="*", default=[], help="part=seconds, fixed")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument(
        "--compile-mode", default="reduce-overhead", help="torch.compile mode (compiled variant)"
    )
    parser.add_argument("--full-table", action="store_true", help="latency: every key")
    parser.add_argument("--assume", nargs="*", default=[], help="search estimate: key=value")
    parser.add_argument("--strict", action="store_true", help="exit 1 unless every part is ok")
    parser.add_argument("--worker", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--worker-config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.worker_config, args.worker_out)
    budget = args.budget_s or (300.0 if args.smoke else 360.0)
    fixed = parse_budgets(args.part_budget)
    cfg = suite_config(args)
    if cfg["device"].startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {cfg['device']}: no CUDA device here; --smoke runs on CPU")
    cfg["params_data"], validated = read_params(cfg["params"])  # read once, for every part
    # sandwich sampling trains three sub-networks a step
    sampling = cfg["params_data"]["pretrain_supernet"].get("sampling", "uniform")
    assume = {**ASSUME, "subnets_per_step": 1 if sampling == "uniform" else 3}
    assume |= parse_assumptions(args.assume)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cfg["latency_out"] = str(args.out.parent / "latency")
    begin = time.perf_counter()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="gpu_suite_") as tmp:
        for i, part in enumerate(args.parts):
            left = budget - (time.perf_counter() - begin)
            later = args.parts[i:]
            box = fixed.get(part, left * SHARES[part] / sum(SHARES[p] for p in later))
            box = min(box, left)
            if box < MIN_PART_S:
                results[part] = {"status": "skipped", "budget_s": box, "skipped": ["no time"]}
            else:
                part_cfg = cfg | {"ceilings": results.get("ceilings", {})}
                results[part] = run_part(part, part_cfg, box, Path(tmp))
            r = results[part]
            note = "; ".join(r.get("skipped", [])) + r.get("error", "")[:200]
            print(
                f"[gpu_suite] {part}: {r['status']} in {r.get('seconds', 0)} s {note}", flush=True
            )
    device = results.get("ceilings", {}).get("device") or device_info(torch.device(cfg["device"]))
    summary = {
        "suite": {
            "command": " ".join(["python", *sys.argv]),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "device_name": device.get("name"),
            "torch": torch.__version__,
            "smoke": args.smoke,
            "budget_s": budget,
            "seconds": time.perf_counter() - begin,
            "params": str(args.params),
            "params_schema_checked": validated,
            "config": {k: v for k, v in cfg.items() if k != "params_data"},
        },
        "parts": results,
    }
    summary["search_cost"] = search_cost(results, cfg, assume)
    summary["goals"] = goals(results)
    write_json(args.out, summary)
    print(f"[gpu_suite] wrote {args.out}")
    print(markdown(summary))
    ok = all(r["status"] == "ok" for r in results.values())
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
