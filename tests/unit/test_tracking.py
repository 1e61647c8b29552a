"""MLflow tracking: one run per stage execution, tagged and grouped, mirrored in metrics JSON."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from hyctas.tracking import stage_run, with_retries


def _stage_runs(client, experiment):
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], "tags.`hyctas.kind` = 'stage'")


def test_each_execution_is_one_tagged_run(mlflow_store, params, tmp_path):
    for _ in range(2):
        with stage_run("prepare_data", params, tags={"hyctas.arch_id": "abc"}) as run:
            run.write_metrics(
                tmp_path / "metrics.json", {"train_frames": 3, "nested": {"x": 1.5}, "note": "text"}
            )
    client = MlflowClient(mlflow_store)
    runs = _stage_runs(client, params["base"]["mlflow_experiment"])
    assert len(runs) == 2
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["hyctas.stage"] == "prepare_data"
    assert run.data.tags["hyctas.arch_id"] == "abc"
    assert (
        len(run.data.tags["hyctas.params_hash"]) == 12 and run.data.tags["mlflow.source.git.commit"]
    )
    assert run.data.metrics == {"train_frames": 3.0, "nested.x": 1.5}
    assert run.data.params["prepare_data.synthetic.height"] == "256"
    # both executions share one parent run: the pipeline run
    assert runs[0].data.tags["mlflow.parentRunId"] == runs[1].data.tags["mlflow.parentRunId"]
    assert json.loads((tmp_path / "metrics.json").read_text())["note"] == "text"


def test_failed_stage_is_marked_failed(mlflow_store, params):
    with pytest.raises(RuntimeError), stage_run("prepare_data", params):
        raise RuntimeError("boom")
    runs = _stage_runs(MlflowClient(mlflow_store), params["base"]["mlflow_experiment"])
    assert [r.info.status for r in runs] == ["FAILED"]


def test_retries_only_on_locks():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert with_retries(flaky, base_delay=0.001) == "ok" and len(calls) == 3
    with pytest.raises(ValueError):
        with_retries(lambda: (_ for _ in ()).throw(ValueError("other")))
