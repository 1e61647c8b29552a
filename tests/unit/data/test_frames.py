"""Value-map reading and conversion shared by the voc and folder sources."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hyctas.data.classes import voc_table
from hyctas.data.frames import LabelFrame, ValueMapConverter, convert_frames, read_value_map
from hyctas.errors import DataError

VALUES = np.array([[0, 1, 2], [15, 20, 255]], np.uint8)


def test_palette_maps_are_read_as_indices_not_colours(tmp_path):
    image = Image.fromarray(VALUES).convert("P")
    image.putpalette(voc_table().colors.ravel().tolist())
    image.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    assert (read_value_map(tmp_path / "p.png") == VALUES).all()


def test_plain_and_16_bit_maps(tmp_path):
    Image.fromarray(VALUES).save(tmp_path / "l.png")
    Image.fromarray(VALUES.astype(np.uint16)).save(tmp_path / "i16.png")
    assert (read_value_map(tmp_path / "l.png") == VALUES).all()
    assert (read_value_map(tmp_path / "i16.png") == VALUES).all()
    Image.fromarray(np.full((2, 3), 300, np.uint16)).save(tmp_path / "wide.png")
    with pytest.raises(DataError, match=r"wide.png: 16/32-bit label map with values 300..300"):
        read_value_map(tmp_path / "wide.png")
    Image.fromarray(VALUES > 0).save(tmp_path / "binary.png")  # mode 1: a 0/1 mask
    assert (read_value_map(tmp_path / "binary.png") == (VALUES > 0)).all()


def test_colour_and_corrupt_maps_are_named(tmp_path):
    Image.fromarray(np.zeros((2, 3, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(DataError, match=r"rgb.png: label map of mode RGB; .* value maps first"):
        read_value_map(tmp_path / "rgb.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError, match=r"bad.png: unreadable or corrupt label map"):
        read_value_map(tmp_path / "bad.png")


def test_converter_in_worker_processes(tmp_path):
    frames = []
    for i in range(3):
        Image.fromarray(np.zeros((2, 3, 3), np.uint8)).save(tmp_path / f"{i}.png")
        Image.fromarray(VALUES).save(tmp_path / f"{i}_L.png")
        frames.append(
            LabelFrame(
                "train",
                tmp_path / f"{i}.png",
                tmp_path / f"{i}_L.png",
                tmp_path / "out" / f"{i}.png",
                "",
            )
        )
    convert = ValueMapConverter(voc_table().lut(255), "voc")
    results = convert_frames(frames, convert, workers=2, progress=False)
    assert [r.error for r in results] == [None] * 3 and all(r.converted for r in results)
    assert (np.array(Image.open(tmp_path / "out" / "2.png")) == VALUES).all()
    assert results[0].counts[255] == 1 and sum(results[0].counts) == 6
