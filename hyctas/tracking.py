"""MLflow tracking: one run per stage execution, grouped under one parent run per pipeline run.

The store is `sqlite:///mlflow.db` in the working directory unless `MLFLOW_TRACKING_URI` says
otherwise (a shared server on a cluster: see README "Tracking"). Metrics files are the source
of truth; MLflow mirrors them (`StageRun.write_metrics` does both).

Example:
    with stage_run("prepare_data", params) as run:
        run.write_metrics("data/prepare_data/metrics.json", {"train_images": 100})
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from hyctas.atomic import write_json
from hyctas.params import flatten, params_hash

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
PIPELINE_ENV = "HYCTAS_PIPELINE_ID"
T = TypeVar("T")


def tracking_uri() -> str:
    """The MLflow tracking URI in use: `$MLFLOW_TRACKING_URI`, else the local sqlite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def git_commit() -> str:
    """The current git commit (with `-dirty` when the tree has changes), or `unknown`."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def with_retries(fn: Callable[[], T], attempts: int = 8, base_delay: float = 0.2) -> T:
    """Call `fn`, retrying with jittered exponential backoff while sqlite reports a lock.

    Parallel Snakemake jobs share one sqlite file; SQLite serialises writers and the loser of
    a race sees "database is locked". Any other error is raised at once.
    """
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - MLflow wraps sqlalchemy errors in several types
            message = str(exc).lower()
            transient = "locked" in message or "busy" in message or "unique constraint" in message
            if not transient or attempt == attempts - 1:
                raise
            time.sleep(base_delay * 2**attempt * (0.5 + random.random()))
    raise AssertionError("unreachable")


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive lock beside a sqlite store (no-op for other stores, e.g. a server).

    On a fresh `mlflow.db`, parallel jobs each run MLflow's schema migrations and all but one
    fail ("duplicate column name"); two jobs may also each create the pipeline's parent run.
    A lock file `<db>.lock` serialises that short first step; runs then log concurrently.
    """
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        yield
        return
    import fcntl

    db = Path(uri[len(prefix) :].split("?", 1)[0])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class StageRun:
    """An open MLflow run of one stage execution."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log numeric metrics (non-numbers are skipped: they stay in the metrics JSON only)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [
            Metric(key, float(value), now, step or 0)
            for key, value in flatten(metrics).items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        ]
        for start in range(0, len(batch), 500):
            chunk = batch[start : start + 500]
            with_retries(lambda c=chunk: self.client.log_batch(self.run_id, metrics=c))

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Copy a file or folder into the run's artifacts."""
        with_retries(lambda: self.client.log_artifact(self.run_id, str(path), artifact_path))

    def set_tags(self, tags: dict[str, str]) -> None:
        """Add tags to the run."""
        for key, value in tags.items():
            with_retries(lambda k=key, v=value: self.client.set_tag(self.run_id, k, str(v)))

    def write_metrics(self, path: str | Path, metrics: dict[str, Any]) -> None:
        """Write the stage's metrics JSON atomically (the source of truth) and log it here."""
        write_json(path, metrics)
        self.log_metrics(metrics)


def _experiment_id(client: Any, name: str) -> str:
    experiment = with_retries(lambda: client.get_experiment_by_name(name))
    if experiment is not None:
        return experiment.experiment_id
    try:
        return with_retries(lambda: client.create_experiment(name))
    except Exception:  # another process created it first
        return with_retries(lambda: client.get_experiment_by_name(name)).experiment_id


def _parent_run_id(client: Any, experiment_id: str, pipeline_id: str) -> str:
    """Find or create the parent run that groups every stage run of one pipeline run."""
    query = f"tags.`hyctas.pipeline_id` = '{pipeline_id}' and tags.`hyctas.kind` = 'pipeline'"
    found = with_retries(
        lambda: client.search_runs([experiment_id], query, order_by=["attributes.start_time ASC"])
    )
    if found:
        return found[0].info.run_id
    tags = {
        "hyctas.pipeline_id": pipeline_id,
        "hyctas.kind": "pipeline",
        "mlflow.runName": f"pipeline-{pipeline_id}",
    }
    return with_retries(lambda: client.create_run(experiment_id, tags=tags)).info.run_id


@contextlib.contextmanager
def stage_run(
    stage: str,
    params: dict,
    *,
    target: str | None = None,
    tags: dict[str, str] | None = None,
) -> Iterator[StageRun]:
    """Open one MLflow run for a stage execution; it ends FINISHED, or FAILED on an exception.

    Args:
        stage: stage name (also the params block logged beside `base`).
        params: the whole validated params dict.
        target: retraining target name for fanned-out stages.
        tags: extra tags (for example `hyctas.arch_id`).
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(tracking_uri())
    commit = git_commit()
    pipeline_id = os.environ.get(PIPELINE_ENV) or f"{commit[:12]}-{params_hash(params)}"
    with store_lock(tracking_uri()):  # parallel jobs: one creates the tables, one the parent run
        client = MlflowClient()  # opening a new sqlite store runs its schema migrations
        experiment_id = _experiment_id(client, params["base"]["mlflow_experiment"])
        parent = _parent_run_id(client, experiment_id, pipeline_id)
    run_tags = {
        "mlflow.parentRunId": parent,
        "mlflow.runName": stage if target is None else f"{stage}[{target}]",
        "mlflow.source.git.commit": commit,
        "hyctas.stage": stage,
        "hyctas.kind": "stage",
        "hyctas.pipeline_id": pipeline_id,
        "hyctas.params_hash": params_hash({"base": params["base"], stage: params.get(stage)}),
        **({"hyctas.target": target} if target else {}),
        **(tags or {}),
    }
    run_id = with_retries(lambda: client.create_run(experiment_id, tags=run_tags)).info.run_id
    logged = flatten({"base": params["base"], stage: params.get(stage) or {}})
    from mlflow.entities import Param

    batch = [Param(k, str(v)[:6000]) for k, v in logged.items()]
    for start in range(0, len(batch), 100):
        chunk = batch[start : start + 100]
        with_retries(lambda c=chunk: client.log_batch(run_id, params=c))
    run = StageRun(client, run_id)
    try:
        yield run
    except BaseException:
        with_retries(lambda: client.set_terminated(run_id, "FAILED"))
        raise
    with_retries(lambda: client.set_terminated(run_id, "FINISHED"))
