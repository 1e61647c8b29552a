"""Stop signals at the level of the commands the DAGs run: SIGTERM (preemption, a time limit)
checkpoints and exits 143 with "run again"; SIGKILL leaves no output and DVC reruns the stage;
the multi-GPU launcher stops its ranks together. Apart from test_faults.py so that the two
files run side by side under pytest-xdist (each is a few minutes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipeline.tiny import (
    PREPARE_DATA_ARGS,
    env,
    pretrain_args,
    tiny_params,
    tiny_repo,
    write_params,
)

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    dest = tiny_repo(tmp_path_factory.mktemp("signals"))
    cmd = [sys.executable, "-m", "stages.prepare_data", "--params", "params.yaml"]
    proc = subprocess.run(
        [*cmd, *PREPARE_DATA_ARGS], cwd=dest, env=env(dest), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dest


# --- stop signals -----------------------------------------------------------------------------
PRETRAIN_OUTS = [
    "results/pretrain_supernet/supernet.pt",
    "results/pretrain_supernet/train_log.csv",
    "results/pretrain_supernet/probes.csv",
    "results/pretrain_supernet/metrics.json",
]
CHECKPOINT = "checkpoints/pretrain_supernet/last.pt"


def stage_process(parent: int, module: str, timeout: float = 120):
    """The Python process running `python -m <module>` under `parent`.

    DVC runs the command through $SHELL; dash (`/bin/sh`, where CI leaves SHELL unset) stays
    as the parent `sh -c "python -m ..."`, whose command line also names the module: a signal
    sent to that shell never reaches the stage. The module as its own argument picks Python.
    """
    psutil = pytest.importorskip("psutil")
    deadline = time.time() + timeout
    while time.time() < deadline:
        for child in psutil.Process(parent).children(recursive=True):
            try:
                if module in child.cmdline() and module not in child.parent().cmdline():
                    return child  # not a forked DataLoader worker, whose parent matches too
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.2)
    raise AssertionError(f"no {module} process under {parent}")


def repro_until_checkpoint(repo: Path, after_step: int = 0):
    """Start `dvc repro pretrain_supernet`; return (dvc process, stage process) once a checkpoint
    past `after_step` exists."""
    import torch  # before the stage starts: importing it takes seconds on a slow machine

    dvc = subprocess.Popen(
        [str(Path(sys.executable).with_name("dvc")), "repro", "pretrain_supernet"],
        cwd=repo,
        env=env(repo),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    child = stage_process(dvc.pid, "stages.pretrain_supernet")
    deadline = time.time() + 240
    while True:
        assert dvc.poll() is None, dvc.stdout.read()[-3000:]
        assert time.time() < deadline, "no checkpoint in time"
        path = repo / CHECKPOINT
        if path.is_file():
            try:
                if torch.load(path, weights_only=True)["step"] > after_step:
                    return dvc, child
            except Exception:  # noqa: BLE001 - replaced while we read it: try again
                pass
        time.sleep(0.3)


def dvc_run(repo: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """`dvc ARGS` in `repo`, output captured."""
    dvc = str(Path(sys.executable).with_name("dvc"))
    return subprocess.run(
        [dvc, *args], cwd=repo, env=env(repo), capture_output=True, text=True, timeout=timeout
    )


def test_sigterm_and_sigkill_lose_nothing_and_dvc_repro_resumes(tmp_path):
    # Enough steps that each signal lands inside the training loop even on a slow, busy CI
    # machine (a signal after the loop meets the default handler, not the path under test).
    repo = tiny_repo(
        tmp_path,
        {
            "pretrain_supernet": {
                "probe_every": 1000,
                "recipe": {"iterations": 120, "checkpoint_every": 2},
            }
        },
    )
    # 1. SIGTERM (preemption, time limit): checkpoint, exit 143 with a message, no output.
    proc, child = repro_until_checkpoint(repo)
    child.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "exited with 143" in out and "run the stage again to resume" in out, out[-3000:]
    assert "SIGTERM received at step" in out and "Traceback" not in out, out[-3000:]
    assert not [o for o in PRETRAIN_OUTS if (repo / o).exists()], out[-2000:]
    stopped_at = __import__("torch").load(repo / CHECKPOINT, weights_only=True)["step"]
    # 2. SIGKILL mid-run (no handler runs): still no output, and DVC does not consider it done.
    proc, child = repro_until_checkpoint(repo, after_step=stopped_at)
    child.kill()
    proc.communicate(timeout=120)
    assert not [o for o in PRETRAIN_OUTS if (repo / o).exists()]
    status = dvc_run(repo, "status", "pretrain_supernet")
    assert "pretrain_supernet" in status.stdout and "up to date" not in status.stdout, status.stdout
    # 3. A plain re-run resumes from the checkpoint and finishes.
    proc = dvc_run(repo, "repro", "pretrain_supernet", timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    metrics = json.loads((repo / PRETRAIN_OUTS[-1]).read_text())
    assert metrics["resumed_from_step"] > stopped_at, metrics
    assert not list(
        (repo / "results/pretrain_supernet").glob("*.tmp-*")
    )  # no temp file kept as output
    again = dvc_run(repo, "status", "pretrain_supernet")
    assert "up to date" in again.stdout, again.stdout
    # 4. MLflow: the SIGTERM'd attempt ended KILLED, the SIGKILLed one could not end (RUNNING),
    # and the pipeline's parent run follows the latest attempt of each stage: FINISHED.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(env(repo)["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(tiny_params()["base"]["mlflow_experiment"])
    attempts = client.search_runs(
        [experiment.experiment_id],
        "tags.`hyctas.stage` = 'pretrain_supernet'",
        order_by=["attributes.start_time ASC"],
    )
    assert [r.info.status for r in attempts] == ["KILLED", "RUNNING", "FINISHED"]
    parents = client.search_runs([experiment.experiment_id], "tags.`hyctas.kind` = 'pipeline'")
    assert [r.info.status for r in parents] == ["FINISHED"]


# --- multi-GPU launcher (2 CPU processes with gloo stand in for 2 GPUs) --------------------------
def test_two_gpus_run_two_processes_stop_together_and_only_rank0_writes(repo):
    two = write_params(
        repo,
        "two.yaml",
        {
            "resources": {"pretrain_supernet": {"gpus": 2}},
            "pretrain_supernet": {
                "probe_every": 100,
                "recipe": {"iterations": 30, "checkpoint_every": 2},
            },
        },
    )
    out = repo / "out" / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "stages.pretrain_supernet",
        "--params",
        two,
        *pretrain_args(out, "ck/ddp.pt"),
    ]
    # SLURM signals every process of the job: the launcher and both ranks get SIGTERM.
    first = subprocess.Popen(
        cmd,
        cwd=repo,
        env=env(repo),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 240
    while not (repo / "ck/ddp.pt").is_file():
        assert first.poll() is None and time.time() < deadline, first.communicate()[1][-3000:]
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGTERM)
    _, err = first.communicate(timeout=180)
    assert first.returncode == 143, err[-3000:]
    assert "running 2 processes" in err and "run the stage again to resume" in err
    assert not out.exists()
    proc = subprocess.run(cmd, cwd=repo, env=env(repo), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("[pretrain_supernet] {") == 1  # one summary: rank 0 only
    assert sorted(p.name for p in out.iterdir()) == [
        "log.csv",
        "metrics.json",
        "probes.csv",
        "supernet.pt",
    ]
    assert json.loads((out / "metrics.json").read_text())["resumed_from_step"] > 0
    log = (out / "log.csv").read_text().splitlines()
    assert len(log) == 1 + len(set(log[1:]))  # one row per logged step, not one per rank
