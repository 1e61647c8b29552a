"""The official Cityscapes label table (cityscapesscripts.helpers.labels), as lookup arrays."""

from __future__ import annotations

import numpy as np
from cityscapesscripts.helpers.labels import labels as CITYSCAPES_LABELS
from cityscapesscripts.helpers.labels import name2label

IGNORE = 255


def id_to_trainid_lut(ignore_label: int = IGNORE) -> np.ndarray:
    """A 256-entry uint8 table mapping labelIds to trainIds (unlabelled ids -> `ignore_label`)."""
    lut = np.full(256, ignore_label, dtype=np.uint8)
    for label in CITYSCAPES_LABELS:
        if 0 <= label.id < 256:
            lut[label.id] = label.trainId if 0 <= label.trainId < 255 else ignore_label
    return lut


def unknown_label_ids(label_ids: np.ndarray) -> list[int]:
    """Values of a labelIds image that are no id of the Cityscapes table (sorted)."""
    known = np.zeros(256, dtype=bool)
    known[[label.id for label in CITYSCAPES_LABELS if 0 <= label.id < 256]] = True
    present = np.flatnonzero(np.bincount(label_ids.ravel(), minlength=256))
    return [int(v) for v in present if v >= 256 or not known[v]]


def labelids_to_trainids(label_ids: np.ndarray, ignore_label: int = IGNORE) -> np.ndarray:
    """Map a labelIds image to trainIds with the official table."""
    return id_to_trainid_lut(ignore_label)[label_ids]


def trainid_colors(num_classes: int) -> np.ndarray:
    """RGB colours (num_classes x 3, uint8) of the trainIds, from the Cityscapes palette."""
    colors = {l.trainId: l.color for l in CITYSCAPES_LABELS if 0 <= l.trainId < 255}
    rng = np.random.default_rng(0)  # stable extra colours for classes beyond the table
    return np.array(
        [colors.get(i, tuple(rng.integers(0, 256, 3))) for i in range(num_classes)], dtype=np.uint8
    )


def known_polygon_label(name: str) -> bool:
    """Whether json2labelImg knows a polygon label (`cargroup` etc. fall back to `car`)."""
    if name in name2label:
        return True
    return name.endswith("group") and name[: -len("group")] in name2label
