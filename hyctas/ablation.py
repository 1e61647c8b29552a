"""Ablations: variants of a scenario, each run up to one stage, compared side by side.

An ablation file (e.g. `scenarios/supernet_ablation.yaml`) names a base scenario, the stage
every variant runs to, the metrics file of that stage and the keys to compare, and the
variants: params overlays applied on top of the base scenario's own.

    base: search_quality.yaml        # the scenario the variants start from (beside this file)
    stage: rank_check                # each variant runs up to this stage
    metrics: results/rank_check/metrics.json
    compare: [kendall_tau, spearman_rho, seed_tau]   # a.b: key b of the metrics' block a
    variants:
      uniform: {pretrain_supernet: {sampling: uniform}}
      sandwich: {pretrain_supernet: {sampling: sandwich}}

The variants run one after another in a workspace of their own,
`scenarios/runs/<ablation>/`, first copied from the base scenario's workspace (which must have
run): its data, latency table and checkpoints come along, so a variant of supernet training
reruns only `pretrain_supernet` and `rank_check`, and rank_check reuses the base's stand-alone
runs (their fingerprint holds no supernet). Each variant's metrics are kept in
`<workspace>/ablation/<variant>.json` with its fingerprint (the merged params, the project's
code, the base's `dvc.lock`); rerunning the ablation skips every variant whose result matches,
so an interrupted ablation resumes at the variant it was on. When the base scenario reran
since the copy, the workspace is copied afresh and every variant reruns. `summary.md` and
`summary.json` beside them compare the variants.

    python -m hyctas.ablation scenarios/supernet_ablation.yaml
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyctas.atomic import write_json, write_text
from hyctas.errors import ConfigError
from hyctas.provenance import PROJECT_ROOT, Fingerprint, file_digest, files_digest
from hyctas.scenario import cli_exits, load_overlay, merged_params, overlay_params, run_overlay

RESULTS_DIR = "ablation"  # inside the ablation's workspace
BASE_LOCK = "base_lock.digest"  # digest of the base's dvc.lock when it was copied
KEYS = ("base", "stage", "metrics", "compare", "variants")


@dataclass(frozen=True)
class Ablation:
    """An ablation file, read and checked (see the module docstring)."""

    name: str
    base: Path
    stage: str
    metrics: str
    compare: tuple[str, ...]
    variants: dict[str, dict]

    @classmethod
    def load(cls, path: Path) -> Ablation:
        """Read `path`; ConfigError naming the file and key when it is malformed."""
        data = load_overlay(path)
        missing = [k for k in KEYS if k not in data]
        unknown = sorted(set(data) - set(KEYS))
        if missing or unknown:
            raise ConfigError(
                f"{path}: an ablation has the keys {', '.join(KEYS)}"
                + (f"; missing {missing}" if missing else "")
                + (f"; unknown {unknown}" if unknown else "")
            )
        variants = data["variants"]
        if not isinstance(variants, dict) or not variants:
            raise ConfigError(f"{path}: variants must map names to params overlays")
        for name, overlay in variants.items():
            if not isinstance(overlay, dict):
                raise ConfigError(f"{path}: variants.{name} must be a params overlay (a mapping)")
        compare = data["compare"]
        if not isinstance(compare, list) or not all(isinstance(k, str) for k in compare):
            raise ConfigError(f"{path}: compare must be a list of metric names")
        base = path.parent / data["base"]
        if not base.is_file():
            raise ConfigError(f"{path}: base {data['base']!r}: no scenario file {base}")
        return cls(path.stem, base, str(data["stage"]), str(data["metrics"]), tuple(compare),
                   dict(variants))  # fmt: skip


def copy_base_workspace(base_workspace: Path, workspace: Path, base_name: str) -> None:
    """Copy the base scenario's workspace to `workspace` (outputs, DVC lock, checkpoints).

    Copied once, and again whenever the base's `dvc.lock` changed since (the base reran):
    variants always start from the base's current outputs.
    """
    lock = base_workspace / "dvc.lock"
    if not lock.is_file():
        raise ConfigError(
            f"{base_workspace}: the base scenario has not run; run "
            f"`python -m hyctas.scenario scenarios/{base_name}.yaml` first (the variants start "
            "from its outputs)"
        )
    stamp = workspace / RESULTS_DIR / BASE_LOCK
    if stamp.is_file() and stamp.read_text() == file_digest(lock):
        return
    tmp = workspace.with_name(f".{workspace.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(base_workspace, tmp, symlinks=True)
    write_text(tmp / RESULTS_DIR / BASE_LOCK, file_digest(lock))
    shutil.rmtree(workspace, ignore_errors=True)
    tmp.rename(workspace)  # a copy interrupted half-way is never taken for the workspace


def project_code_digest(root: Path) -> str:
    """One digest of every Python file of the library and the stage scripts."""
    files = sorted(p for package in ("hyctas", "stages") for p in (root / package).rglob("*.py"))
    return files_digest(files, root)


def variant_fingerprint(ablation: Ablation, overlay: dict, root: Path) -> Fingerprint:
    """What a variant's result depends on: the merged params, the base's lock, all the code.

    All the code, not only the stage's: a variant reruns the stages upstream of it.
    """
    params = merged_params(overlay, root)
    lock = root / "scenarios" / "runs" / ablation.base.stem / "dvc.lock"
    fingerprint = Fingerprint.of(ablation.stage, params, {"base_lock": lock})
    return Fingerprint({**fingerprint.parts, "code:project": project_code_digest(root)})


def metric(metrics: dict, key: str) -> Any:
    """`metrics[key]`, where a dotted key reaches into nested blocks (`efficiency.seeds`)."""
    value: Any = metrics
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def summary_markdown(ablation: Ablation, results: dict[str, dict]) -> str:
    """One row per variant, one column per compared metric, and each variant's overlay."""
    head = "| variant | " + " | ".join(ablation.compare) + " |"
    lines = [f"# Ablation `{ablation.name}` (base: `{ablation.base.name}`)", "", head]
    lines.append("|" + "---|" * (len(ablation.compare) + 1))
    for variant, result in results.items():
        values = [metric(result["metrics"], key) for key in ablation.compare]
        cells = " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in values)
        lines.append(f"| {variant} | {cells} |")
    lines += ["", "Variants (params overlays on the base scenario's):", ""]
    lines += [f"- `{v}`: `{json.dumps(ablation.variants[v], sort_keys=True)}`" for v in results]
    return "\n".join(lines) + "\n"


def run_ablation(
    ablation: Ablation, *, engine: str = "dvc", root: Path = PROJECT_ROOT
) -> dict[str, dict]:
    """Run every variant not yet done (see the module docstring); returns results by variant."""
    runs = root / "scenarios" / "runs"
    workspace = runs / ablation.name
    copy_base_workspace(runs / ablation.base.stem, workspace, ablation.base.stem)
    base_overlay = load_overlay(ablation.base)
    results: dict[str, dict] = {}
    for variant, extra in ablation.variants.items():
        overlay = overlay_params(base_overlay, extra)
        fingerprint = variant_fingerprint(ablation, overlay, root)
        path = workspace / RESULTS_DIR / f"{variant}.json"
        stored = json.loads(path.read_text()) if path.is_file() else None
        if stored is not None and fingerprint.matches(stored.get("fingerprint")):
            print(f"[ablation] {variant}: done before, kept ({path})")
            results[variant] = stored
            continue
        run_overlay(
            overlay,
            f"{ablation.name}/{variant}",
            source=f"{ablation.base} + variants.{variant}",
            engine=engine,
            workspace=workspace,
            stages=[ablation.stage],
            root=root,
        )
        metrics = json.loads((workspace / ablation.metrics).read_text())
        results[variant] = {
            "variant": variant,
            "overlay": extra,
            "metrics": metrics,
            "fingerprint": fingerprint.to_dict(),
        }
        write_json(path, results[variant])
    write_json(workspace / RESULTS_DIR / "summary.json", _summary(ablation, results))
    write_text(workspace / RESULTS_DIR / "summary.md", summary_markdown(ablation, results))
    print(f"[ablation] {ablation.name}: {workspace / RESULTS_DIR / 'summary.md'}")
    return results


def _summary(ablation: Ablation, results: dict[str, dict]) -> dict[str, Any]:
    return {
        "base": ablation.base.name,
        "stage": ablation.stage,
        "variants": {
            v: {k: metric(r["metrics"], k) for k in ablation.compare} for v, r in results.items()
        },
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m hyctas.ablation ABLATION [--engine dvc|snakemake]`."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("ablation", type=Path, help="ablation YAML (base, stage, variants)")
    parser.add_argument("--engine", choices=["dvc", "snakemake"], default="dvc")
    args = parser.parse_args(argv)
    with cli_exits("ablation"):
        run_ablation(Ablation.load(args.ablation), engine=args.engine)


if __name__ == "__main__":
    main()
