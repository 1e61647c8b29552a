"""hyctas.train.supernet: the chance level the probes must beat, the frames that score them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hyctas.data import SEARCH_LIST, SUPERNET_TRAIN_LIST, VAL_LIST
from hyctas.data.dataset import SegmentationDataset
from hyctas.data.prepare import Splits, prepare_tree
from hyctas.errors import ConfigError
from hyctas.metrics import ConfusionMatrix
from hyctas.train.distributed import DistInfo
from hyctas.train.supernet import EvalFrames, chance_miou, pretrain
from tests.pipeline.tiny import tiny_params


def test_chance_miou_is_the_miou_of_predicting_the_most_frequent_class() -> None:
    num_classes, ignore = 6, 255
    rng = np.random.default_rng(0)
    # Classes 0..3 in the truth (2 most frequent), 4 and 5 absent; some ignored pixels.
    labels = [
        rng.choice([0, 1, 2, 2, 3, ignore], size=(8, 12), p=[0.1, 0.2, 0.3, 0.2, 0.1, 0.1])
        for _ in range(3)
    ]
    frames = EvalFrames(
        calib=[],
        search=[(torch.zeros(1, 3, 8, 12), torch.from_numpy(lbl)[None]) for lbl in labels],
    )
    counts = np.bincount(np.concatenate([lbl[lbl != ignore] for lbl in labels]), minlength=6)
    matrix = ConfusionMatrix(num_classes, ignore)
    for _, label in frames.search:
        matrix.update(torch.full_like(label, int(counts.argmax())), label)
    assert np.isnan(matrix.iou()[4:]).all()  # never in the truth, never predicted
    assert chance_miou(frames, num_classes, ignore) == pytest.approx(matrix.miou(), abs=1e-12)
    assert chance_miou(frames, num_classes, ignore) == pytest.approx(
        counts.max() / counts.sum() / 4
    )


@pytest.fixture
def lists(tiny_tree, tmp_path):
    """tiny_tree's lists: 3 training frames, 2 of them held out for the search."""
    splits = Splits(train="train", val="val", search_images=2, search_seed=0)
    out = tmp_path / "lists"
    kw = dict(num_classes=19, ignore_label=255, on_bad_file="error", workers=1, progress=False)
    prepare_tree(tiny_tree, splits, out, **kw)
    return out


def test_eval_frames_score_on_the_search_split_and_calibrate_on_supernet_training(lists):
    base = {"ignore_label": 255}
    frames = EvalFrames.load(lists, base, (0.5,) * 3, (0.25,) * 3, 2, 1, 2, "search.images")
    kw = dict(ignore_label=255, mean=(0.5,) * 3, std=(0.25,) * 3, augment=None)
    search = SegmentationDataset(lists / SEARCH_LIST, **kw)
    assert len(frames.search) == 2
    for (image, label), (want_image, want_label) in zip(
        frames.search, (search[0], search[1]), strict=True
    ):
        assert torch.equal(image[0], want_image) and torch.equal(label[0], want_label)
    (calib,) = frames.calib  # one frame left for the supernet: one batch of one
    assert torch.equal(calib[0], SegmentationDataset(lists / SUPERNET_TRAIN_LIST, **kw)[0][0])
    assert not set((lists / SEARCH_LIST).read_text().splitlines()) & set(
        (lists / VAL_LIST).read_text().splitlines()
    )
    with pytest.raises(ConfigError, match=r"search.images = 3: .*search.txt holds only 2 frame"):
        EvalFrames.load(lists, base, (0.5,) * 3, (0.25,) * 3, 1, 1, 3, "search.images")


def test_pretrain_names_a_search_split_that_leaves_less_than_a_batch(lists, tmp_path):
    params = tiny_params()  # batch_size 2; one frame is left after the held-out two
    where = dict(device=torch.device("cpu"), info=DistInfo(), progress=False)
    with pytest.raises(ConfigError) as info:
        pretrain(params, lists, tmp_path / "s.pt", tmp_path / "c.pt", **where)
    assert "supernet_train.txt: 1 frame(s)" in str(info.value)
    assert "pretrain_supernet.recipe.batch_size = 2" in str(info.value)
    assert "prepare_data.search_split.images" in str(info.value)
