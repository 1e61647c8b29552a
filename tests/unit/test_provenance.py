"""Provenance: each stage's code from its imports, and fingerprints of every input."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyctas.provenance import (
    PROJECT_ROOT,
    Fingerprint,
    code_digest,
    file_digest,
    module_code_digest,
    module_code_files,
    stage_code_files,
    stage_names,
    sync_dvc_yaml,
)


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


@pytest.fixture()
def project(tmp_path):
    """A small project: a stage importing a module that imports another inside a function."""
    write(tmp_path, "stages/__init__.py", "")
    write(tmp_path, "stages/train.py", "from hyctas.loop import run\nimport numpy\n")
    write(tmp_path, "stages/other.py", "import hyctas.errors\n")
    write(tmp_path, "hyctas/__init__.py", "")
    write(tmp_path, "hyctas/errors.py", "")
    write(tmp_path, "hyctas/loop.py", "def run():\n    from . import metrics\n")
    write(tmp_path, "hyctas/metrics.py", 'TABLE, SPLIT = "tables", "sub"\n')
    write(tmp_path, "hyctas/sub/__init__.py", "")  # a package named in a string: no data
    write(tmp_path, "hyctas/tables/a.json", "{}")
    write(tmp_path, "hyctas/unused.py", "")
    return tmp_path


def test_code_files_follow_imports_at_any_depth(project):
    assert stage_code_files("train", project) == [
        "hyctas/__init__.py",
        "hyctas/loop.py",
        "hyctas/metrics.py",
        "hyctas/tables",  # a data folder the module names
        "stages/__init__.py",
        "stages/train.py",
    ]
    assert stage_code_files("other", project) == [
        "hyctas/__init__.py",
        "hyctas/errors.py",
        "stages/__init__.py",
        "stages/other.py",
    ]
    with pytest.raises(ValueError, match="stages/nope.py"):
        stage_code_files("nope", project)


def test_code_digest_changes_with_an_imported_file_only(project):
    before = {s: code_digest(s, project) for s in ("train", "other")}
    write(project, "hyctas/metrics.py", 'TABLE, SPLIT = "tables", "sub"  # edited\n')
    after = {s: code_digest(s, project) for s in ("train", "other")}
    assert after["train"] != before["train"] and after["other"] == before["other"]
    write(project, "hyctas/tables/a.json", '{"x": 1}')  # package data counts too
    assert code_digest("train", project) != after["train"]


def test_a_modules_code_is_its_imports_only(project):
    assert module_code_files("hyctas.loop", project) == [
        "hyctas/__init__.py",
        "hyctas/loop.py",
        "hyctas/metrics.py",
        "hyctas/tables",
    ]
    before = module_code_digest("hyctas.loop", project)
    write(project, "stages/train.py", "from hyctas.loop import run  # edited\n")
    assert module_code_digest("hyctas.loop", project) == before  # the stage is not its code
    write(project, "hyctas/metrics.py", 'TABLE, SPLIT = "tables", "sub"  # edited\n')
    assert module_code_digest("hyctas.loop", project) != before
    with pytest.raises(ValueError, match="no project module hyctas.nope"):
        module_code_files("hyctas.nope", project)


def test_the_repository_stages(tmp_path):
    assert "evaluate" in stage_names()
    evaluate = stage_code_files("evaluate")
    assert {
        "stages/evaluate.py",
        "hyctas/evaluation/metrics.py",
        "hyctas/evaluation/accuracy.py",
    } <= set(evaluate)
    assert "hyctas/search/published_archs" in stage_code_files("search")
    assert "hyctas/train/supernet.py" in stage_code_files("search")  # its accuracy objective


def test_dvc_yaml_code_deps_are_in_sync():
    text = (PROJECT_ROOT / "dvc.yaml").read_text()
    assert sync_dvc_yaml(text) == text, "run `python -m hyctas.provenance --sync-dvc`"


def test_sync_rewrites_only_code_deps(project):
    text = (
        "stages:\n  train:\n    cmd: python -m stages.train\n    deps:\n"
        "      - stages/train.py\n      - hyctas/gone.py\n      - data/lists\n"
        "    outs:\n      - out.txt  # kept\n"
    )
    synced = sync_dvc_yaml(text, project)
    assert "hyctas/gone.py" not in synced and "      - hyctas/loop.py\n" in synced
    assert synced.index("hyctas/tables") < synced.index("data/lists") < synced.index("outs:")
    assert synced.endswith("      - out.txt  # kept\n") and sync_dvc_yaml(synced, project) == synced


def test_fingerprint_covers_params_files_and_code(tmp_path, monkeypatch):
    weights = tmp_path / "supernet.pt"
    weights.write_bytes(b"a")
    lists = tmp_path / "lists"
    write(lists, "train.txt", "x\n")
    first = Fingerprint.of("retrain", {"lr": 1}, {"supernet": weights, "lists": lists})
    assert first.matches(first.to_dict()) and not first.matches("an old string fingerprint")
    assert (
        Fingerprint.of("retrain", {"lr": 2}, {"supernet": weights, "lists": lists}).changes(
            first.to_dict()
        )
        == "changed: params"
    )
    weights.write_bytes(b"b")
    write(lists, "train.txt", "y\n")
    second = Fingerprint.of("retrain", {"lr": 1}, {"supernet": weights, "lists": lists})
    assert second.changes(first.to_dict()) == "changed: lists (file), supernet (file)"
    monkeypatch.setattr("hyctas.provenance.code_digest", lambda stage: "edited")
    third = Fingerprint.of("retrain", {"lr": 1}, {"supernet": weights, "lists": lists})
    assert third.changes(second.to_dict()) == "changed: code"
    monkeypatch.setattr("hyctas.provenance.module_code_digest", lambda module: module)
    of_module = Fingerprint.of("retrain", {"lr": 1}, {}, code_module="hyctas.train.loop")
    assert of_module.parts["code"] == "hyctas.train.loop"  # the module's code, not the stage's
    assert "older version" in third.changes({"digest": "x"})


def test_file_digest_of_a_folder_sees_names_and_content(tmp_path):
    write(tmp_path, "d/a.txt", "1")
    before = file_digest(tmp_path / "d")
    write(tmp_path, "d/a.txt", "2")
    assert file_digest(tmp_path / "d") != before


def test_file_digest_is_a_prefix_of_the_files_sha256(tmp_path):
    import hashlib

    write(tmp_path, "model.onnx", "weights")
    path = tmp_path / "model.onnx"
    full = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_digest(path, length=None) == full and file_digest(path) == full[:16]
