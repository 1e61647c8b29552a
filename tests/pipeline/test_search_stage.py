"""search: SIGTERM mid-search exits 143 with its progress saved; a re-run finishes with the
results of a run never stopped (archive, front, hypervolume rows, metrics and targets)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.pipeline.tiny import PREPARE_DATA_ARGS, env, pretrain_args, stage, tiny_params, tiny_repo

pytestmark = pytest.mark.pipeline

# Long enough (8 generations, then random search) for a signal to land inside the search.
SEARCH = {"search": {"population": 4, "generations": 8, "published": False}}
# Machine time, the only columns and metrics that may differ between two identical runs.
TIMING_COLUMNS = ["eval_seconds"]
TIMING_METRICS = {"mean_eval_seconds", "seconds"}


def search_cmd(tag: str) -> list[str]:
    """`python -m stages.search` with its cache in checkpoints/<tag>/, outputs in results/<tag>/."""
    out = f"results/{tag}"
    return [
        sys.executable,
        "-m",
        "stages.search",
        "--params",
        "params.yaml",
        "--supernet",
        "results/pretrain_supernet/supernet.pt",
        "--lists",
        "data/prepare_data/lists",
        "--latency-table",
        "results/profile_latency/latency_table.csv",
        "--latency-model",
        "results/profile_latency/latency_model.json",
        "--cache",
        f"checkpoints/{tag}/archive.csv",
        "--archive",
        f"{out}/archive.csv",
        "--front",
        f"{out}/front.csv",
        "--hypervolume",
        f"{out}/hypervolume.csv",
        "--front-plot",
        f"{out}/front.png",
        "--hv-plot",
        f"{out}/hypervolume.png",
        "--published",
        f"{out}/published.csv",
        "--efficiency",
        f"{out}/efficiency.csv",
        "--metrics-out",
        f"{out}/metrics.json",
    ]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    dest = tiny_repo(tmp_path_factory.mktemp("search"), SEARCH)
    out = "results/profile_latency"
    for name, *args in [
        ("prepare_data", *PREPARE_DATA_ARGS),
        (
            "pretrain_supernet",
            *pretrain_args("results/pretrain_supernet", "checkpoints/pretrain_supernet/last.pt"),
        ),
        (
            "profile_latency",
            *("--table", f"{out}/latency_table.csv", "--model", f"{out}/latency_model.json"),
            *("--validation", f"{out}/validation.csv", "--plot", f"{out}/validation.png"),
            *("--metrics-out", f"{out}/metrics.json"),
        ),
    ]:
        proc = stage(dest, name, *args)
        assert proc.returncode == 0, (name, proc.stderr[-3000:])
    return dest


def run_search(repo: Path, tag: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        search_cmd(tag), cwd=repo, env=env(repo), capture_output=True, text=True, timeout=600
    )


def stop_after_first_generation(repo: Path, tag: str) -> subprocess.CompletedProcess:
    """Start the search; SIGTERM the Python process once NSGA-II saved a generation."""
    state = repo / f"checkpoints/{tag}/archive.state.json"
    proc = subprocess.Popen(
        search_cmd(tag),
        cwd=repo,
        env=env(repo),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300
    while True:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, "no generation saved in time"
        try:
            if "algorithm" in json.loads(state.read_text())["methods"]["nsga2"]:
                break
        except (OSError, ValueError, KeyError):
            pass  # not written yet (each write is atomic: never half a file)
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def results(repo: Path, tag: str) -> dict:
    """What the search wrote, less machine time; plus the targets select picks from it."""
    from hyctas.search.targets import model_spec

    out = repo / "results" / tag
    params = tiny_params(SEARCH)
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "archive": pd.read_csv(out / "archive.csv").drop(columns=TIMING_COLUMNS),
        "front": pd.read_csv(out / "front.csv").drop(columns=TIMING_COLUMNS),
        "hypervolume": (out / "hypervolume.csv").read_text(),
        "metrics": {k: v for k, v in metrics.items() if k not in TIMING_METRICS},
        "targets": {
            name: model_spec(
                name, spec, out / "archive.csv", params["search"], seed=params["base"]["seed"]
            )
            for name, spec in params["select"]["targets"].items()
        },
    }


def test_sigterm_saves_progress_and_a_rerun_ends_like_an_unstopped_run(repo):
    straight = run_search(repo, "straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    stopped = stop_after_first_generation(repo, "resumed")
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert "SIGTERM received" in stopped.stderr and "Traceback" not in stopped.stderr
    assert "run the stage again to resume" in stopped.stderr, stopped.stderr[-3000:]
    assert (repo / "checkpoints/resumed/archive.state.json").is_file()
    assert not (repo / "results/resumed").exists()  # no output of an unfinished search
    resumed = run_search(repo, "resumed")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not (repo / "checkpoints/resumed/archive.state.json").exists()  # done: cache only
    expected, got = results(repo, "straight"), results(repo, "resumed")
    pd.testing.assert_frame_equal(got.pop("archive"), expected.pop("archive"))
    pd.testing.assert_frame_equal(got.pop("front"), expected.pop("front"))
    assert got == expected
    archive = pd.read_csv(repo / "results/resumed/archive.csv")
    assert archive["in_nsga2"].any() and archive["in_random"].any()


def test_the_cache_is_reused_for_the_same_supernet_only(repo):
    """The evaluation cache is keyed by the supernet's content, not by its params."""
    import torch

    first = run_search(repo, "cache")
    assert first.returncode == 0, first.stderr[-3000:]
    again = run_search(repo, "cache")
    metrics = json.loads((repo / "results/cache/metrics.json").read_text())
    assert metrics["cache_reused"] == metrics["evaluations"] > 0, metrics
    path = repo / "results/pretrain_supernet/supernet.pt"
    original = path.read_bytes()
    state = torch.load(path, weights_only=True)  # same params, other weights
    for tensor in state["model"].values():
        if tensor.is_floating_point():
            tensor.mul_(1.01)
    torch.save(state, path)
    try:
        new = run_search(repo, "cache")
    finally:
        path.write_bytes(original)
    assert new.returncode == 0, new.stderr[-3000:]
    assert "changed: supernet (file)); scoring afresh" in new.stderr, new.stderr[-3000:]
    metrics = json.loads((repo / "results/cache/metrics.json").read_text())
    assert metrics["cache_reused"] == 0, metrics
    assert again.returncode == 0


@pytest.mark.e2e  # three more searches: the e2e tier
def test_efficiency_seeds_measure_the_search_without_changing_it(repo):
    """Two seeds and random search to 2x: the efficiency metrics, CSV and membership columns
    are written, while seed 0's NSGA-II run, and so every target, is the single-seed one's."""
    from tests.pipeline.tiny import write_params

    extra = {**SEARCH, "search": {**SEARCH["search"], "efficiency_seeds": 2}}
    extra["search"]["random_budget_factor"] = 2
    name = write_params(repo, "efficiency.yaml", extra)
    if not (repo / "results/straight/metrics.json").is_file():
        assert run_search(repo, "straight").returncode == 0
    cmd = [name if arg == "params.yaml" else arg for arg in search_cmd("efficiency")]
    proc = subprocess.run(cmd, cwd=repo, env=env(repo), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out, single = repo / "results/efficiency", repo / "results/straight"
    metrics = json.loads((out / "metrics.json").read_text())
    alone = json.loads((single / "metrics.json").read_text())
    assert metrics["hv_nsga2"] == alone["hv_nsga2"] and metrics["hv_random"] == alone["hv_random"]
    eff = metrics["efficiency"]
    assert eff["seeds"] == 2 and set(eff["per_seed"]) == {"seed_0", "seed_1"}
    for entry in eff["per_seed"].values():
        assert entry["evaluations_random"] == 2 * entry["evaluations_nsga2"]
        assert 0 < entry["hv_norm_nsga2"] <= 1.21 and 0 < entry["hv_norm_random"] <= 1.21
    crossing = eff["mean_curve_match_evaluations"]  # None: random's mean never got there
    assert crossing is None or 1 <= crossing <= 2 * max(
        e["evaluations_nsga2"] for e in eff["per_seed"].values()
    )
    archive, before = pd.read_csv(out / "archive.csv"), pd.read_csv(single / "archive.csv")
    assert {"in_nsga2_s1", "in_random_s1"} <= set(archive.columns)
    ids = set(archive["id"][archive["in_nsga2"]])
    assert ids == set(before["id"][before["in_nsga2"]])
    curves = pd.read_csv(out / "efficiency.csv")
    assert set(curves["seed_index"]) == {0, 1} and set(curves["method"]) == {"nsga2", "random"}
    assert (out / "hypervolume.png").read_bytes().startswith(b"\x89PNG")
