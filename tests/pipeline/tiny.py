"""A copy of the repository with tiny params, for running real stages and DAGs in tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from hyctas.scenario import overlay_params

REPO = Path(__file__).resolve().parents[2]
OVERRIDES = Path(__file__).with_name("tiny_overrides.yaml")


# One searched target and one baseline: for whole-DAG tests of something other than the
# target fan-out (datasets, SLURM), so that each DAG run stays short.
TWO_TARGETS = {
    "select": {
        "targets": {
            "fast": {"front_quantile": 0.0},
            "baseline": {"baseline": "fast_scnn", "width": 0.25},
        }
    },
    "rank_check": {"architectures": 2, "repeats": 0},
}


def tiny_params(extra: dict | None = None) -> dict:
    """params.yaml with the tiny overrides (and `extra`) applied; targets are replaced whole."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    tiny = overlay_params(params, yaml.safe_load(OVERRIDES.read_text()))
    return overlay_params(tiny, extra or {})


def tiny_repo(dest: Path, extra: dict | None = None) -> Path:
    """Copy the tracked tree to `dest` as a fresh git repo with tiny params; returns `dest`."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    (dest / "params.yaml").write_text(yaml.safe_dump(tiny_params(extra), sort_keys=False))
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "tiny"], cwd=dest, check=True)
    return dest


def env(dest: Path) -> dict[str, str]:
    """Environment for commands in a tiny repo: the venv first on PATH, a private MLflow store."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{dest / 'mlflow.db'}",
        "PYTHONPATH": str(dest),
        # one torch thread per process: parallel jobs on 2 cores otherwise wait on each other
        "OMP_NUM_THREADS": "1",
    }


def run(
    dest: Path, *cmd: str, check: bool = True, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run `cmd` in the tiny repo and return the finished process (output captured)."""
    proc = subprocess.run(
        list(cmd), cwd=dest, env=env(dest), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


# Output arguments of `python -m stages.prepare_data` at the paths dvc.yaml declares.
PREPARE_DATA_ARGS = (
    "--dataset-out",
    "data/prepare_data/dataset",
    "--lists-out",
    "data/prepare_data/lists",
    "--metrics-out",
    "data/prepare_data/metrics.json",
)


def pretrain_args(out: str | Path, checkpoint: str) -> list[str]:
    """Arguments of `python -m stages.pretrain_supernet` writing every output under `out`."""
    return [
        "--lists",
        "data/prepare_data/lists",
        "--checkpoint",
        checkpoint,
        "--out",
        f"{out}/supernet.pt",
        "--train-log",
        f"{out}/log.csv",
        "--probes",
        f"{out}/probes.csv",
        "--metrics-out",
        f"{out}/metrics.json",
    ]


def write_params(repo: Path, name: str, extra: dict, edit=None) -> str:
    """Tiny params plus `extra` (deep-merged), then `edit(params)`, written to `repo/name`."""
    params = tiny_params(extra)
    if edit:
        edit(params)
    (repo / name).write_text(yaml.safe_dump(params, sort_keys=False))
    return name


def stage(repo: Path, name: str, *args: str, params: str = "params.yaml", timeout: int = 300):
    """Run `python -m stages.<name> --params <params> args` in `repo`; returns the process."""
    cmd = [sys.executable, "-m", f"stages.{name}", "--params", params, *args]
    return subprocess.run(
        cmd, cwd=repo, env=env(repo), capture_output=True, text=True, timeout=timeout
    )


def write_archive(path: Path, latencies: list[float]) -> None:
    """A search archive (the real file format) of two-cell architectures with these latencies."""
    from hyctas.search.archive import Archive
    from hyctas.search.objectives import ACCURACY, LATENCY, Objective
    from hyctas.space.arch import Arch, Cell

    values = {}
    archive = Archive(
        [
            Objective(ACCURACY, lambda a: values[a.id][0], "max"),
            Objective(LATENCY, lambda a: values[a.id][1], "min"),
        ]
    )
    widths = (0.5, 0.666667, 1.0)
    for i, latency in enumerate(latencies):
        arch = Arch(((Cell("conv", widths[i], 1), Cell("conv", 1.0, 1)),))
        values[arch.id] = (0.1 * (i + 1), latency)
        archive.evaluate(arch, generation=1, method="nsga2")
    archive.save(path, runs={"nsga2": list(values)})
