"""Dataset trees for the source tests: the VOC fixture extended in a tmp copy, a folder dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.datasets import VOC, folder_dataset, voc_copy

needs_voc = pytest.mark.skipif(
    not VOC.is_dir(), reason="../shared/fixtures not beside the checkout"
)


@pytest.fixture
def voc_tree(tmp_path: Path) -> Path:
    """The extended VOC fixture in tmp (5 training frames, 1 validation frame)."""
    if not VOC.is_dir():
        pytest.skip("../shared/fixtures not beside the checkout")
    return voc_copy(tmp_path / "voc")


@pytest.fixture
def folder_tree(tmp_path: Path) -> Path:
    """The generated 7-class folder dataset (tests.datasets.folder_dataset) in tmp."""
    return folder_dataset(tmp_path / "mydata")
