"""The whole DAG on tiny params through both engines: outputs, a no-op re-run, MLflow runs."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.pipeline.dags import dvc_jobs
from tests.pipeline.tiny import run, tiny_repo

pytestmark = [pytest.mark.pipeline, pytest.mark.e2e]


def declared_outputs(repo) -> set[str]:
    return {out for job in dvc_jobs(repo).values() for out in job.outputs}


@pytest.fixture(scope="module")
def dvc_repo(tmp_path_factory):
    repo = tiny_repo(tmp_path_factory.mktemp("dvc"))
    run(repo, "dvc", "repro", timeout=1500)
    return repo


def test_dvc_repro_runs_the_whole_dag(dvc_repo):
    missing = [o for o in declared_outputs(dvc_repo) if not (dvc_repo / o).exists()]
    assert not missing
    summary = (dvc_repo / "reports/summary.md").read_text()
    for target in ("fast", "accurate", "accurate_supernet", "baseline"):
        assert f"| {target} |" in summary
    assert "Verdict" in summary
    assert "## Ranking: supernet vs stand-alone training" in summary  # from rank_check
    assert "- Kendall tau " in summary
    # accurate and accurate_supernet: one architecture, retrained from scratch and from the
    # supernet's weights, compared side by side.
    spec = json.loads((dvc_repo / "results/select/accurate_supernet/model.json").read_text())
    assert spec["init"] == "supernet"
    trained = json.loads((dvc_repo / "results/retrain/accurate_supernet/metrics.json").read_text())
    assert trained["init"] == "supernet"
    assert f"| `{spec['arch_id']}` | accurate |" in summary
    # a random architecture from accurate's latency band, and a family of two baselines
    band = json.loads((dvc_repo / "results/select/accurate_band0/model.json").read_text())
    accurate = json.loads((dvc_repo / "results/select/accurate/model.json").read_text())
    assert band["band"]["center_arch_id"] == accurate["arch_id"] != band["arch_id"]
    assert "## Search vs chance and vs hand design" in summary
    assert "| accurate | scratch |" in summary and "accurate_band0" in summary
    report = json.loads((dvc_repo / "reports/summary.json").read_text())
    assert report["search_vs_baselines"]["baseline_points"] == 2
    assert report["search_vs_baselines"]["hv_ratio"] is not None
    metrics = json.loads((dvc_repo / "reports/metrics.json").read_text())
    assert metrics["band_compared"] >= 1 and "hv_ratio_vs_baselines" in metrics


def test_second_repro_is_a_quick_no_op(dvc_repo):
    start = time.perf_counter()
    proc = run(dvc_repo, "dvc", "repro")
    assert time.perf_counter() - start < 30
    assert "Running stage" not in proc.stdout and "didn't change" in proc.stdout


def stale_after_editing(repo, library_file: str, *command: str) -> str:
    """What `command` prints (a status or dry run) with `library_file` edited, then restored."""
    path = repo / library_file
    original = path.read_text()
    try:
        path.write_text(original + "\n# an edit\n")
        return run(repo, *command).stdout
    finally:
        path.write_text(original)


def test_editing_a_library_file_makes_only_its_importers_stale(dvc_repo):
    status = json.loads(
        stale_after_editing(dvc_repo, "hyctas/evaluation/metrics.py", "dvc", "status", "--json")
    )
    assert any(name.startswith("evaluate@") for name in status), status
    assert not {"prepare_data", "profile_latency"} & set(status), status
    status = json.loads(
        stale_after_editing(dvc_repo, "hyctas/report.py", "dvc", "status", "--json")
    )
    assert set(status) == {"report"}, status


def test_one_mlflow_run_per_stage_execution(dvc_repo):
    runs = stage_runs(dvc_repo)
    names = sorted(r.data.tags["mlflow.runName"] for r in runs)
    expected = sorted(
        n.replace("/", "[", 1) + ("]" if "/" in n else "") for n in dvc_jobs(dvc_repo)
    )
    assert names == expected
    assert all(r.info.status == "FINISHED" for r in runs)
    evaluate = next(r for r in runs if r.data.tags["mlflow.runName"] == "evaluate[fast]")
    metrics = json.loads((dvc_repo / "results/evaluate/fast/metrics.json").read_text())
    assert evaluate.data.metrics["miou"] == pytest.approx(metrics["miou"])


def stage_runs(repo) -> list:
    """The MLflow runs of stage executions in the tiny repo's store."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name(params["base"]["mlflow_experiment"])
    return client.search_runs([exp.experiment_id], "tags.`hyctas.kind` = 'stage'")


def test_snakemake_produces_the_same_outputs(dvc_repo, tmp_path):
    repo = tiny_repo(tmp_path)
    # -j 4 with one thread per retrain and evaluate job: the fan-out runs four jobs at a time,
    # all writing to one fresh sqlite MLflow store.
    one_thread = ["--set-threads", "retrain=1", "evaluate=1", "select=1"]
    run(repo, "snakemake", "-j", "4", *one_thread, timeout=1500)
    assert not [o for o in declared_outputs(repo) if not (repo / o).exists()]
    logs = "".join(p.read_text() for p in (repo / "logs").rglob("*.log"))
    assert "Traceback" not in logs
    fan_out = [
        r for r in stage_runs(repo) if r.data.tags["hyctas.stage"] in ("retrain", "evaluate")
    ]
    names = sorted(r.data.tags["mlflow.runName"] for r in fan_out)
    targets = yaml.safe_load((repo / "params.yaml").read_text())["select"]["targets"]
    assert names == sorted(f"{s}[{t}]" for s in ("retrain", "evaluate") for t in targets)
    for found in fan_out:  # every job's run finished, with its metrics
        name = found.data.tags["mlflow.runName"]
        assert found.info.status == "FINISHED", name
        stage, target = name.rstrip("]").split("[")
        written = json.loads((repo / f"results/{stage}/{target}/metrics.json").read_text())
        numbers = {
            k: v for k, v in written.items() if isinstance(v, float) and not isinstance(v, bool)
        }
        assert numbers and numbers == pytest.approx({k: found.data.metrics[k] for k in numbers}), (
            name
        )
    dry_run = stale_after_editing(
        repo, "hyctas/evaluation/metrics.py", "snakemake", "-n", "-j", "1"
    )
    assert "rule evaluate:" in dry_run and "rule prepare_data:" not in dry_run, dry_run[-3000:]
    assert "rule profile_latency:" not in dry_run
    # The initial population comes from the seed alone (later ones depend on measured latency).
    population = yaml.safe_load((repo / "params.yaml").read_text())["search"]["population"]

    def first_ids(r):
        return (r / "results/search/archive.csv").read_text().splitlines()[1 : population + 1]

    assert [x.split(",")[0] for x in first_ids(repo)] == [
        x.split(",")[0] for x in first_ids(dvc_repo)
    ]
