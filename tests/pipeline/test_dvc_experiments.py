"""DVC on the tiny DAG: experiments with `dvc exp run -S`, and per-target params reruns.

The module fixture runs the real stages up to `search` (`dvc repro search`, tiny and cheap
params). The stages after it (select, retrain, evaluate per target, rank_check, report) get stand-in
outputs recorded with `dvc commit`: these tests check what DVC decides to rerun, not what
those stages compute (tests/pipeline/test_pipeline.py runs them all).
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.pipeline.dags import dvc_jobs
from tests.pipeline.tiny import env, tiny_repo

pytestmark = pytest.mark.pipeline

GIT = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
CHEAP = {
    "pretrain_supernet": {"probe_every": 100, "recipe": {"iterations": 2}},
    "search": {"population": 2, "generations": 1, "random_baseline": False},
}


def run(repo: Path, *cmd: str, timeout: int = 600) -> str:
    """Run `cmd` in `repo` (one torch thread); its stdout, or AssertionError with the output."""
    import subprocess

    proc = subprocess.run(
        list(cmd), cwd=repo, env=env(repo), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def stand_in_outputs(repo: Path, stages: list[str]) -> None:
    """Write a placeholder for every declared output of `stages` (a file, or a folder with one)."""
    with contextlib.chdir(repo):  # DVC names stages relative to the working directory
        jobs = dvc_jobs(repo)
    for name in stages:
        for out in jobs[name.replace("@", "/")].outputs:
            path = repo / out
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix:
                path.write_text("{}\n" if path.suffix == ".json" else "step,value\n0,0\n")
            else:
                path.mkdir(exist_ok=True)
                (path / "placeholder.txt").write_text(name)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    dest = tiny_repo(tmp_path_factory.mktemp("dvcexp"), CHEAP)
    run(dest, "dvc", "repro", "search", timeout=900)
    targets = list(yaml.safe_load((dest / "params.yaml").read_text())["select"]["targets"])
    fanned = [f"{s}@{t}" for s in ("select", "retrain", "evaluate") for t in targets]
    later = [*fanned, "rank_check", "report"]
    stand_in_outputs(dest, later)
    run(dest, "dvc", "commit", "--force", *later)
    run(dest, "git", "add", "-A")
    run(dest, *GIT, "commit", "-qm", "tiny pipeline, up to date")
    return dest


def changed_stages(repo: Path) -> set[str]:
    """Stages `dvc status` reports as changed."""
    return set(json.loads(run(repo, "dvc", "status", "--json") or "{}"))


def test_editing_one_target_reruns_only_that_target(repo):
    assert changed_stages(repo) == set()
    original = (repo / "params.yaml").read_text()
    params = yaml.safe_load(original)
    targets = params["select"]["targets"]
    rule = next(iter(targets["fast"]))
    targets["fast"] = {rule: 0.5 if rule == "front_quantile" else targets["fast"][rule] * 2}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        # report reads the whole `select` block (its table lists every target)
        assert changed_stages(repo) == {"select@fast", "report"}
        dry = run(repo, "dvc", "repro", "--dry")
        assert set(re.findall(r"Running stage '([^']+)'", dry)) == {"select@fast", "report"}, dry
    finally:
        (repo / "params.yaml").write_text(original)
    assert changed_stages(repo) == set()


def test_exp_run_set_param_shows_in_exp_show(repo):
    generations = yaml.safe_load((repo / "params.yaml").read_text())["search"]["generations"] + 1
    out = run(repo, "dvc", "exp", "run", "search", "-S", f"search.generations={generations}",
              "--name", "more-generations", timeout=900)  # fmt: skip
    assert "Running stage 'search'" in out, out[-3000:]
    assert not re.search(r"Running stage '(?!search')", out), out[-3000:]  # upstream unchanged
    metrics = json.loads((repo / "results/search/metrics.json").read_text())
    assert metrics["cache_reused"] > 0, metrics  # earlier generations came from the search cache
    table = json.loads(run(repo, "dvc", "exp", "show", "--json"))
    found = [
        rev
        for baseline in table
        for exp in baseline.get("experiments") or []
        for rev in exp.get("revs") or []
        if rev.get("name") == "more-generations"
    ]
    assert len(found) == 1, json.dumps(table)[:3000]
    data = found[0]["data"]
    assert data["params"]["params.yaml"]["data"]["search"]["generations"] == generations
    searched = data["metrics"]["results/search/metrics.json"]
    # An experiment is a git commit: a metrics file git ignores and DVC does not cache
    # (`cache: false` under an ignored folder) cannot be read back for it.
    assert "data" in searched, f"dvc exp show cannot read the experiment's metrics: {searched}"
    assert searched["data"]["evaluations"] > 0, searched
