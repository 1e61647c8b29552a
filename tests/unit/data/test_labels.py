"""The official labelIds -> trainIds mapping, checked on a real Cityscapes frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hyctas.data.labels import (
    id_to_trainid_lut,
    labelids_to_trainids,
    trainid_colors,
)
from tests.conftest import SHARED

FRAME = SHARED / "fixtures" / "cityscapes_sample" / "gtFine" / "val" / "frankfurt"
STEM = "frankfurt_000000_000294_gtFine"


@pytest.mark.skipif(not FRAME.is_dir(), reason="../shared/fixtures not beside the checkout")
def test_real_frame_maps_to_official_trainids():
    ids = cv2.imread(str(FRAME / f"{STEM}_labelIds.png"), cv2.IMREAD_UNCHANGED)
    official = cv2.imread(str(FRAME / f"{STEM}_labelTrainIds.png"), cv2.IMREAD_UNCHANGED)
    mapped = labelids_to_trainids(ids)
    agreement = float((mapped == official).mean())
    # The two files were downscaled separately: 77 of 32,768 boundary pixels disagree.
    assert ids.shape == official.shape == (128, 256)
    assert agreement >= 0.997, agreement
    assert agreement < 1.0  # the fixture is known to differ a little: equality would be suspicious
    assert len(np.unique(official[official != 255])) >= 5


def test_table_entries():
    lut = id_to_trainid_lut()
    assert lut[7] == 0  # road
    assert lut[26] == 13  # car
    assert lut[33] == 18  # bicycle
    assert lut[0] == 255 and lut[1] == 255  # unlabeled, ego vehicle
    assert tuple(trainid_colors(19)[0]) == (128, 64, 128)
