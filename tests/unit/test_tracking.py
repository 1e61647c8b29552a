"""MLflow tracking: one run per stage execution, tagged and grouped, mirrored in metrics JSON."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from hyctas.tracking import stage_run, with_retries
from tests.conftest import REPO


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


def test_training_experiment_with_sortable_tags_and_a_description(mlflow_store, params, tmp_path):
    """MLflow 3's UI opens a model-training experiment on its runs table; each run says what it
    is (description) and carries the columns to sort by (target, arch_id, miou, latency_ms)."""
    client = MlflowClient(mlflow_store)
    experiment = params["base"]["mlflow_experiment"]
    client.create_experiment(
        experiment, tags={"mlflow.experimentKind": "genai_development_inferred"}
    )
    doc = "Stage evaluate: mIoU and latency of\n  one model.\n\n    python -m stages.evaluate ..."
    tags = {"hyctas.arch_id": "a1b2c3"}
    with stage_run("evaluate", params, target="fast", tags=tags, description=doc) as run:
        run.write_metrics(tmp_path / "m.json", {"miou": 0.41234, "latency_ms": 12.5, "fps": 80})
    assert client.get_experiment_by_name(experiment).tags["mlflow.experimentKind"] == (
        "custom_model_development"  # a guessed kind is replaced; one set by hand would stay
    )
    (found,) = _stage_runs(client, experiment)
    assert {k: found.data.tags[k] for k in ("stage", "target", "arch_id")} == {
        "stage": "evaluate",
        "target": "fast",
        "arch_id": "a1b2c3",
    }
    assert found.data.tags["mlflow.note.content"] == (
        "**evaluate[fast]**\n\nStage evaluate: mIoU and latency of one model.\n\n"
        "target `fast` · arch_id `a1b2c3`\n\nResults: miou **0.4123** · latency_ms **12.5** · "
        "fps **80**"
    )
    ordered = client.search_runs(
        [found.info.experiment_id], "tags.target = 'fast'", order_by=["metrics.miou DESC"]
    )
    assert [r.info.run_id for r in ordered] == [found.info.run_id]
    assert "mlflow.note.content" in _parent(client, experiment).data.tags


def test_class_names_mlflow_refuses_are_logged_under_safe_keys(mlflow_store, params, tmp_path):
    """ADE20K's class names hold ';' and ','; the metrics JSON keeps them as they are."""
    iou = {"building;edifice": 0.5, "road, route": 0.25, "car (parked)": 0.125}
    with stage_run("evaluate", params) as run:
        run.write_metrics(tmp_path / "metrics.json", {"iou": iou})
    client = MlflowClient(mlflow_store)
    logged = _stage_runs(client, params["base"]["mlflow_experiment"])[0].data.metrics
    assert logged == {
        "iou.building_edifice": 0.5,
        "iou.road_ route": 0.25,
        "iou.car _parked_": 0.125,
    }
    assert json.loads((tmp_path / "metrics.json").read_text())["iou"] == iou


def test_failed_stage_is_marked_failed(mlflow_store, params):
    with pytest.raises(RuntimeError), stage_run("prepare_data", params):
        raise RuntimeError("boom")
    runs = _stage_runs(MlflowClient(mlflow_store), params["base"]["mlflow_experiment"])
    assert [r.info.status for r in runs] == ["FAILED"]


def _parent(client, experiment):
    exp = client.get_experiment_by_name(experiment)
    (parent,) = client.search_runs([exp.experiment_id], "tags.`hyctas.kind` = 'pipeline'")
    return parent


def test_parent_run_follows_its_stage_runs(mlflow_store, params):
    client = MlflowClient(mlflow_store)
    experiment = params["base"]["mlflow_experiment"]
    with stage_run("prepare_data", params):
        with stage_run("search", params):  # two stages at once, as under `snakemake -j 2`
            assert _parent(client, experiment).info.status == "RUNNING"
        assert _parent(client, experiment).info.status == "RUNNING"  # prepare_data still runs
    parent = _parent(client, experiment)
    assert parent.info.status == "FINISHED"
    ends = [r.info.end_time for r in _stage_runs(client, experiment)]
    assert parent.info.end_time == max(ends)
    with stage_run("report", params):  # a later stage of the same pipeline reopens it
        assert _parent(client, experiment).info.status == "RUNNING"
    assert _parent(client, experiment).info.status == "FINISHED"


def test_failed_stage_fails_the_pipeline_until_it_is_rerun(mlflow_store, params):
    client = MlflowClient(mlflow_store)
    experiment = params["base"]["mlflow_experiment"]
    with pytest.raises(RuntimeError), stage_run("select", params, target="fast"):
        raise RuntimeError("boom")
    assert _parent(client, experiment).info.status == "FAILED"
    with stage_run("select", params, target="balanced"):
        pass
    assert _parent(client, experiment).info.status == "FAILED"  # select[fast] still failed
    with stage_run("select", params, target="fast"):  # its latest attempt is what counts
        pass
    assert _parent(client, experiment).info.status == "FINISHED"


def _preempted():
    from hyctas.train.loop import Preempted

    return Preempted("SIGTERM received at step 3/8: checkpoint saved")


@pytest.mark.parametrize("stop", [_preempted, KeyboardInterrupt], ids=["preempted", "ctrl-c"])
def test_stopped_stage_is_marked_killed(mlflow_store, params, stop):
    error = stop()
    with pytest.raises(type(error)), stage_run("pretrain_supernet", params):
        raise error
    client = MlflowClient(mlflow_store)
    experiment = params["base"]["mlflow_experiment"]
    assert [r.info.status for r in _stage_runs(client, experiment)] == ["KILLED"]
    assert _parent(client, experiment).info.status == "KILLED"


SLEEPER = """
import time
from hyctas.stage import run_stage
from hyctas.tracking import stage_run

def main(args):
    with stage_run("report", {"base": {"mlflow_experiment": "signals"}, "report": {}}):
        print("running", flush=True)
        time.sleep(300)

run_stage("report", main, None)
"""


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_ends_the_run_killed_and_exits_128_plus_signal(mlflow_store, tmp_path, sig, status):
    env = {**os.environ, "PYTHONPATH": str(REPO), "HYCTAS_PIPELINE_ID": "signals-1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SLEEPER],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A test runner started in the background (`make test &`) ignores SIGINT, and a child
        # inherits that; stage_run leaves an ignored signal ignored, as nohup'd jobs expect.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready and proc.stdout.readline() == "running\n", proc.communicate(timeout=60)
        proc.send_signal(sig)  # a stage with no handler of its own: stage_run's handler
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == status, err[-3000:]
    name = signal.Signals(sig).name
    assert f"[report] stopped: {name} received" in err and "Traceback" not in err, err[-3000:]
    client = MlflowClient(mlflow_store)
    assert [r.info.status for r in _stage_runs(client, "signals")] == ["KILLED"]
    assert _parent(client, "signals").info.status == "KILLED"


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
