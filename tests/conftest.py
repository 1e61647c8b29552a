"""Fixtures shared by every test: the repo's params, a private MLflow store, tiny trees."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import NoReturn

import cv2
import numpy as np
import pytest

from hyctas.params import load_params

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REQUIRE_TOOLS = "HYCTAS_REQUIRE_E2E_TOOLS"  # set (to 1) by .ci/run once it has both tools


def skip_or_fail(reason: str) -> NoReturn:
    """Skip a test that needs a tool this machine lacks (headless Chromium, a PostgreSQL
    server); fail it instead where `HYCTAS_REQUIRE_E2E_TOOLS` says the tools are there."""
    if os.environ.get(REQUIRE_TOOLS):
        pytest.fail(f"{reason} ({REQUIRE_TOOLS} is set: CI installed the e2e tools)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def repo_params() -> dict:
    """params.yaml of the repository, validated."""
    return load_params(REPO / "params.yaml")


@pytest.fixture
def params(repo_params: dict) -> dict:
    """A private copy of params.yaml that a test may change."""
    return copy.deepcopy(repo_params)


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point MLflow at a fresh sqlite store in the test's folder."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def write_frame(
    root: Path, split: str, city: str, index: int, size=(64, 128), objects=None
) -> Path:
    """Write one frame (random image + polygon JSON) in the Cityscapes layout; returns the image."""
    h, w = size
    stem = f"{city}_{index:06d}_000019"
    image_dir = root / "leftImg8bit" / split / city
    label_dir = root / "gtFine" / split / city
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(index)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    cv2.imwrite(str(image_dir / f"{stem}_leftImg8bit.png"), image)
    if objects is None:
        objects = [
            {"label": "sky", "polygon": [[0, 0], [w, 0], [w, h // 3], [0, h // 3]]},
            {"label": "road", "polygon": [[0, h // 2], [w, h // 2], [w, h], [0, h]]},
            {"label": "car", "polygon": [[w // 4, h // 2], [w // 2, h // 2], [w // 2, 3 * h // 4]]},
        ]
    polygons = {"imgHeight": h, "imgWidth": w, "objects": objects}
    (label_dir / f"{stem}_gtFine_polygons.json").write_text(json.dumps(polygons))
    return image_dir / f"{stem}_leftImg8bit.png"


@pytest.fixture
def tiny_tree(tmp_path: Path) -> Path:
    """A Cityscapes-layout tree with 3 train and 2 val frames."""
    root = tmp_path / "cityscapes"
    for i in range(3):
        write_frame(root, "train", "aachen", i)
    for i in range(2):
        write_frame(root, "val", "lindau", 10 + i)
    return root


def tiny_baseline(num_classes: int, aux: bool, mean, std) -> tuple:
    """A Fast-SCNN at width 0.25 whose logits vary by class, and its checkpoint (target `fast`).

    Fresh BatchNorm statistics make the logits nearly constant, so they are estimated on random
    batches first. Returns (network, checkpoint state, baseline config).
    """
    import torch

    from hyctas.evaluation.batchnorm import recalibrate_bn
    from hyctas.models.baseline import BaselineConfig
    from hyctas.models.factory import build_model, model_checkpoint

    torch.manual_seed(0)
    cfg = BaselineConfig("fast_scnn", width=0.25, aux=aux)
    net = build_model("baseline", num_classes=num_classes, aux=aux, baseline=cfg)
    recalibrate_bn(net, [torch.randn(2, 3, 64, 64) for _ in range(3)], torch.device("cpu"))
    state = model_checkpoint(
        net,
        kind="baseline",
        baseline=cfg,
        num_classes=num_classes,
        aux=aux,
        mean=list(mean),
        std=list(std),
        target="fast",
    )
    return net, state, cfg
