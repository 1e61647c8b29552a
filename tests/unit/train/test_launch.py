"""hyctas.train.launch: how many processes a stage asks for, and one exit status for many."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from hyctas.errors import ConfigError
from hyctas.train import launch
from hyctas.train.launch import EXIT_PREEMPTED, processes_for, relaunch_if_multi_gpu


def params(device: str = "cpu", default: int = 0, **stages: int) -> dict:
    return {
        "base": {"device": device},
        "resources": {"default": {"gpus": default}, **{s: {"gpus": g} for s, g in stages.items()}},
    }


def test_processes_come_from_the_stage_block_over_default():
    assert processes_for(params(retrain=2), "retrain") == 2
    assert processes_for(params(retrain=2), "pretrain_supernet") == 1
    assert processes_for(params(default=3), "pretrain_supernet") == 3
    assert processes_for(params(retrain=0), "retrain") == 1
    assert processes_for({"base": {"device": "cpu"}}, "retrain") == 1  # no resources block


def test_more_gpus_than_visible_names_the_key(monkeypatch):
    monkeypatch.setattr("torch.cuda.device_count", lambda: 1)
    with pytest.raises(ConfigError, match=r"resources\.retrain\.gpus = 4 but only 1 GPU"):
        processes_for(params("cuda", retrain=4), "retrain")


def failure(code: int, at: float) -> SimpleNamespace:
    return SimpleNamespace(exitcode=code, timestamp=at)


@pytest.mark.parametrize(
    ("failures", "status"),
    [
        ({0: failure(2, 1.0)}, 2),  # bad input on rank 0
        ({1: failure(1, 2.0), 0: failure(EXIT_PREEMPTED, 3.0)}, EXIT_PREEMPTED),  # preemption wins
        ({0: failure(-15, 1.0)}, 143),  # killed by SIGTERM before the handler ran
        ({0: failure(1, 5.0), 1: failure(2, 1.0)}, 2),  # the first failure is the cause
    ],
)
def test_exit_status_of_failed_workers(failures, status):
    assert launch._exit_status(failures) == status


def test_no_relaunch_in_a_worker_or_for_one_gpu(monkeypatch):
    monkeypatch.setattr(launch, "launch", lambda *a: pytest.fail("must not launch"))
    monkeypatch.setenv("WORLD_SIZE", "2")
    relaunch_if_multi_gpu(params(retrain=2), "retrain")
    monkeypatch.delenv("WORLD_SIZE")
    relaunch_if_multi_gpu(params(retrain=1), "retrain")


def test_relaunch_exits_with_the_launch_status(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    calls = []
    monkeypatch.setattr(
        launch, "launch", lambda module, argv, n: calls.append((module, argv, n)) or 143
    )
    monkeypatch.setattr(launch, "_main_module", lambda: "stages.retrain")
    with pytest.raises(SystemExit) as stop:
        relaunch_if_multi_gpu(params(retrain=2), "retrain", argv=["--params", "p.yaml"])
    assert stop.value.code == 143
    assert calls == [("stages.retrain", ["--params", "p.yaml"], 2)]


@pytest.mark.slow
def test_launch_runs_n_processes_and_returns_their_status(tmp_path, monkeypatch):
    (tmp_path / "worker_mod.py").write_text(
        "import os, sys\n"
        "rank = int(os.environ['RANK'])\n"
        "world = os.environ['WORLD_SIZE']\n"
        "open(os.path.join(sys.argv[1], f'rank{rank}-of-{world}'), 'w').close()\n"
        "sys.exit(int(sys.argv[2]) if rank == 1 else 0)\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert launch.launch("worker_mod", [str(tmp_path), "0"], 2) == 0
    assert sorted(p.name for p in tmp_path.glob("rank*")) == ["rank0-of-2", "rank1-of-2"]
    assert launch.launch("worker_mod", [str(tmp_path), "2"], 2) == 2
    assert sys.modules.get("worker_mod") is None  # workers are separate processes
