"""The `hyctas` command line: one sub-command per function, errors as one clear line.

Examples:
    hyctas arch info results/search/fast.json --params params.yaml
    hyctas arch info HRTNET_S.json --input-size 1024 2048 --classes 19 --json
    hyctas arch info results/search/fast.json --params params.yaml \
        --latency-table results/profile_latency/latency_table.csv \
        --latency-model results/profile_latency/latency_model.json
    hyctas predict --model results/retrain/fast/model.pt photo1.jpg photo2.png --out preds

Exit status: 0 on success, 2 on a usage or input error (bad file, bad config, bad size).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from hyctas.errors import ConfigError, HyctasError
from hyctas.space.arch import Arch, scale_name
from hyctas.space.config import SpaceConfig
from hyctas.space.io import load_arch

# The published setting (Cityscapes at full resolution), used when nothing else is given.
DEFAULT_INPUT_SIZE = (1024, 2048)
DEFAULT_CLASSES = 19


def _read_params(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            params = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found") from None
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read params file ({err})") from err
    if not isinstance(params, dict) or "search_space" not in params:
        raise ConfigError(f"{path}: no search_space block")
    return params


def _is_published_file(path: str) -> bool:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False  # load_arch reports the precise problem
    return isinstance(data, dict) and "ops" in data


def resolve_space(
    arch_file: str, params_file: str | None
) -> tuple[SpaceConfig, str, dict[str, Any] | None]:
    """The search-space config that sizes `arch_file`, where it came from, and the params.

    Raises:
        ConfigError: No --params for a file in our format, or a bad params file.
    """
    if params_file is not None:
        params = _read_params(params_file)
        try:
            cfg = SpaceConfig.from_params(params["search_space"])
        except ConfigError as err:
            raise ConfigError(f"{params_file}: {err}") from err
        return cfg, f"{params_file} (search_space)", params
    if _is_published_file(arch_file):
        from hyctas.models.presets import published_space_config

        return published_space_config(), "built-in published-scale config (fch 16)", None
    raise ConfigError(
        f"{arch_file}: not in the published format, so its channels depend on a search space: "
        "pass --params params.yaml"
    )


def arch_info(args: argparse.Namespace) -> dict[str, Any]:
    """Collects what `hyctas arch info` prints (see `cmd_arch_info`)."""
    from hyctas.models.cost import arch_cost

    cfg, source, params = resolve_space(args.file, args.params)
    arch = load_arch(args.file, cfg)
    classes = args.classes
    if classes is None:
        base = (params or {}).get("base") or {}
        classes = base.get("num_classes", DEFAULT_CLASSES)
    size = tuple(args.input_size) if args.input_size else DEFAULT_INPUT_SIZE
    branches = [
        {
            "depth": len(cells),
            "final_scale": arch.final_scale(b),
            "cells": [{"op": c.op, "width": c.width, "stride": c.stride} for c in cells],
        }
        for b, cells in enumerate(arch.branches)
    ]
    info = {
        "file": args.file,
        "format": "published" if _is_published_file(args.file) else "hyctas",
        "search_space": source,
        "id": arch.id,
        "compact": arch.compact(),
        "branches": branches,
        "final_scales": arch.final_scales(),
        "cost": arch_cost(arch, cfg, int(classes), (int(size[0]), int(size[1]))),
    }
    if getattr(args, "latency_table", None):
        info["latency"] = _latency_info(arch, cfg, args.latency_table, args.latency_model)
    elif getattr(args, "latency_model", None):
        raise ConfigError("--latency-model needs --latency-table (the table it was fitted on)")
    return info


def _latency_info(arch: Arch, cfg: SpaceConfig, table: str, model: str | None) -> dict[str, Any]:
    from hyctas.latency.predictor import LatencyPredictor

    predictor = LatencyPredictor.load(table, model)
    predictor.check_space(cfg)
    return predictor.describe(arch)


def _format_latency(lat: dict[str, Any]) -> list[str]:
    h, w = lat["input_size"]
    parts = ", ".join(f"{k} {v:.2f}" for k, v in lat["breakdown_ms"].items())
    model = lat["model"]
    how = (
        f"{model['scale']:.4f} x table sum {lat['table_sum_ms']:.2f} ms "
        f"{'-' if model['overhead_ms'] < 0 else '+'} {abs(model['overhead_ms']):.2f} ms"
        if model
        else "plain table sum, no --latency-model"
    )
    return [
        f"latency:       {lat['predicted_ms']:.2f} ms predicted ({how})",
        f"  table parts: {parts} ms",
        f"  measured on: {lat['device']}, 1x3x{h}x{w} (batch {lat['batch_size']}), "
        f"{lat['dtype']}, {lat['threads']} thread(s), {lat['statistic']} of {lat['repeats']} "
        f"runs ({lat['clock']} clock), torch {lat['torch']}, {lat['date']}",
    ]


def _format_info(info: dict[str, Any]) -> str:
    cost = info["cost"]
    h, w = cost["input_size"]
    lines = [
        f"file:          {info['file']} ({info['format']} format)",
        f"search space:  {info['search_space']}",
        f"id:            {info['id']}",
        f"compact:       {info['compact']}",
        f"branches:      {len(info['branches'])}",
    ]
    for b, branch in enumerate(info["branches"]):
        cells = info["compact"].split(";")[b].partition(":")[2].replace("|", " ")
        lines.append(
            f"  branch {b}: {branch['depth']} cells, ends at "
            f"{scale_name(branch['final_scale'])}: {cells}"
        )
    lines += [
        "final scales:  " + ", ".join(scale_name(s) for s in info["final_scales"]),
        f"input:         1x3x{h}x{w}, {cost['num_classes']} classes",
        f"params:        {cost['params'] / 1e6:.3f} M inference, "
        f"{cost['params_no_aux_heads'] / 1e6:.3f} M without aux heads (incl. aux fusions, as "
        f"the reference counts), {cost['params_train'] / 1e6:.3f} M with aux heads",
        f"MACs:          {cost['macs'] / 1e9:.2f} G",
        f"activations:   {cost['activation_bytes'] / 2**20:.1f} MiB "
        "(sum of leaf-module outputs, float32, batch 1)",
    ]
    if "latency" in info:
        lines += _format_latency(info["latency"])
    return "\n".join(lines)


def cmd_arch_info(args: argparse.Namespace) -> int:
    """`hyctas arch info`: structure and cost of one architecture file."""
    info = arch_info(args)
    print(json.dumps(info, indent=2) if args.json else _format_info(info))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """`hyctas predict`: segment the user's images with a retrained model (.pt or .onnx)."""
    from hyctas.evaluation.inference import InferenceConfig
    from hyctas.evaluation.predict import predict_files
    from hyctas.params import load_params

    if args.params is not None:  # evaluate's test-time inference: flip, scales, sliding window
        block = load_params(args.params)["evaluate"]  # checked against the schema
        inference = InferenceConfig.from_params(
            {**block, "flip": block["flip"] or args.flip}, "evaluate"
        )
    else:
        inference = InferenceConfig(flip=args.flip, scales=(1.0,), window=None)
    written = predict_files(
        args.model,
        args.images,
        args.out,
        device=args.device,
        inference=inference,
        size=tuple(args.size) if args.size else None,
        progress=not args.quiet,
    )
    if not args.quiet:
        print(f"wrote {2 * len(written)} files to {args.out}")
    return 0


def _add_predict(groups: argparse._SubParsersAction) -> None:
    predict = groups.add_parser(
        "predict",
        help="segment your own images with a retrained model",
        description="Writes <stem>_trainIds.png and <stem>_overlay.png per image. Images of "
        "any size are padded (mirrored) to multiples of 64, or resized with --size.",
    )
    predict.add_argument(
        "--model", required=True, help="retrained checkpoint (.pt) or ONNX export (.onnx)"
    )
    predict.add_argument("images", nargs="+", help="image files (any size, any OpenCV format)")
    predict.add_argument("--out", required=True, help="output folder (created if missing)")
    predict.add_argument(
        "--device", default="cpu", help="torch device or, for .onnx, cpu/cuda (default: cpu)"
    )
    predict.add_argument(
        "--flip", action="store_true", help="average with the mirrored image's prediction"
    )
    predict.add_argument(
        "--size",
        nargs=2,
        type=int,
        metavar=("H", "W"),
        help="resize to H x W (multiples of 64) instead of padding; results are resized back",
    )
    predict.add_argument(
        "--params",
        type=Path,
        default=None,
        help="predict as evaluate does: its flip, scales and sliding_window from this params file",
    )
    predict.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    predict.set_defaults(func=cmd_predict)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: `hyctas <group> <command> ...`, each command with a `func`."""
    parser = argparse.ArgumentParser(prog="hyctas", description=__doc__.splitlines()[0])
    groups = parser.add_subparsers(dest="group", required=True, metavar="{arch,predict}")
    arch = groups.add_parser("arch", help="inspect architecture files")
    arch_cmds = arch.add_subparsers(dest="command", required=True, metavar="{info}")
    info = arch_cmds.add_parser(
        "info",
        help="branches, cells, parameters, MACs and activation size of an architecture",
        description="Describe an architecture file (our format or the published one).",
    )
    info.add_argument("file", help="architecture JSON (our format or the published encoding)")
    info.add_argument(
        "--input-size",
        nargs=2,
        type=int,
        metavar=("H", "W"),
        help=f"input height and width, multiples of 64 (default: {DEFAULT_INPUT_SIZE[0]} "
        f"{DEFAULT_INPUT_SIZE[1]}, the published setting)",
    )
    info.add_argument(
        "--classes",
        type=int,
        help=f"output classes (default: base.num_classes of --params, else {DEFAULT_CLASSES})",
    )
    info.add_argument(
        "--params",
        help="params.yaml whose search_space sizes the network (required for our format; "
        "without it a published-format file uses a built-in published-scale config)",
    )
    info.add_argument(
        "--latency-table",
        help="latency table of profile_latency: also print the predicted latency (at the "
        "table's input size and device, whatever --input-size says)",
    )
    info.add_argument(
        "--latency-model",
        help="fitted correction of the same profile_latency run (default: plain table sum)",
    )
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=cmd_arch_info)
    _add_predict(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hyctas` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HyctasError as err:
        print(f"hyctas: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
