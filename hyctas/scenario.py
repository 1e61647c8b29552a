"""Scenarios: the whole pipeline on a params overlay, in a workspace of its own.

A scenario is a YAML file of params that differ from `params.yaml` (for example
`scenarios/search_quality.yaml`: a longer supernet schedule, more architectures ranked, more
search seeds). Running it copies the project's tracked files into a workspace
(`scenarios/runs/<name>/`, ignored by git), writes `params.yaml` there as the project's params
with the overlay merged in, and runs the DAG there with DVC or Snakemake. The workspace keeps
its DVC lock, checkpoints and outputs, so running the scenario again resumes it stage by
stage; files are only rewritten when their content changed, so unchanged code and params
rerun nothing. MLflow runs go to the project's own store (`mlflow.db` beside `params.yaml`,
unless `MLFLOW_TRACKING_URI` is set), in the experiment the overlay names.

    python -m hyctas.scenario scenarios/search_quality.yaml              # dvc repro
    python -m hyctas.scenario scenarios/search_quality.yaml --engine snakemake --cores 2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from hyctas.errors import ConfigError
from hyctas.params import validate_params
from hyctas.provenance import PROJECT_ROOT

REPLACED_WHOLE = (("select", "targets"),)  # a scenario names its own targets, not a merge


def merge(base: dict, extra: dict) -> dict:
    """Deep-merge `extra` into a copy of `base` (dicts merge, everything else replaces)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            merge(base[key], value)
            if isinstance(value, dict) and isinstance(base.get(key), dict)
            else value
        )
    return out


def overlay_params(base: dict, overlay: dict) -> dict:
    """`base` with `overlay` merged in; `select.targets`, when the overlay has it, replaced."""
    merged = merge(base, overlay)
    for path in REPLACED_WHOLE:
        node: Any = overlay
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            merged[path[0]] = {**merged[path[0]], path[1]: node}
    return merged


def tracked_files(root: Path = PROJECT_ROOT) -> list[str]:
    """The project's files as git sees them (tracked, and new ones git does not ignore)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [name for name in out.splitlines() if (root / name).is_file()]


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def sync_workspace(workspace: Path, params: dict, root: Path = PROJECT_ROOT) -> int:
    """Copy the project into `workspace` with `params` as its params.yaml; returns files changed.

    Files whose content is unchanged are left alone (their timestamps too, which Snakemake
    reads), and files the project no longer has are removed from the workspace's code.
    """
    changed = 0
    # The workspace is its own DVC project without git (`dvc init --no-scm`), not a copy of
    # the project's .dvc/ (made for git).
    names = [
        n
        for n in tracked_files(root)
        if n not in ("params.yaml", "dvc.lock") and not n.startswith(".dvc/")
    ]
    for name in names:
        changed += _write_if_changed(workspace / name, (root / name).read_bytes())
    for package in ("hyctas", "stages", "workflow"):  # code deleted in the project
        for path in (workspace / package).rglob("*") if (workspace / package).is_dir() else []:
            rel = path.relative_to(workspace).as_posix()
            if path.is_file() and "__pycache__" not in rel and rel not in names:
                path.unlink()
                changed += 1
    text = yaml.safe_dump(params, sort_keys=False).encode()
    changed += _write_if_changed(workspace / "params.yaml", text)
    if not (workspace / ".dvc").is_dir():
        dvc = [sys.executable, "-m", "dvc"]  # this environment's DVC, whatever PATH says
        subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=workspace, check=True)
        subprocess.run([*dvc, "config", "core.analytics", "false"], cwd=workspace, check=True)
    return changed


def load_overlay(path: Path) -> dict:
    """The overlay YAML at `path` (a mapping), with one clear error when it is not."""
    if not path.is_file():
        raise ConfigError(f"{path}: scenario file not found (see scenarios/ for the shipped ones)")
    try:
        overlay = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(overlay, dict):
        raise ConfigError(f"{path}: a scenario is a mapping of params blocks, got {overlay!r}")
    return overlay


def engine_command(engine: str, cores: int, stages: list[str] | None = None) -> list[str]:
    """The command that runs (or resumes) the DAG in a workspace, up to `stages` if given."""
    if engine == "dvc":
        return ["dvc", "repro", *(stages or [])]
    return ["snakemake", "--cores", str(cores), *(stages or [])]


def merged_params(overlay: dict, root: Path = PROJECT_ROOT) -> dict:
    """The project's params.yaml with `overlay` applied (`overlay_params`), not yet validated."""
    with open(root / "params.yaml", encoding="utf-8") as f:
        return overlay_params(yaml.safe_load(f), overlay)


@contextlib.contextmanager
def cli_exits(tag: str) -> Iterator[None]:
    """A runner's exit codes: 2 for a ConfigError (its message on stderr, prefixed `[tag]`),
    the engine's own code when it failed (its output already went to the terminal), 130 on
    Ctrl-C."""
    try:
        yield
    except ConfigError as exc:
        print(f"[{tag}] error: {exc}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode or 1)
    except KeyboardInterrupt:
        sys.exit(130)


def run_scenario(
    overlay_path: Path,
    *,
    engine: str = "dvc",
    cores: int = 2,
    workspace: Path | None = None,
    stages: list[str] | None = None,
    root: Path = PROJECT_ROOT,
) -> Path:
    """Merge the overlay file, sync the workspace and run the DAG there; returns the workspace.

    `stages` limits the run to those stages (DVC stage names, or Snakemake rules/files) and
    what they need; None runs everything.

    Raises:
        ConfigError: the overlay is unreadable or the merged params break the schema.
        subprocess.CalledProcessError: the engine failed (its output went to the terminal).
    """
    return run_overlay(
        load_overlay(overlay_path),
        overlay_path.stem,
        source=str(overlay_path),
        engine=engine,
        cores=cores,
        workspace=workspace,
        stages=stages,
        root=root,
    )


def run_overlay(
    overlay: dict,
    name: str,
    *,
    source: str,
    engine: str = "dvc",
    cores: int = 2,
    workspace: Path | None = None,
    stages: list[str] | None = None,
    root: Path = PROJECT_ROOT,
) -> Path:
    """`run_scenario` of an overlay already read (`source` names it in errors)."""
    params = merged_params(overlay, root)
    validate_params(params, source=f"params.yaml + {source}")
    workspace = workspace or root / "scenarios" / "runs" / name
    changed = sync_workspace(workspace, params, root)
    print(f"[scenario] {name}: workspace {workspace} ({changed} file(s) updated)")
    env = dict(os.environ)
    env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{(root / 'mlflow.db').resolve()}")
    env.setdefault("DVC_NO_ANALYTICS", "1")
    env["PYTHONPATH"] = str(workspace)  # the workspace's copy of the code, not the project's
    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    subprocess.run(engine_command(engine, cores, stages), cwd=workspace, env=env, check=True)
    print(f"[scenario] {name}: done; report in {workspace / 'reports'}")
    return workspace


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m hyctas.scenario OVERLAY [--engine dvc|snakemake]`."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("overlay", type=Path, help="scenario YAML (params that differ)")
    parser.add_argument("--engine", choices=["dvc", "snakemake"], default="dvc")
    parser.add_argument("--cores", type=int, default=2, help="Snakemake --cores")
    parser.add_argument("--workspace", type=Path, default=None, help="default: scenarios/runs/NAME")
    parser.add_argument("stages", nargs="*", help="only these stages and what they need")
    args = parser.parse_intermixed_args(argv)
    with cli_exits("scenario"):
        run_scenario(
            args.overlay,
            engine=args.engine,
            cores=args.cores,
            workspace=args.workspace,
            stages=args.stages or None,
        )


if __name__ == "__main__":
    main()
