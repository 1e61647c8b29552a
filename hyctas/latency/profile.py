"""The whole profiling run: table, calibration, validation (what the stage calls).

Example:
    >>> result = run_profile(cfg, num_classes=19, settings=settings, seed=0)
    >>> result.table.save("latency_table.csv"); result.model.save("latency_model.json")
    >>> result.metrics["mape_pct"], result.metrics["kendall_tau"]
"""

from __future__ import annotations

import datetime
import os
import platform
import time
from dataclasses import dataclass
from typing import Any

import torch

from hyctas.latency.enumerate import enumerate_keys
from hyctas.latency.keys import FIXED_PIECES, arch_keys
from hyctas.latency.predictor import LatencyModel, LatencyPredictor, fit_model
from hyctas.latency.settings import ProfileSettings
from hyctas.latency.table import FORMAT, LatencyTable
from hyctas.latency.timing import profiling, time_table_and_networks
from hyctas.latency.validation import (
    kendall_tau,
    mape_pct,
    plot_validation,
    sample_arch_sets,
    write_rows,
)
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig


@dataclass(frozen=True)
class ProfileResult:
    """What one profiling run produces.

    Attributes:
        table: The latency table.
        model: Correction fitted on the calibration architectures.
        rows: One row per validation architecture (see `validation_rows`).
        metrics: Key counts, durations, MAPE, Kendall tau (calibrated and plain sum).
    """

    table: LatencyTable
    model: LatencyModel
    rows: list[dict[str, Any]]
    metrics: dict[str, Any]


def device_name(device: torch.device) -> str:
    """Human name of the measured device, e.g. "cpu: Intel(R) Xeon(R) Processor (2 cores)"."""
    if device.type == "cuda":
        return f"{device}: {torch.cuda.get_device_name(device)}"
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    return f"cpu: {model} ({os.cpu_count()} logical cores)"


def table_meta(
    cfg: SpaceConfig, num_classes: int, settings: ProfileSettings, key_count: int
) -> dict[str, Any]:
    """Metadata stored with the table (what was measured, where, how, when)."""
    device = settings.torch_device()
    return {
        "format": FORMAT,
        "device": device_name(device),
        "torch": torch.__version__,
        "threads": settings.threads,
        "clock": settings.clock,
        "height": settings.height,
        "width": settings.width,
        "batch_size": settings.batch_size,
        "dtype": settings.dtype,
        "channels_last": settings.channels_last,
        "compile": settings.compile,
        "statistic": settings.statistic,
        "warmup": settings.warmup,
        "repeats": settings.repeats,
        "num_classes": num_classes,
        "search_space": cfg.to_params(),
        "keys": key_count,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def validation_rows(
    predictor: LatencyPredictor, archs: list[Arch], measured: list[float]
) -> list[dict[str, Any]]:
    """Per architecture: id, branches, cells run, table sum, prediction, measurement, error."""
    rows = []
    for arch, meas in zip(archs, measured, strict=True):
        total, pred = predictor.table_sum(arch), predictor.predict(arch)
        rows.append(
            {
                "arch_id": arch.id,
                "branches": len(arch.branches),
                "table_sum_ms": round(total, 4),
                "predicted_ms": round(pred, 4),
                "measured_ms": round(meas, 4),
                "error_pct": round((pred - meas) / meas * 100.0, 3),
                "compact": arch.compact(),
            }
        )
    return rows


def run_profile(
    cfg: SpaceConfig,
    num_classes: int,
    settings: ProfileSettings,
    seed: int,
    arch_keys_only: bool = False,
) -> ProfileResult:
    """Builds the table, fits the correction on calibration archs, validates on others.

    Args:
        cfg: Search space whose keys are profiled.
        num_classes: Output classes of the head.
        settings: Measurement protocol.
        seed: Seed of the random architectures and of the round orders.
        arch_keys_only: Profile only the keys the calibration and validation architectures
            run (a partial table: enough to validate the predictor where the whole table
            does not fit the time, not for a search; `metrics["arch_keys_only"]`).
    """
    start = time.perf_counter()
    calib, val = sample_arch_sets(cfg, seed, settings.calibration_archs, settings.validation_archs)
    if arch_keys_only:
        size = settings.input_size
        keys = sorted({k for a in calib + val for k in arch_keys(a, cfg, num_classes, size)})
    else:
        keys = enumerate_keys(cfg, num_classes, settings.input_size)
    with profiling(settings):
        # Table pieces, calibration and validation networks in the same interleaved rounds:
        # all of them see the same machine conditions.
        timings, net_timings = time_table_and_networks(
            keys, calib + val, cfg, num_classes, settings, seed
        )
    measure_seconds = time.perf_counter() - start
    measured = [t.value(settings.statistic) for t in net_timings]
    table = LatencyTable(timings, table_meta(cfg, num_classes, settings, len(keys)))
    plain = LatencyPredictor(table)
    model = fit_model([plain.table_sum(a) for a in calib], measured[: len(calib)], table.digest())
    predictor = LatencyPredictor(table, model)
    rows = validation_rows(predictor, val, measured[len(calib) :])
    predicted = [r["predicted_ms"] for r in rows]
    sums, meas = [r["table_sum_ms"] for r in rows], [r["measured_ms"] for r in rows]
    metrics = {
        "keys": len(keys),
        **{f"keys_{kind}": sum(k.op == kind for k in keys) for kind in FIXED_PIECES},
        "keys_cells": sum(k.op not in FIXED_PIECES for k in keys),
        "arch_keys_only": arch_keys_only,
        "measure_seconds": round(measure_seconds, 1),
        "total_seconds": round(time.perf_counter() - start, 1),
        "mape_pct": mape_pct(predicted, meas),
        "max_ape_pct": max(abs(r["error_pct"]) for r in rows),
        "kendall_tau": kendall_tau(predicted, meas),
        "plain_sum_mape_pct": mape_pct(sums, meas),
        "plain_sum_kendall_tau": kendall_tau(sums, meas),
        "scale": model.scale,
        "overhead_ms": model.overhead_ms,
        "calibration_archs": len(calib),
        "validation_archs": len(val),
        "measured_min_ms": min(meas),
        "measured_max_ms": max(meas),
        "threads": settings.threads,
        "clock": settings.clock,
        "statistic": settings.statistic,
        **settings.run_mode().to_dict(),
    }
    return ProfileResult(table, model, rows, metrics)


def write_validation(
    result: ProfileResult,
    settings: ProfileSettings,
    rows_path: str | os.PathLike[str],
    plot_path: str | os.PathLike[str],
) -> None:
    """Writes the validation rows (CSV) and the predicted-vs-measured plot of a run."""
    write_rows(rows_path, result.rows)
    m = result.metrics
    plot_validation(
        plot_path,
        [r["predicted_ms"] for r in result.rows],
        [r["measured_ms"] for r in result.rows],
        [r["branches"] for r in result.rows],
        f"{result.table.meta['device']}, {settings.dtype}, {settings.height}x{settings.width}, "
        f"{settings.threads} thread(s), {settings.statistic} ({settings.clock} clock)\n"
        f"{m['validation_archs']} archs: MAPE {m['mape_pct']:.2f} %, "
        f"Kendall tau {m['kendall_tau']:.3f}",
    )
