"""pretrain_supernet: resumes exactly after an interruption; trains under 2-process DDP."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from tests.pipeline.tiny import PREPARE_DATA_ARGS, pretrain_args, run, tiny_repo


def stage_args(tag: str) -> list[str]:
    return ["--params", "params.yaml", *pretrain_args(f"results/{tag}", f"ckpt/{tag}.pt")]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    dest = tiny_repo(tmp_path_factory.mktemp("pretrain"))
    run(
        dest,
        sys.executable,
        "-m",
        "stages.prepare_data",
        "--params",
        "params.yaml",
        *PREPARE_DATA_ARGS,
    )
    return dest


@pytest.mark.pipeline
def test_interrupted_run_resumes_to_the_same_weights(repo):
    stage = [sys.executable, "-m", "stages.pretrain_supernet"]
    run(repo, *stage, *stage_args("straight"))
    stopped = run(repo, *stage, *stage_args("resumed"), "--stop-after", "3", check=False)
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    assert "run the stage again to resume" in stopped.stderr
    assert not (repo / "results/resumed/supernet.pt").exists()  # no final output after a stop
    run(repo, *stage, *stage_args("resumed"))
    a = torch.load(repo / "results/straight/supernet.pt", weights_only=True)["model"]
    b = torch.load(repo / "results/resumed/supernet.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    metrics = json.loads((repo / "results/resumed/metrics.json").read_text())
    assert metrics["resumed_from_step"] == 3
    assert {
        "probe_smallest_miou",
        "probe_largest_miou",
        "probe_random_miou",
        "chance_miou",
    } <= metrics.keys()


@pytest.mark.pipeline
def test_two_process_gloo_ddp_only_rank0_writes(repo):
    torchrun = str(__import__("pathlib").Path(sys.executable).with_name("torchrun"))
    proc = run(
        repo,
        torchrun,
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "stages.pretrain_supernet",
        *stage_args("ddp"),
        timeout=900,
    )
    out = repo / "results/ddp"
    assert sorted(p.name for p in out.iterdir()) == [
        "log.csv",
        "metrics.json",
        "probes.csv",
        "supernet.pt",
    ]
    state = torch.load(out / "supernet.pt", weights_only=True)
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())
    assert proc.stdout.count("[pretrain_supernet] {") == 1  # one summary line: rank 0 only
    history = (out / "log.csv").read_text().splitlines()
    assert history[0].startswith("step,loss,lr,images_per_s") and len(history) == 4
