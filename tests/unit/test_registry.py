"""hyctas.registry: the ONNX export as an MLflow pyfunc, registered under its target's alias."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from hyctas import registry
from hyctas.data.transforms import normalize
from hyctas.errors import ConfigError
from hyctas.evaluation.predict import predict_files
from hyctas.export import checkpoint_metadata, export_onnx
from hyctas.onnx_pyfunc import pad_to
from hyctas.registry import (
    MODEL_KEY,
    _stored_model_id,
    check_aliases,
    log_evaluated_model,
    log_onnx_model,
    name_filter,
    register_targets,
)
from hyctas.tracking import stage_run
from tests.conftest import REPO, tiny_baseline

CLASSES = 4
MEAN, STD = (0.3, 0.4, 0.5), (0.2, 0.25, 0.3)
SPECS = {  # select's model specs: a searched architecture, a random one in its band, a baseline
    "fast": {"kind": "segnet", "arch_id": "a1b2c3d4"},
    "fast_band0": {"kind": "segnet", "arch_id": "e5f6a7b8", "band": {"center_arch_id": "a1"}},
    "baseline": {"kind": "baseline", "baseline": {"name": "fast_scnn", "width": 0.25}},
}


def _onnx_model(path: Path) -> None:
    """A tiny Fast-SCNN with estimated BN statistics (classes vary), exported like evaluate."""
    net, state, _ = tiny_baseline(CLASSES, False, MEAN, STD)
    export_onnx(net, path, 64, 64, metadata=checkpoint_metadata(state))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An MLflow store where evaluate logged two targets' models and report registered three
    (the baseline's model is missing from the store, so report logs it from its ONNX file)."""
    from hyctas.params import load_params

    root = tmp_path_factory.mktemp("registry")
    params = load_params(REPO / "params.yaml")
    _onnx_model(root / "model.onnx")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        patch.chdir(root)  # the store's artifacts go to ./mlruns
        for target, spec in SPECS.items():
            (root / "select" / target).mkdir(parents=True)
            (root / "select" / target / "model.json").write_text(json.dumps(spec))
            folder = root / "evaluate" / target
            folder.mkdir(parents=True)
            (folder / "model.onnx").write_bytes((root / "model.onnx").read_bytes())
            metrics = {"target": target, "miou": 0.5, "latency_ms": 3.25}
            if spec["kind"] == "baseline":  # evaluated against another store: not in this one
                (folder / "metrics.json").write_text(
                    json.dumps({**metrics, MODEL_KEY: "models:/m-0123456789abcdef"})
                )
                continue
            tags = {"hyctas.arch_id": spec["arch_id"]}
            with stage_run("evaluate", params, target=target, tags=tags) as run:
                log_evaluated_model(
                    run,
                    folder / "model.onnx",
                    folder / "metrics.json",
                    metrics,
                    name=target,
                    tags={"target": target, "arch_id": spec["arch_id"]},
                )
        with stage_run("report", params) as run:
            first = register_targets(run, "hyctas", list(SPECS), root / "select", root / "evaluate")
        with stage_run("report", params) as run:  # a rerun: nothing new
            again = register_targets(run, "hyctas", list(SPECS), root / "select", root / "evaluate")
    return {"root": root, "uri": f"sqlite:///{root / 'mlflow.db'}", "first": first, "again": again}


@pytest.mark.slow  # the module's MLflow store: about 20 s on 2 busy cores
def test_evaluate_records_the_logged_model(pipeline: dict) -> None:
    client = MlflowClient(pipeline["uri"])
    metrics = json.loads((pipeline["root"] / "evaluate/fast/metrics.json").read_text())
    model = client.get_logged_model(metrics[MODEL_KEY].removeprefix("models:/"))
    assert model.name == "fast" and model.tags["arch_id"] == "a1b2c3d4"
    assert model.status == "READY"
    run = client.get_run(model.source_run_id)
    assert run.data.tags["hyctas.stage"] == "evaluate" and run.data.metrics["miou"] == 0.5
    assert "Results: miou **0.5**" in run.data.tags["mlflow.note.content"]


@pytest.mark.slow
def test_each_target_has_an_alias_in_the_registered_model_of_its_kind(pipeline: dict) -> None:
    first = {r.target: r for r in pipeline["first"]}
    assert {t: (r.name, r.version) for t, r in first.items()} == {
        "fast": ("hyctas-searched", "1"),
        "fast_band0": ("hyctas-random", "1"),
        "baseline": ("hyctas-baseline", "1"),
    }
    assert [r.logged_now for r in pipeline["first"]] == [False, False, True]
    # a rerun finds its versions, even the one made from a file the store lacked: idempotent
    same = [(r.name, r.version, r.model_uri) for r in pipeline["again"]]
    assert same == [(r.name, r.version, r.model_uri) for r in pipeline["first"]]
    assert not any(r.logged_now for r in pipeline["again"])
    client = MlflowClient(pipeline["uri"])
    version = client.get_model_version_by_alias("hyctas-searched", "fast")
    assert version.tags["arch_id"] == "a1b2c3d4" and version.tags["miou"] == "0.5000"
    assert version.source == first["fast"].model_uri
    baseline = client.get_model_version_by_alias("hyctas-baseline", "baseline")
    assert baseline.tags["arch_id"] == "baseline"
    assert len(client.search_model_versions("name = 'hyctas-searched'")) == 1


@pytest.mark.slow
def test_a_re_evaluated_model_becomes_a_new_version_under_the_same_alias(
    pipeline: dict, mlflow_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyctas.params import load_params

    params = load_params(REPO / "params.yaml")
    monkeypatch.chdir(tmp_path)
    evaluate = tmp_path / "evaluate"
    (evaluate / "fast").mkdir(parents=True)
    (evaluate / "fast/model.onnx").write_bytes((pipeline["root"] / "model.onnx").read_bytes())
    uris = []
    for miou in (0.5, 0.75):  # evaluate ran twice (e.g. after a retrain), report after each
        metrics = {"target": "fast", "miou": miou, "latency_ms": 3.0}
        with stage_run("evaluate", params, target="fast") as run:
            uri = log_evaluated_model(
                run,
                evaluate / "fast/model.onnx",
                evaluate / "fast/metrics.json",
                metrics,
                name="fast",
                tags={"target": "fast"},
            )
        with stage_run("report", params) as run:
            (registered,) = register_targets(
                run, "hyctas", ["fast"], pipeline["root"] / "select", evaluate
            )
        uris.append((registered.version, registered.model_uri, uri))
    assert [(v, logged == made) for v, logged, made in uris] == [("1", True), ("2", True)]
    assert uris[0][1] != uris[1][1]
    version = MlflowClient(mlflow_store).get_model_version_by_alias("hyctas-searched", "fast")
    assert (str(version.version), version.tags["miou"]) == ("2", "0.7500")


@pytest.mark.slow
def test_registered_model_predicts_the_labels_of_hyctas_predict(
    pipeline: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`models:/hyctas-searched@fast` on a normalised image == `hyctas predict` on the image."""
    import mlflow
    import mlflow.pyfunc

    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (100, 150, 3), dtype=np.uint8), (9, 9), 3)
    cv2.imwrite(str(tmp_path / "street.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    onnx_path = pipeline["root"] / "evaluate/fast/model.onnx"
    ids_path, _ = predict_files(onnx_path, [tmp_path / "street.png"], tmp_path, progress=False)[0]
    expected = cv2.imread(str(ids_path), cv2.IMREAD_UNCHANGED)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", pipeline["uri"])
    mlflow.set_tracking_uri(pipeline["uri"])  # stage_run sets it too, for the whole process
    model = mlflow.pyfunc.load_model("models:/hyctas-searched@fast")
    assert model.metadata.metadata["mean"] == list(MEAN)  # what a caller normalises with
    labels = model.predict(normalize(image, MEAN, STD).numpy()[None])
    assert labels.shape == (1, 100, 150) and labels.dtype == np.int64
    assert len(np.unique(expected)) >= 2  # not a constant map
    np.testing.assert_array_equal(labels[0], expected)


@pytest.mark.slow
def test_loading_the_registered_model_needs_no_torch(pipeline: dict) -> None:
    script = (
        "import sys; sys.modules['torch'] = None  # any import of torch fails\n"
        "import numpy as np, mlflow.pyfunc\n"
        "model = mlflow.pyfunc.load_model('models:/hyctas-searched@fast')\n"
        "print(model.predict(np.zeros((2, 3, 40, 70), np.float32)).shape)\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": pipeline["uri"]}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "(2, 40, 70)"


def test_padding_matches_the_inference_routine() -> None:
    from hyctas.evaluation.inference import pad_to as torch_pad_to

    x = np.random.default_rng(1).standard_normal((1, 3, 5, 21)).astype(np.float32)
    for size in [(64, 64), (5, 64), (128, 21)]:
        expected = torch_pad_to(torch.from_numpy(x), size).numpy()
        np.testing.assert_array_equal(pad_to(x, *size), expected)
    one_row = x[..., :1, :]
    np.testing.assert_array_equal(
        pad_to(one_row, 64, 64), torch_pad_to(torch.from_numpy(one_row), (64, 64)).numpy()
    )


@pytest.mark.parametrize("name", ["latest", "v2", "V10"])
def test_target_names_mlflow_keeps_for_versions_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=f"select.targets.{name}"):
        check_aliases(["fast", name])
    check_aliases(["fast", "v2x", "latest_fast"])


class _Client:
    """A fake MlflowClient whose `get_logged_model` raises each of `errors`, then finds a model."""

    def __init__(self, *errors: BaseException, status: str = "READY") -> None:
        self.errors = list(errors)
        self.status = status
        self.calls = 0

    def get_logged_model(self, model_id: str) -> SimpleNamespace:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return SimpleNamespace(model_id=model_id, status=self.status)


def _mlflow_error(code: str, message: str = "error") -> Exception:
    from mlflow.exceptions import RestException

    return RestException({"error_code": code, "message": message})


def test_only_a_missing_model_counts_as_not_in_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any other error is raised: taking it for "missing" would log the ONNX file again."""
    from mlflow.exceptions import MlflowException

    monkeypatch.setattr("hyctas.tracking.time.sleep", lambda _: None)
    missing = _mlflow_error("RESOURCE_DOES_NOT_EXIST", "Logged model m-1 not found")
    assert _stored_model_id(_Client(missing), "models:/m-1") is None
    assert _stored_model_id(_Client(status="FAILED"), "models:/m-1") is None
    assert _stored_model_id(_Client(), "runs:/r/model") is None
    locked = _Client(MlflowException("(sqlite3.OperationalError) database is locked"))
    assert _stored_model_id(locked, "models:/m-1") == "m-1" and locked.calls == 2  # retried
    for error in (
        _mlflow_error("TEMPORARILY_UNAVAILABLE", "503 Service Unavailable"),
        _mlflow_error("INTERNAL_ERROR"),
        ConnectionError("connection refused"),
    ):
        with pytest.raises(type(error)):
            _stored_model_id(_Client(error), "models:/m-1")


def test_a_model_whose_logging_is_interrupted_is_marked_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """MLflow marks only an Exception FAILED; a stop signal would leave the model PENDING."""
    from mlflow.models import Model

    finalized = []
    client = SimpleNamespace(
        get_run=lambda run_id: SimpleNamespace(
            data=SimpleNamespace(tags={}), info=SimpleNamespace(experiment_id="1")
        ),
        create_logged_model=lambda *args, **kwargs: SimpleNamespace(model_id="m-1"),
        finalize_logged_model=lambda model_id, status: finalized.append((model_id, str(status))),
    )

    def interrupted(**kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "onnx_metadata", lambda path: {})
    monkeypatch.setattr(Model, "log", interrupted)
    with pytest.raises(KeyboardInterrupt):
        log_onnx_model(SimpleNamespace(client=client, run_id="r"), tmp_path / "m.onnx", "fast", {})
    assert finalized == [("m-1", "FAILED")]


def test_the_name_filter_quotes_a_name_in_the_quotes_it_lacks() -> None:
    from mlflow.utils.search_utils import SearchModelVersionUtils

    for name in ("hyctas-searched", "it's-searched", 'say "hi"-searched'):
        (clause,) = SearchModelVersionUtils.parse_search_filter(name_filter(name))
        assert (clause["key"], clause["value"]) == ("name", name)
    with pytest.raises(ConfigError, match="both quotes"):
        name_filter('it\'s "x"')
