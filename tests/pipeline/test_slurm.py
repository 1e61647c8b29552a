"""The pipeline through a real SLURM (one node on localhost) with workflow/profiles/slurm.

Starts munged, slurmctld and slurmd (tests/pipeline/slurm_cluster.py; skipped with the reason
where that is impossible: not root, no apt-get, a real SLURM config present), then:
1. a training job preempted by SLURM (`scancel --signal=TERM`) exits 143, Snakemake resubmits
   it (restart-times) and the new job resumes from the checkpoint;
2. the tiny DAG runs to the end through sbatch, each job with the resources params.yaml gives.
Every daemon is stopped by PID in the fixture's finalizer, also when a test fails.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipeline.slurm_cluster import ClusterUnavailable, start_cluster
from tests.pipeline.tiny import REPO, TWO_TARGETS, env, tiny_params, tiny_repo

pytestmark = [pytest.mark.slurm, pytest.mark.pipeline]

# What the one-node test cluster can hold (2 cores here); every key as in params.yaml.
SMALL = {
    "cpus": 1,
    "mem_mb": 1200,
    "runtime_min": 15,
    "partition": None,
    "gpus": 0,
    "slurm_extra": "",
}
# Every rule params.yaml gives its own resources entry is shrunk too.
RESOURCES = {
    "default": SMALL,
    **{
        rule: {"cpus": 1, "mem_mb": 1200, "slurm_extra": ""}
        for rule in tiny_params()["resources"]
        if rule != "default"
    },
}
# A pretraining long enough to be preempted after its first checkpoint.
PRETRAIN = {"probe_every": 100, "recipe": {"iterations": 40, "checkpoint_every": 2}}
PRETRAIN_METRICS = "results/pretrain_supernet/metrics.json"
CHECKPOINT = "checkpoints/pretrain_supernet/last.pt"
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: ([^)\s]+)\)")


def full_dag_ready() -> bool:
    """Whether every stage script of the DAG exists yet (the SLURM run then goes to the end)."""
    return all(
        (REPO / "stages" / f"{name}.py").is_file()
        for name in ("profile_latency", "search", "report")
    )


@pytest.fixture(scope="module")
def cluster():
    try:
        running = start_cluster()
    except ClusterUnavailable as exc:
        pytest.skip(f"no local SLURM cluster: {exc}")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return tiny_repo(
        tmp_path_factory.mktemp("slurm"),
        {**TWO_TARGETS, "resources": RESOURCES, "pretrain_supernet": PRETRAIN},
    )


def snakemake(*args: str) -> list[str]:
    """`snakemake --profile workflow/profiles/slurm ...`, polling SLURM every few seconds."""
    bin_dir = Path(sys.executable).parent
    return [
        str(bin_dir / "snakemake"),
        "--profile",
        "workflow/profiles/slurm",
        "--workflow-profile",  # else workflow/profiles/default (local: cores 2) overrides keys
        "none",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--jobs",
        "2",
        "--latency-wait",
        "5",
        *args,
    ]


def slurm_env(repo: Path, cluster) -> dict[str, str]:
    """The tiny repo's environment, aimed at the test cluster."""
    return {**env(repo), "SLURM_CONF": str(cluster.conf)}


def submitted(log: str) -> list[tuple[int, str]]:
    """(SLURM job id, rule) of every job Snakemake says it submitted through sbatch."""
    return [
        (int(jobid), re.search(r"rule_(\w+)", path).group(1))
        for jobid, path in SUBMITTED.findall(log)
    ]


def test_preempted_training_job_is_resubmitted_and_resumes(cluster, repo):
    proc = subprocess.Popen(
        snakemake(PRETRAIN_METRICS),
        cwd=repo,
        env=slurm_env(repo, cluster),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 400
        while not (repo / CHECKPOINT).is_file():  # first checkpoint written inside the SLURM job
            assert proc.poll() is None, (
                f"snakemake ended before the first checkpoint:\n{proc.stdout.read()[-4000:]}"
            )
            assert time.time() < deadline, "no checkpoint after 400 s"
            time.sleep(0.5)
        running = cluster.command("squeue", "-h", "-t", "RUNNING", "-o", "%i").stdout.split()
        assert len(running) == 1, running
        # What SLURM does on preemption or at the time limit: SIGTERM to the job's steps.
        cancel = cluster.command("scancel", "--signal=TERM", running[0])
        assert cancel.returncode == 0, cancel.stderr
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-6000:]
    jobs = submitted(out)
    assert [rule for _, rule in jobs].count("pretrain_supernet") == 2, (
        jobs
    )  # the retry went through sbatch
    assert "Trying to restart job" in out
    preempted = next(j for j in cluster.completed_jobs() if j["JobId"] == running[0])
    assert preempted["JobState"] == "FAILED", preempted
    assert list(
        (repo / ".snakemake" / "slurm_logs").rglob(f"{running[0]}.log")
    )  # a failed job's log is kept
    metrics = json.loads((repo / PRETRAIN_METRICS).read_text())
    assert metrics["resumed_from_step"] >= 2, metrics  # resumed, not restarted from scratch


def test_tiny_dag_runs_through_sbatch(cluster, repo):
    # Until every stage exists, rerun the first two (the pretraining resumes at its last step).
    target, force = (
        ("reports/summary.md", []) if full_dag_ready() else (PRETRAIN_METRICS, ["--forceall"])
    )
    before = {j["JobId"] for j in cluster.completed_jobs()}
    proc = subprocess.run(
        snakemake(*force, target),
        cwd=repo,
        env=slurm_env(repo, cluster),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    assert (repo / target).is_file()
    jobs = submitted(proc.stdout + proc.stderr)
    assert jobs, proc.stderr[-3000:]
    if target != PRETRAIN_METRICS:
        assert {"profile_latency", "search", "select", "retrain", "evaluate", "report"} <= {
            r for _, r in jobs
        }
    done = {j["JobId"]: j for j in cluster.completed_jobs() if j["JobId"] not in before}
    for (
        jobid,
        rule,
    ) in jobs:  # every job ran under slurmd, in the repo, with params.yaml's resources
        record = done[str(jobid)]
        assert record["JobState"] == "COMPLETED", record
        assert Path(record["WorkDir"]).resolve() == repo.resolve()
        assert "cpu=1," in record["Tres"] and "mem=1200M" in record["Tres"], (rule, record["Tres"])
    assert "sched: Allocate JobId=" in cluster.log("slurmctld.log")


def test_generic_cluster_profile_submits_its_own_sbatch_line(cluster, repo):
    bin_dir = Path(sys.executable).parent
    cmd = [
        str(bin_dir / "snakemake"),
        "--profile",
        "workflow/profiles/generic-cluster",
        "--workflow-profile",
        "none",
        "--seconds-between-status-checks",
        "2",
        "--latency-wait",
        "5",
        "--forcerun",
        "prepare_data",
        "--",
        "data/prepare_data/metrics.json",
    ]
    before = {j["JobId"] for j in cluster.completed_jobs()}
    proc = subprocess.run(
        cmd, cwd=repo, env=slurm_env(repo, cluster), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    new = [j for j in cluster.completed_jobs() if j["JobId"] not in before]
    assert [j["JobState"] for j in new] == ["COMPLETED"], new
    assert new[0]["Name"] == "hyctas-prepare_data"  # the --job-name of the profile's sbatch line
    assert "cpu=1," in new[0]["Tres"] and "mem=1200M" in new[0]["Tres"], new[0]["Tres"]
    assert (repo / "logs/slurm" / f"prepare_data-{new[0]['JobId']}.out").is_file()
