"""The tiny DAG on data no one here made: the real VOC photo (both engines), a folder dataset.

The VOC fixture (500x375, 21 classes) is extended in a tmp copy with frames derived from it
(tests.datasets.voc_copy); the folder dataset has its own 7-class table and 720x960 frames.
Neither size is a multiple of 64: training, search scoring, evaluation and predict pad.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from hyctas.data.classes import VOC_NAMES, voc_table
from tests.datasets import CLASSES, VOC, VOC_ID, folder_dataset, voc_copy
from tests.pipeline.tiny import TWO_TARGETS, run, tiny_repo

pytestmark = [pytest.mark.pipeline, pytest.mark.e2e]

VOC_PRESENT = ["background", "bottle", "chair", "diningtable", "person"]


def voc_params(root: Path) -> dict:
    return {
        **TWO_TARGETS,
        "base": {"num_classes": 21},
        "prepare_data": {
            "source": "voc",
            "voc": {"root": str(root), "class_table": None},
            "train_split": "train",
            "val_split": "val",
        },
    }


@pytest.fixture(scope="module")
def voc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not VOC.is_dir():
        pytest.skip("../shared/fixtures not beside the checkout")
    return voc_copy(tmp_path_factory.mktemp("voc"))


def check_voc_outputs(repo: Path) -> None:
    """evaluate's per-class IoU under VOC names, and the class table prepare_data wrote."""
    metrics = json.loads((repo / "results/evaluate/fast/metrics.json").read_text())
    assert sorted(metrics["iou"]) == sorted(VOC_NAMES)  # metrics JSON keys are sorted
    # A class in the val frame always has an IoU; classes neither present nor predicted none.
    assert all(metrics["iou"][name] is not None for name in VOC_PRESENT)
    assert 0.0 <= metrics["miou"] <= 1.0
    classes = json.loads((repo / "data/prepare_data/lists/classes.json").read_text())
    assert classes["source"] == "voc" and classes["names"] == list(VOC_NAMES)


def test_voc_through_dvc_evaluate_and_predict(voc_root: Path, tmp_path: Path) -> None:
    repo = tiny_repo(tmp_path / "repo", voc_params(voc_root))
    run(repo, "dvc", "repro", timeout=1500)
    check_voc_outputs(repo)
    summary = (repo / "reports/summary.md").read_text()
    assert "| person |" in summary  # the report's per-class table, under VOC names
    photo = voc_root / "JPEGImages" / f"{VOC_ID}.jpg"
    run(repo, "hyctas", "predict", "--model", "results/retrain/fast/model.pt", str(photo),
        "--out", "preds")  # fmt: skip
    train_ids = cv2.imread(str(repo / "preds" / f"{VOC_ID}_trainIds.png"), cv2.IMREAD_UNCHANGED)
    assert train_ids.shape == (375, 500) and train_ids.max() < 21
    overlay = cv2.imread(str(repo / "preds" / f"{VOC_ID}_overlay.png"))[..., ::-1]
    image = cv2.imread(str(photo))[..., ::-1]
    expected = 0.5 * image + 0.5 * voc_table().colors[train_ids]  # the VOC colour map
    assert np.abs(overlay - np.clip(expected + 0.5, 0, 255).astype(np.uint8)).max() <= 1


def test_voc_through_snakemake(voc_root: Path, tmp_path: Path) -> None:
    repo = tiny_repo(tmp_path / "repo", voc_params(voc_root))
    run(repo, "snakemake", "--cores", "2", timeout=1500)
    check_voc_outputs(repo)
    assert "| person |" in (repo / "reports/summary.md").read_text()


def test_folder_dataset_with_its_own_table_runs_end_to_end(tmp_path: Path) -> None:
    root = folder_dataset(tmp_path / "mydata")
    extra = {
        **TWO_TARGETS,
        "base": {"num_classes": len(CLASSES)},
        "prepare_data": {
            "source": "folder",
            "folder": {
                "root": str(root),
                "class_table": "classes.csv",
                "image_suffix": ".jpg",
                "label_suffix": ".png",
                "splits": {
                    "train": {"images": "images/train", "labels": "labels/train"},
                    "val": {"images": "images/val", "labels": "labels/val"},
                },
            },
            "train_split": "train",
            "val_split": "val",
        },
    }
    repo = tiny_repo(tmp_path / "repo", extra)
    run(repo, "dvc", "repro", timeout=1500)
    metrics = json.loads((repo / "results/evaluate/fast/metrics.json").read_text())
    assert sorted(metrics["iou"]) == sorted(name for name, _, _ in CLASSES)
    assert all(v is not None for v in metrics["iou"].values())  # every class is in val
    summary = (repo / "reports/summary.md").read_text()
    assert "| fast |" in summary and "| baseline |" in summary and "| sign |" in summary
