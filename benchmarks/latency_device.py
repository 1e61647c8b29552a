"""Latency table and its validation on any device, outside the DAG (GPU figures of issue #5).

Runs exactly what stage `profile_latency` runs (hyctas.latency.profile.run_profile), with
`profile_latency` keys overridden on the command line, and without MLflow, so that it runs on
a GPU machine that has PyTorch but not the pipeline's tracking stack. Writes the table, the
fitted model, the validation rows and plot, and metrics.json under --out, and prints one row
per run (several `--dtype` values run one after another on the same device).

    python benchmarks/latency_device.py --params params.yaml --out results/latency_gpu \
        --set device=cuda height=1024 width=2048 clock=wall statistic=median \
        warmup=10 repeats=30 network_repeats=30 max_memory_mb=16384 --dtype float32 float16
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import yaml

from hyctas.atomic import write_json
from hyctas.latency.profile import run_profile, write_validation
from hyctas.latency.settings import ProfileSettings
from hyctas.params import load_params
from hyctas.space.config import SpaceConfig

COLUMNS = ("dtype", "device", "keys", "measure_s", "total_s", "min_ms", "max_ms", "MAPE_%", "tau")


def parse_overrides(items: list[str]) -> dict:
    """`key=value` pairs for the profile_latency block; values parsed as YAML scalars."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected key=value (a profile_latency key)")
        out[key] = yaml.safe_load(value)
    return out


def profile_once(params: dict, block: dict, out: Path, arch_keys_only: bool = False) -> dict:
    """One table + validation with `block` as profile_latency; files under `out`.

    `arch_keys_only` profiles only the keys of the calibration and validation architectures
    (benchmarks/gpu_suite.py, where the whole table does not fit its time box).
    """
    settings = ProfileSettings.from_params(block)
    cfg = SpaceConfig.from_params(params["search_space"])
    seed = params["base"]["seed"]
    result = run_profile(cfg, params["base"]["num_classes"], settings, seed, arch_keys_only)
    out.mkdir(parents=True, exist_ok=True)
    result.table.save(out / "latency_table.csv")
    result.model.save(out / "latency_model.json")
    write_validation(result, settings, out / "validation.csv", out / "validation.png")
    m = {**result.metrics, "device_name": result.table.meta["device"]}
    write_json(out / "metrics.json", m)
    return m


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", type=Path, required=True, help="folder for the outputs")
    parser.add_argument("--set", nargs="*", default=[], help="profile_latency key=value")
    parser.add_argument("--dtype", nargs="+", default=None, help="one run per dtype")
    args = parser.parse_args()
    params = load_params(args.params)
    block = copy.deepcopy(params["profile_latency"]) | parse_overrides(args.set)
    rows = []
    for dtype in args.dtype or [block["dtype"]]:
        m = profile_once(params, block | {"dtype": dtype}, args.out / dtype)
        rows.append(
            (
                dtype,
                m["device_name"],
                m["keys"],
                m["measure_seconds"],
                m["total_seconds"],
                round(m["measured_min_ms"], 2),
                round(m["measured_max_ms"], 2),
                round(m["mape_pct"], 2),
                round(m["kendall_tau"], 3),
            )
        )
    print(" | ".join(COLUMNS))
    for row in rows:
        print(" | ".join(str(v) for v in row))
    print(json.dumps({"settings": block | {"dtype": args.dtype or [block["dtype"]]}}))


if __name__ == "__main__":
    main()
