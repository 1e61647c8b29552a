"""Dataset over the prepared lists and its seeded training transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hyctas.data.dataset import SegmentationDataset, make_loader, read_list
from hyctas.data.prepare import Splits, prepare_tree
from hyctas.data.transforms import AugmentConfig, train_transform
from hyctas.errors import ConfigError, DataError

AUG = {
    "crop_height": 32,
    "crop_width": 64,
    "scale_min": 0.5,
    "scale_max": 2.0,
    "flip_prob": 0.5,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}


@pytest.fixture
def lists(tiny_tree, tmp_path):
    out = tmp_path / "lists"
    prepare_tree(
        tiny_tree,
        Splits(train="train", val="val", search_images=1, search_seed=0),
        out,
        num_classes=19,
        ignore_label=255,
        on_bad_file="error",
        workers=1,
        progress=False,
    )
    return out


def dataset(lists, augment=True, seed=0):
    return SegmentationDataset(
        lists / "train.txt",
        ignore_label=255,
        mean=AUG["mean"],
        std=AUG["std"],
        augment=AugmentConfig.from_params(AUG) if augment else None,
        seed=seed,
    )


def test_train_samples_have_crop_shape_and_valid_labels(lists):
    ds = dataset(lists)
    for i in range(len(ds)):
        image, label = ds[i]
        assert image.shape == (3, 32, 64) and image.dtype == torch.float32
        assert label.shape == (32, 64) and label.dtype == torch.int64
        assert set(label.unique().tolist()) <= {0, 10, 13, 255}


def test_eval_samples_are_full_frames(lists):
    image, label = dataset(lists, augment=False)[0]
    assert image.shape == (3, 64, 128) and label.shape == (64, 128)
    assert abs(float(image.mean())) < 3  # normalised


def test_seeded_and_epoch_dependent(lists):
    a, b = dataset(lists, seed=1), dataset(lists, seed=1)
    assert torch.equal(a[0][0], b[0][0])
    a.set_epoch(1)
    assert not torch.equal(a[0][0], b[0][0])
    assert not torch.equal(dataset(lists, seed=2)[0][0], b[0][0])


def test_loader_order_and_workers_do_not_change_batches(lists):
    def batches(workers):
        loader = make_loader(dataset(lists), batch_size=2, workers=workers, shuffle=True, seed=3)
        return [b[0] for b in loader]

    one, two = batches(0), batches(2)
    assert all(torch.equal(x, y) for x, y in zip(one, two, strict=True))


def test_padding_uses_ignore_label():
    cfg = AugmentConfig.from_params(
        {**AUG, "scale_min": 0.25, "scale_max": 0.25, "crop_height": 64, "crop_width": 64}
    )
    image = np.zeros((64, 64, 3), np.uint8)
    label = np.zeros((64, 64), np.uint8)
    _, out = train_transform(image, label, cfg, 255, np.random.default_rng(0))
    assert (out == 255).float().mean() > 0.9


def test_bad_lists_and_params(tmp_path, lists):
    with pytest.raises(DataError, match="run the prepare_data stage first"):
        read_list(tmp_path / "missing.txt")
    (tmp_path / "bad.txt").write_text("only-one-column\n")
    with pytest.raises(DataError, match=r"bad.txt:1: expected"):
        read_list(tmp_path / "bad.txt")
    with pytest.raises(ConfigError, match="augment.scale_min"):
        AugmentConfig.from_params({**AUG, "scale_min": 3.0})
