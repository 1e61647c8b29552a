"""MLflow tracking: one run per stage execution, grouped under one parent run per pipeline run.

The store is `sqlite:///mlflow.db` in the working directory unless `MLFLOW_TRACKING_URI` says
otherwise (PostgreSQL or a server on a cluster: see docs/slurm.md). Metrics files are the source
of truth; MLflow mirrors them (`StageRun.write_metrics` does both).

The experiment is marked as a model-training one, so MLflow 3's UI opens it on its runs table;
each stage run carries the tags `stage`, `target` and `arch_id` (columns to sort by, beside
the metrics `miou` and `latency_ms` of `evaluate`) and a description that names the stage,
what it does and its headline results. Models and their registration: `hyctas.registry`.

No run is left RUNNING by a stage that ends in any way but SIGKILL:
- A stage run ends FINISHED on success, KILLED when the stage was stopped (SIGTERM or SIGINT,
  a training stage's `Preempted` after its checkpoint, KeyboardInterrupt) and FAILED on any
  other exception. While the run is open, SIGTERM/SIGINT raise `StopSignal` (unless the stage
  installed its own handler, as training does), so the run ends KILLED and the process exits
  143 (SIGTERM) or 130 (SIGINT), the statuses a signal's default action would have given.
- The parent run (tag `hyctas.kind=pipeline`) mirrors its stage runs, counting only the latest
  attempt of each stage and target: RUNNING while one is RUNNING, else FAILED if one FAILED,
  else KILLED if one was KILLED, else FINISHED, ending when the last stage run ended. Each stage
  run sets it when it starts and when it ends, so a re-run reopens it and a successful retry
  of a failed stage turns it FINISHED. A stage killed by SIGKILL (no handler runs) leaves its
  run, and so the parent, RUNNING until that stage is run again.

Example:
    with stage_run("prepare_data", params) as run:
        run.write_metrics("data/prepare_data/metrics.json", {"train_images": 100})
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from hyctas.atomic import write_json
from hyctas.params import flatten, params_hash

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
PIPELINE_ENV = "HYCTAS_PIPELINE_ID"
# MLflow 3's experiment kinds: a model-training experiment opens on its runs table.
EXPERIMENT_KIND_TAG, TRAINING_EXPERIMENT = "mlflow.experimentKind", "custom_model_development"
EXPERIMENT_TAGS = {EXPERIMENT_KIND_TAG: TRAINING_EXPERIMENT}
NOTE_TAG = "mlflow.note.content"  # a run's description (markdown) in the MLflow UI
# Short tags that mirror the `hyctas.*` ones the code queries, as columns of the runs table.
DISPLAY_TAGS = {"hyctas.stage": "stage", "hyctas.target": "target", "hyctas.arch_id": "arch_id"}
# The metrics a run's description quotes, when the run has them.
HEADLINE_METRICS = (
    "miou",
    "latency_ms",
    "fps",
    "predicted_miou",
    "predicted_latency_ms",
    "hv_nsga2",
    "hv_ratio",
    "mape_pct",
    "kendall_tau",
)
_METRIC_KEY_BAD = re.compile(r"[^\w ./:-]")  # what MLflow refuses in a metric name
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
    """Hold an exclusive lock on a sqlite or PostgreSQL store (no-op for others, e.g. a server).

    On a fresh `mlflow.db`, parallel jobs each run MLflow's schema migrations and all but one
    fail ("duplicate column name"); two jobs may also each create the pipeline's parent run.
    A lock file `<db>.lock` serialises that short first step; runs then log concurrently.
    A fresh PostgreSQL database fails the same way ("duplicate key value ... alembic_version"):
    there the lock is a PostgreSQL advisory lock, which holds across nodes.
    """
    if uri.startswith("postgresql"):
        with _postgres_lock(uri):
            yield
        return
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


_ADVISORY_LOCK_KEY = 0x687963746173  # "hyctas": the one advisory lock every stage run takes


@contextlib.contextmanager
def _postgres_lock(uri: str) -> Iterator[None]:
    """A session advisory lock on the PostgreSQL database at `uri`, on a connection of its own.

    PostgreSQL drops the lock with the connection, so a job killed while holding it (even by
    SIGKILL) does not block the others. Autocommit: no transaction stays open while it is held.
    """
    import sqlalchemy

    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
    key = {"key": _ADVISORY_LOCK_KEY}
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), key)
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), key)
    finally:
        engine.dispose()


class StopSignal(SystemExit):
    """SIGTERM or SIGINT stopped a stage run; the process exits 128 + the signal number.

    A `SystemExit`, so that `except Exception` in a stage does not swallow it and Python
    exits with its code (143 for SIGTERM, 130 for SIGINT) and no traceback if nothing catches it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signal_name = signal.Signals(signum).name

    def __str__(self) -> str:
        return f"{self.signal_name} received"


class _StopSignals:
    """SIGTERM/SIGINT handlers for the life of a stage run (main thread only).

    Armed (while the stage's code runs), a signal raises `StopSignal`; disarmed (while the run
    is being opened or closed, so a write to the store is never cut in half), it is remembered
    in `pending` and raised once that is done. Handlers the process already had (SIG_IGN, or a
    stage's own) are left alone; the previous ones are restored at the end.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.armed = False
        self.pending: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.armed:
            self.armed = False  # one StopSignal; another signal while closing waits its turn
            raise StopSignal(signum)
        self.pending = self.pending or signum

    def arm(self) -> None:
        """Raise `StopSignal` on the next signal, or now if one arrived while disarmed."""
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise StopSignal(signum)
        self.armed = True

    def disarm(self) -> None:
        """Remember signals instead of raising them."""
        self.armed = False


def _ended_status(exc: BaseException) -> str:
    """The status of a stage run that `exc` ended."""
    stopped = any(cls.__name__ == "Preempted" for cls in type(exc).__mro__)  # no torch import
    if stopped or isinstance(exc, (StopSignal, KeyboardInterrupt)):
        return "KILLED"
    if isinstance(exc, SystemExit) and exc.code in (0, None):
        return "FINISHED"
    return "FAILED"


def metric_key(key: str) -> str:
    """`key` with each character MLflow refuses in a metric name replaced by `_`.

    MLflow allows letters, digits and `_ - . / : space`; class names such as ADE20K's
    "building;edifice" or "road, route" (per-class IoU: `iou.<name>`) hold others.
    """
    return _METRIC_KEY_BAD.sub("_", key)


class StageRun:
    """An open MLflow run of one stage execution.

    Attributes:
        client: The MlflowClient of the store.
        run_id: The run's id.
        note: The run's description as set when it opened (`stage_run`); `write_metrics`
            adds the headline metrics to it.
    """

    def __init__(self, client: Any, run_id: str, note: str = "") -> None:
        self.client = client
        self.run_id = run_id
        self.note = note

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log numeric metrics (non-numbers are skipped: they stay in the metrics JSON only)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [
            Metric(metric_key(key), float(value), now, step or 0)
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
        self.describe_results(metrics)

    def describe_results(self, metrics: dict[str, Any]) -> None:
        """Add the headline metrics among `metrics` (`HEADLINE_METRICS`) to the description."""
        found = [
            f"{key} **{value:.4g}**"
            for key in HEADLINE_METRICS
            if isinstance(value := metrics.get(key), int | float) and not isinstance(value, bool)
        ]
        if found:
            self.set_tags({NOTE_TAG: f"{self.note}\n\nResults: {' · '.join(found)}"})


def _experiment_id(client: Any, name: str) -> str:
    """Get or create the experiment `name`, marked as a model-training experiment.

    MLflow 3's UI opens an experiment by its kind (tag `mlflow.experimentKind`): on its runs
    table for model training, on traces for GenAI; an unmarked one gets a guessed kind. An
    existing experiment that is unmarked or only guessed is marked too; a kind chosen by hand
    is left alone.
    """
    experiment = with_retries(lambda: client.get_experiment_by_name(name))
    if experiment is None:
        try:
            return with_retries(lambda: client.create_experiment(name, tags=EXPERIMENT_TAGS))
        except Exception:  # another process created it first
            experiment = with_retries(lambda: client.get_experiment_by_name(name))
    kind = experiment.tags.get(EXPERIMENT_KIND_TAG)
    if kind is None or kind.endswith("_inferred") or kind == "no_inferred_type":
        with_retries(
            lambda: client.set_experiment_tag(
                experiment.experiment_id, EXPERIMENT_KIND_TAG, TRAINING_EXPERIMENT
            )
        )
    return experiment.experiment_id


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
        NOTE_TAG: f"Pipeline run `{pipeline_id}`: one child run per stage execution; its "
        "status follows the latest attempt of each stage (and target).",
    }
    return with_retries(lambda: client.create_run(experiment_id, tags=tags)).info.run_id


def _stage_runs_of(client: Any, experiment_id: str, parent: str) -> list[Any]:
    """Every (not deleted) stage run under the parent run `parent`."""
    query = f"tags.`mlflow.parentRunId` = '{parent}' and tags.`hyctas.kind` = 'stage'"
    found: list[Any] = []
    token = None
    while True:
        page = with_retries(
            lambda t=token: client.search_runs([experiment_id], query, page_token=t)
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def pipeline_status(children: list[Any]) -> tuple[str, int | None]:
    """The status and end time of a parent run with these stage runs.

    Only the latest attempt (by start time) of each stage and target counts: RUNNING if one
    is running, else FAILED if one failed, else KILLED if one was stopped, else FINISHED. The
    end time is the last end among all of them (None while nothing has ended).
    """
    latest: dict[tuple[str | None, str | None], Any] = {}
    for run in sorted(children, key=lambda r: r.info.start_time or 0):
        latest[(run.data.tags.get("hyctas.stage"), run.data.tags.get("hyctas.target"))] = run
    statuses = {run.info.status for run in latest.values()}
    ends = [run.info.end_time for run in children if run.info.end_time]
    end = max(ends) if ends else None
    if statuses & {"RUNNING", "SCHEDULED"}:
        return "RUNNING", end
    for status in ("FAILED", "KILLED"):
        if status in statuses:
            return status, end
    return "FINISHED", end


def _sync_parent(client: Any, experiment_id: str, parent: str, rounds: int = 5) -> None:
    """Set the parent run's status from its stage runs (see `pipeline_status`).

    Several jobs may do this at once. On sqlite and PostgreSQL, `store_lock` serialises them.
    A server has no lock and MLflow no compare-and-set, so each job writes, reads the stage
    runs again and writes again until what it read matches what it wrote: any change to a
    stage run is followed by its own job's sync, so the job that writes last has read the
    final state.
    """
    with store_lock(tracking_uri()):
        written = None
        for _ in range(rounds):
            status, end = pipeline_status(_stage_runs_of(client, experiment_id, parent))
            if (status, end) == written:
                return
            if status == "RUNNING":  # MLflow keeps the end time; it cannot be cleared
                with_retries(lambda: client.update_run(parent, status="RUNNING"))
            else:
                with_retries(lambda s=status, e=end: client.set_terminated(parent, s, e))
            written = (status, end)


def run_note(tags: dict[str, str], description: str | None) -> str:
    """A stage run's description (markdown): its name, what the stage does, target and arch.

    Args:
        tags: the run's tags (`mlflow.runName`, `target`, `arch_id`).
        description: the stage script's docstring, or None; its first paragraph is kept.
    """
    lines = [f"**{tags['mlflow.runName']}**"]
    if description and description.strip():
        lines.append(" ".join(description.strip().split("\n\n", 1)[0].split()))
    facts = [f"{key} `{tags[key]}`" for key in ("target", "arch_id") if key in tags]
    if facts:
        lines.append(" · ".join(facts))
    return "\n\n".join(lines)


@contextlib.contextmanager
def stage_run(
    stage: str,
    params: dict,
    *,
    target: str | None = None,
    tags: dict[str, str] | None = None,
    description: str | None = None,
) -> Iterator[StageRun]:
    """Open one MLflow run for a stage execution; it ends FINISHED, KILLED or FAILED.

    KILLED when the stage was stopped (SIGTERM/SIGINT raise `StopSignal` while the run is
    open, `Preempted`, KeyboardInterrupt), FAILED on any other exception. The parent run of the
    pipeline is set from its stage runs when this run starts and when it ends.

    Besides the `hyctas.*` tags, the run carries `stage`, `target` and `arch_id` (the runs
    table's columns) and a description (`run_note`), completed with the headline metrics by
    `StageRun.write_metrics`.

    Args:
        stage: stage name (also the params block logged beside `base`).
        params: the whole validated params dict.
        target: retraining target name for fanned-out stages.
        tags: extra tags (for example `hyctas.arch_id`).
        description: what the stage does (its script's docstring: the first paragraph is
            kept).
    """
    import mlflow
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    with _StopSignals() as stops:  # deferred until the run exists, then raised inside it
        mlflow.set_tracking_uri(tracking_uri())
        commit = git_commit()
        pipeline_id = os.environ.get(PIPELINE_ENV) or f"{commit[:12]}-{params_hash(params)}"
        with store_lock(tracking_uri()):  # parallel jobs: one creates the tables, one the parent
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
        run_tags.update(
            {short: run_tags[key] for key, short in DISPLAY_TAGS.items() if key in run_tags}
        )
        note = run_note(run_tags, description)
        run_tags[NOTE_TAG] = note
        run_id = with_retries(lambda: client.create_run(experiment_id, tags=run_tags)).info.run_id
        status = "FAILED"
        try:
            _sync_parent(client, experiment_id, parent)  # RUNNING again if it had ended
            logged = flatten({"base": params["base"], stage: params.get(stage) or {}})
            batch = [Param(k, str(v)[:6000]) for k, v in logged.items()]
            for start in range(0, len(batch), 100):
                chunk = batch[start : start + 100]
                with_retries(lambda c=chunk: client.log_batch(run_id, params=c))
            stops.arm()
            yield StageRun(client, run_id, note)
            status = "FINISHED"
        except BaseException as exc:
            status = _ended_status(exc)
            raise
        finally:
            stops.disarm()
            with_retries(lambda: client.set_terminated(run_id, status))
            _sync_parent(client, experiment_id, parent)
    if stops.pending is not None:  # arrived while the finished run was being closed
        raise StopSignal(stops.pending)
