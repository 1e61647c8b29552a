"""rank_check: one row per run, the correlations, a plot; an interrupted stage resumes at the
run it was on, reuses the finished ones, and ends like a run never stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.pipeline.tiny import PREPARE_DATA_ARGS, pretrain_args, stage, tiny_params, tiny_repo

pytestmark = [pytest.mark.pipeline, pytest.mark.e2e]  # a few minutes: the e2e tier
RUNS = 3 + 2  # tiny_overrides.yaml: 3 architectures, the first 2 again with the repeat seed


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    dest = tiny_repo(tmp_path_factory.mktemp("rank_check"))
    out = "results/profile_latency"
    for name, *args in [
        ("prepare_data", *PREPARE_DATA_ARGS),
        ("pretrain_supernet", *pretrain_args("results/pretrain_supernet", "ckpt/supernet.pt")),
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


def rank_check(repo: Path, tag: str, *extra: str):
    """`python -m stages.rank_check` with checkpoints in checkpoints/<tag>/, outputs in
    results/<tag>/."""
    out = f"results/{tag}"
    return stage(
        repo,
        "rank_check",
        *("--supernet", "results/pretrain_supernet/supernet.pt"),
        *("--lists", "data/prepare_data/lists"),
        *("--latency-table", "results/profile_latency/latency_table.csv"),
        *("--latency-model", "results/profile_latency/latency_model.json"),
        *("--checkpoints", f"checkpoints/{tag}"),
        *("--ranking", f"{out}/ranking.csv", "--plot", f"{out}/ranking.png"),
        *("--metrics-out", f"{out}/metrics.json"),
        *extra,
    )


def outputs(repo: Path, tag: str) -> tuple[pd.DataFrame, dict]:
    metrics = json.loads((repo / f"results/{tag}/metrics.json").read_text())
    return pd.read_csv(repo / f"results/{tag}/ranking.csv"), {
        k: v for k, v in metrics.items() if k != "seconds"
    }


def test_rank_check_resumes_at_its_run_and_ends_like_an_unstopped_one(repo):
    straight = rank_check(repo, "straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    rows, metrics = outputs(repo, "straight")
    seed, repeat_seed = tiny_params()["base"]["seed"], tiny_params()["rank_check"]["repeat_seed"]
    assert list(rows.columns) == [
        "index", "arch_id", "compact", "branches", "predicted_latency_ms", "params", "macs",
        "inherited_miou", "seed", "standalone_miou",
    ]  # fmt: skip
    assert (rows["params"] > 0).all() and (rows["macs"] > 0).all()
    assert list(rows["seed"]) == [seed] * 3 + [repeat_seed] * 2
    assert sorted(rows["branches"][:3]) == [1, 2, 3]  # one architecture per branch count
    assert rows["standalone_miou"].between(0, 1).all()
    assert rows["inherited_miou"].between(0, 1).all()
    assert metrics["architectures"] == 3 and metrics["repeats"] == 2
    # kendall_tau_seed_mean_se is None over the K = 2 pairs, but written
    for key in ("kendall_tau", "spearman_rho", "seed_tau", "inherited_vs_latency_rho",
                "kendall_tau_seed_mean_se", "zero_cost_tau_params",
                "kendall_tau_seed_mean_within_branches", "kendall_tau_branch_order"):  # fmt: skip
        assert key in metrics
    assert (repo / "results/straight/ranking.png").read_bytes()[:4] == b"\x89PNG"

    stopped = rank_check(repo, "resumed", "--stop-after", "2")
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert "run the stage again to resume" in stopped.stderr
    assert not (repo / "results/resumed").exists()  # no output of an unfinished stage
    resumed = rank_check(repo, "resumed")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"run 1/{RUNS}: " in resumed.stderr
    assert "resumed from step 2" in resumed.stderr.split(f"run 1/{RUNS}: ")[1].splitlines()[0]
    got_rows, got_metrics = outputs(repo, "resumed")
    pd.testing.assert_frame_equal(got_rows, rows)
    assert got_metrics == metrics

    again = rank_check(repo, "resumed")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("reused the finished run") == RUNS
    pd.testing.assert_frame_equal(outputs(repo, "resumed")[0], rows)
