"""Retrained networks as MLflow models, registered under their targets' names.

* `log_evaluated_model` (the `evaluate` stage): the stage's ONNX export logged as an MLflow
  pyfunc model in the stage's run (`hyctas/onnx_pyfunc.py`, logged as the model's code: it
  needs numpy and onnxruntime, not torch), with a signature, an input example and explicit
  pip requirements (no inference of requirements by importing things). Its URI
  (`models:/<model id>`) goes into the stage's metrics JSON under `MODEL_KEY`.
* `register_targets` (the `report` stage): each target's model becomes a version of the
  registered model of its kind, `<experiment>-searched`, `-random` (a random architecture
  in a searched one's latency band) or `-baseline`, with the target's name as alias and its
  architecture id, mIoU and latency as version tags. A model the store does not hold
  (evaluate's outputs restored by DVC from elsewhere) is logged from its ONNX file first. A
  rerun finds the version made before (from the same logged model, or from the same ONNX
  file, by sha256, for a model the store lacked) and only sets the alias again.

The model's contract is the pyfunc's: a normalised float32 batch (N, 3, H, W) in, int64
trainIds (N, H, W) out (`hyctas.onnx_pyfunc`); the mean and std are in its metadata.

Example:
    >>> model = mlflow.pyfunc.load_model("models:/hyctas-searched@fast")
    >>> labels = model.predict(normalize(image, mean, std).numpy()[None])  # (1, H, W)
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from hyctas import onnx_pyfunc
from hyctas.atomic import write_json
from hyctas.errors import ConfigError
from hyctas.provenance import file_digest
from hyctas.tracking import StageRun, with_retries

MODEL_KEY = "mlflow_model"  # evaluate's metrics JSON: the logged model's URI
ONNX_FILE = "model.onnx"  # evaluate's ONNX export in its per-target folder
CODE_PATH = Path(onnx_pyfunc.__file__)  # the pyfunc, logged as the model's code
REQUIREMENTS = ("mlflow", "numpy", "onnxruntime")  # what loading the pyfunc imports
EXAMPLE_SHAPE = (1, 3, 32, 32)  # small: MLflow stores it as JSON and runs it once at logging
KINDS = ("searched", "random", "baseline")  # of targets: one registered model each
RESERVED_ALIAS = "latest"  # and "v<number>": MLflow's own names for versions
DIGEST_TAG = "onnx_sha256"  # version tag: the ONNX file a version was made from


def pip_requirements() -> list[str]:
    """The pyfunc's requirements, pinned to the installed versions."""
    return [f"{name}=={version(name)}" for name in REQUIREMENTS]


def model_signature() -> Any:
    """The pyfunc's signature: float32 (N, 3, H, W) normalised images -> int64 (N, H, W)."""
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 3, -1, -1))]),
        outputs=Schema([TensorSpec(np.dtype(np.int64), (-1, -1, -1))]),
    )


def input_example() -> np.ndarray:
    """A normalised batch of one small image (the mean colour), any size being allowed."""
    return np.zeros(EXAMPLE_SHAPE, np.float32)


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """The `metadata_props` of an ONNX file (`hyctas.export.checkpoint_metadata`)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}


def model_metadata(onnx_meta: dict[str, str]) -> dict[str, Any]:
    """What the MLflow model states about itself: its contract, normalisation and classes."""
    meta: dict[str, Any] = {
        "input": "float32 (N, 3, H, W): RGB in [0, 1], minus mean, divided by std; any H, W",
        "output": "int64 (N, H, W): the predicted class (trainId) of each pixel",
    }
    for key in ("mean", "std"):
        if key in onnx_meta:
            meta[key] = json.loads(onnx_meta[key])
    if "num_classes" in onnx_meta:
        meta["num_classes"] = int(onnx_meta["num_classes"])
    if "class_table" in onnx_meta:
        meta["classes"] = json.loads(onnx_meta["class_table"]).get("names")
    for key in ("kind", "target"):
        if onnx_meta.get(key):
            meta[key] = onnx_meta[key]
    return meta


def log_onnx_model(run: StageRun, onnx_path: str | Path, name: str, tags: dict[str, str]) -> str:
    """Log an ONNX export as a pyfunc model of `run` (its metrics at step 0 are linked to it).

    Args:
        run: The open stage run the model belongs to.
        onnx_path: A `hyctas.export` ONNX file (free height and width, full-size logits).
        name: The model's name in the experiment (the target).
        tags: Tags of the logged model (target, arch id).

    Returns:
        The model's URI, `models:/<model id>`.
    """
    import mlflow
    from mlflow.models import Model

    client = run.client
    found = with_retries(lambda: client.get_run(run.run_id))
    model_tags = {
        **tags,
        "hyctas.pipeline_id": found.data.tags.get("hyctas.pipeline_id", ""),
    }
    metadata = model_metadata(onnx_metadata(onnx_path))

    def attempt() -> str:
        # Created here (not by Model.log) so that it lands in the run's experiment: Model.log
        # would look for an active fluent run, and the stages' runs are not fluent ones. A
        # retry starts a new model; one whose logging broke is left FAILED.
        logged = client.create_logged_model(
            found.info.experiment_id, name=name, source_run_id=run.run_id, tags=model_tags
        )
        try:
            Model.log(
                artifact_path=None,
                name=name,
                flavor=mlflow.pyfunc,
                run_id=run.run_id,
                model_id=logged.model_id,
                python_model=str(CODE_PATH),
                artifacts={onnx_pyfunc.ONNX_ARTIFACT: str(onnx_path)},
                signature=model_signature(),
                input_example=input_example(),
                pip_requirements=pip_requirements(),
                metadata=metadata,
            )
        except BaseException:
            # MLflow marks it FAILED only for an Exception inside its own logging block: a
            # stop signal (SystemExit, KeyboardInterrupt) or an earlier error leaves it PENDING.
            _mark_failed(client, logged.model_id)
            raise
        return logged.model_id

    return f"models:/{with_retries(attempt)}"


def _mark_failed(client: Any, model_id: str) -> None:
    """Best effort: set a logged model FAILED (`_stored_model_id` never reuses one)."""
    from mlflow.entities import LoggedModelStatus

    with contextlib.suppress(Exception):
        client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)


def log_evaluated_model(
    run: StageRun,
    onnx_path: str | Path,
    metrics_path: str | Path,
    metrics: dict[str, Any],
    *,
    name: str,
    tags: dict[str, str],
) -> str:
    """`evaluate`'s ending: log the metrics, then the model, then write the metrics JSON.

    The metrics go first so that MLflow links them to the model; the JSON (the source of
    truth, as `StageRun.write_metrics` writes it) also records the model's URI (`MODEL_KEY`).

    Returns:
        The model's URI.
    """
    run.log_metrics(metrics)
    uri = log_onnx_model(run, onnx_path, name, tags)
    write_json(metrics_path, {**metrics, MODEL_KEY: uri})
    run.describe_results(metrics)
    return uri


def target_kind(spec: dict[str, Any]) -> str:
    """`searched`, `random` (in a searched one's latency band) or `baseline`, from a select spec."""
    if spec["kind"] == "baseline":
        return "baseline"
    return "random" if spec.get("band") else "searched"


def registered_model_name(experiment: str, kind: str) -> str:
    """The registered model that holds the targets of one kind: `<experiment>-<kind>`."""
    return f"{experiment}-{kind}"


def check_aliases(targets: list[str]) -> None:
    """Raise ConfigError for a target name MLflow keeps for versions (`latest`, `v<n>`).

    The params schema refuses these names first (`select.targets`); this guards callers that
    pass names from elsewhere, before anything is written.
    """
    for target in targets:
        if target.lower() == RESERVED_ALIAS or (target[:1] in "vV" and target[1:].isdigit()):
            raise ConfigError(
                f"select.targets.{target}: MLflow reserves this name for model versions, so "
                "it cannot be a registered model alias; rename the target"
            )


@dataclass(frozen=True)
class Registration:
    """One target's place in the Model Registry: `models:/<name>@<alias>`.

    Attributes:
        target: The target (also the alias).
        name: The registered model.
        version: The model version the alias points to.
        model_uri: The logged model (`models:/<model id>`).
        logged_now: The store did not hold the model and this run logged it from the ONNX file.
    """

    target: str
    name: str
    version: str
    model_uri: str
    logged_now: bool

    @property
    def uri(self) -> str:
        """`models:/<name>@<alias>`, what `mlflow.pyfunc.load_model` takes."""
        return f"models:/{self.name}@{self.target}"


def _stored_model_id(client: Any, uri: str | None) -> str | None:
    """The id of the logged model `uri` (`models:/<id>`) if this store holds it, else None.

    Raises:
        MlflowException: Any error but RESOURCE_DOES_NOT_EXIST (a locked database, a server's
            HTTP error, after `with_retries`): "the store lacks it" would log the ONNX file
            again and add a duplicate version.
    """
    from mlflow.exceptions import MlflowException

    if not uri or not uri.startswith("models:/"):
        return None
    model_id = uri[len("models:/") :]
    try:
        model = with_retries(lambda: client.get_logged_model(model_id))
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return None
    return model_id if model.status == "READY" else None  # not one whose logging broke


def _registered_model(client: Any, name: str, kind: str, experiment: str) -> None:
    """Create the registered model `name` unless it exists."""
    from mlflow.exceptions import MlflowException

    try:
        with_retries(
            lambda: client.create_registered_model(
                name,
                tags={"hyctas.kind": kind, "experiment": experiment},
                description=f"The {kind} targets of experiment `{experiment}` (hyctas): each "
                "alias is a target name of select.targets. Input: normalised float32 "
                "(N, 3, H, W); output: int64 trainIds (N, H, W).",
            )
        )
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise


def _find_version(
    client: Any, name: str, model_id: str | None, digest: str
) -> tuple[str, str] | None:
    """(version, model id) of the version of `name` made from logged model `model_id`, or
    with `model_id` None (the store lacks it) from an ONNX file with this sha256; else None."""
    versions = with_retries(lambda: client.search_model_versions(name_filter(name)))
    for found in versions:
        if model_id is None:
            if found.tags.get(DIGEST_TAG) == digest:
                return str(found.version), found.source.removeprefix("models:/")
        elif found.model_id == model_id or found.source == f"models:/{model_id}":
            return str(found.version), model_id
    return None


def name_filter(name: str) -> str:
    """`name = '<name>'` for `search_model_versions`, in the quotes `name` lacks.

    MLflow's filter parser has no escapes (`\\'` and `''` are kept as they are); the schema
    keeps quotes out of `base.mlflow_experiment`, this keeps any name from changing the query.
    """
    for quote in ("'", '"'):
        if quote not in name:
            return f"name = {quote}{name}{quote}"
    raise ConfigError(
        f"registered model name {name!r}: MLflow cannot search a name with both quotes"
    )


def register_target(
    run: StageRun, experiment: str, target: str, spec: dict[str, Any], evaluate_dir: Path
) -> Registration:
    """Make `models:/<experiment>-<kind>@<target>` point to the target's evaluated model.

    The version made from the logged model named in evaluate's metrics is reused (a rerun
    adds nothing), else created. A store that lacks that model (evaluate's outputs came from
    another store) gets the version an earlier report made from the same ONNX file (tag
    `onnx_sha256`), else the file is logged in `run` now and registered.

    Args:
        run: The report's open run.
        experiment: `base.mlflow_experiment`, the registered models' prefix.
        target: The target (the alias).
        spec: Its select model spec (`kind`, `arch_id`, `band`).
        evaluate_dir: evaluate's per-target folders (`metrics.json`, `model.onnx`).
    """
    client = run.client
    evaluated = json.loads((evaluate_dir / target / "metrics.json").read_text())
    onnx_path = evaluate_dir / target / ONNX_FILE
    kind = target_kind(spec)
    name = registered_model_name(experiment, kind)
    tags = {
        "target": target,
        "arch_id": spec.get("arch_id", spec["kind"]),  # as the stage runs' arch_id tag
        "kind": kind,
        "miou": f"{evaluated['miou']:.4f}",
        "latency_ms": f"{evaluated['latency_ms']:.2f}",
        DIGEST_TAG: file_digest(onnx_path, length=None),
    }
    _registered_model(client, name, kind, experiment)
    model_id = _stored_model_id(client, evaluated.get(MODEL_KEY))
    found = _find_version(client, name, model_id, tags[DIGEST_TAG])
    logged_now = found is None and model_id is None
    if logged_now:
        model_id = log_onnx_model(run, onnx_path, target, tags).removeprefix("models:/")
    if found is None:
        assert model_id is not None
        source_run = with_retries(lambda: client.get_logged_model(model_id)).source_run_id
        created = with_retries(
            lambda: client.create_model_version(
                name, source=f"models:/{model_id}", run_id=source_run, tags=tags, model_id=model_id
            )
        )
        found = (str(created.version), model_id)
    number, model_id = found
    with_retries(lambda: client.set_registered_model_alias(name, target, number))
    return Registration(target, name, number, f"models:/{model_id}", logged_now)


def register_targets(
    run: StageRun,
    experiment: str,
    targets: list[str],
    select_dir: Path,
    evaluate_dir: Path,
) -> list[Registration]:
    """Register each target's evaluated model (`register_target`), alias the target's name.

    Args:
        run: The report's open run (a model the store lacks is logged in it).
        experiment: `base.mlflow_experiment`, the registered models' prefix.
        targets: The names of `select.targets`.
        select_dir: select's per-target folders (`<target>/model.json`).
        evaluate_dir: evaluate's per-target folders (`metrics.json`, `model.onnx`).

    Raises:
        ConfigError: A target name MLflow reserves for versions, before anything is written.
    """
    check_aliases(targets)
    specs = {t: json.loads((select_dir / t / "model.json").read_text()) for t in targets}
    return [register_target(run, experiment, t, specs[t], evaluate_dir) for t in targets]
