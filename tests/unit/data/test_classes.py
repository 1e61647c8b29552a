"""Class tables: the built-in ones, user files (YAML, CSV) and their errors, classes.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hyctas.data.classes import (
    CLASSES_FILE,
    UNKNOWN,
    ClassTable,
    cityscapes_table,
    load_class_table,
    load_classes,
    voc_colormap,
    voc_table,
    write_classes,
)
from hyctas.data.labels import id_to_trainid_lut, trainid_colors
from hyctas.errors import ConfigError, DataError


def test_cityscapes_table_is_the_official_mapping():
    table = cityscapes_table()
    assert len(table) == 19 and table.names[:3] == ["road", "sidewalk", "building"]
    assert table.names[-1] == "bicycle"
    assert (table.colors == trainid_colors(19)).all()
    lut, official = table.lut(255), id_to_trainid_lut(255)
    known = lut != UNKNOWN
    assert (lut[known] == official[known]).all()
    assert lut[7] == 0 and lut[0] == 255 and lut[99] == UNKNOWN  # road, unlabeled, no such id


def test_voc_table_and_colour_map():
    table = voc_table()
    assert len(table) == 21 and table.names[15] == "person" and table.ignore_values == [255]
    cmap = voc_colormap()
    expected = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 15: (192, 128, 128)}
    expected |= {20: (0, 64, 128), 255: (224, 224, 192)}  # tvmonitor; the void border colour
    assert {i: tuple(cmap[i].tolist()) for i in expected} == expected
    assert (table.colors == cmap[:21]).all()
    lut = table.lut(255)
    assert lut[:21].tolist() == list(range(21)) and lut[255] == 255 and lut[21] == UNKNOWN


YAML = """\
classes:
  - {name: sky, value: 10, color: [1, 2, 3]}
  - {name: road, value: 20, color: "#0a0b0c"}
  - {name: car, value: 30}
ignore: [0, 255]
"""
CSV = "name,value,color\nsky,10,1 2 3\nroad,20,#0a0b0c\ncar,30,\nignore,0,\nignore,255,\n"


@pytest.mark.parametrize(("name", "text"), [("t.yaml", YAML), ("t.csv", CSV), ("t.yml", YAML)])
def test_user_table(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    table = load_class_table(tmp_path / name)
    assert table.names == ["sky", "road", "car"] and table.values == [10, 20, 30]
    # car (trainId 2) has no colour: VOC colour map entry 3 (entry 0 is black, like void)
    assert table.colors.tolist() == [[1, 2, 3], [10, 11, 12], voc_colormap(4)[3].tolist()]
    assert table.ignore_values == [0, 255] and table.origin == str(tmp_path / name)
    lut = table.lut(255)
    assert (lut[10], lut[20], lut[30], lut[0], lut[255], lut[11]) == (0, 1, 2, 255, 255, UNKNOWN)


def test_csv_without_colours_or_ignored_values(tmp_path):
    (tmp_path / "t.csv").write_text("\ufeffname,value\nsky,1\nroad,2\n")  # a spreadsheet's BOM
    table = load_class_table(tmp_path / "t.csv")
    assert table.names == ["sky", "road"] and table.ignore_values == []


BAD_TABLES = {
    "no-classes-key": ("t.yaml", "names: [a, b]\n", "expected a mapping with a `classes` list"),
    "not-yaml": ("t.yaml", "classes: [unclosed\n", "malformed class table"),
    "no-value": ("t.yaml", "classes:\n  - {name: a}\n", "classes[0]"),
    "value-300": ("t.yaml", "classes:\n  - {name: a, value: 300}\n", "value 300"),
    "repeated-name": (
        "t.yaml",
        "classes:\n  - {name: a, value: 1}\n  - {name: a, value: 2}\n",
        "class name(s) ['a'] appear more than once",
    ),
    "repeated-value": ("t.csv", "name,value\na,1\nb,1\n", "value(s) [1] appear more than once"),
    "class-and-ignored": (
        "t.yaml",
        "classes:\n  - {name: a, value: 1}\nignore: [1]\n",
        "value(s) [1] are both a class and ignored",
    ),
    "bad-colour": ("t.yaml", "classes:\n  - {name: a, value: 1, color: red}\n", "colour 'red'"),
    "unknown-key": ("t.yaml", "classes: []\nvoid: [0]\n", "unknown key(s) ['void']"),
    "empty": ("t.yaml", "classes: []\n", "no classes"),
    "csv-header": ("t.csv", "class,id\na,1\n", "header ['class', 'id']"),
    "csv-cells": ("t.csv", "name,value\na,1,#ffffff\n", "line 2: expected 2 comma-separated"),
    "csv-value": ("t.csv", "name,value\na,one\n", "line 2: value 'one'"),
    "other-format": ("t.txt", "background\nperson\n", "must be a .yaml, .yml or .csv file"),
}


@pytest.mark.parametrize(("name", "text", "expected"), BAD_TABLES.values(), ids=BAD_TABLES)
def test_malformed_table_names_the_file_and_the_format(tmp_path, name, text, expected):
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError) as info:
        load_class_table(tmp_path / name)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / name}: ") and expected in message, message
    assert "hyctas/data/classes.py" in message


def test_missing_table_file(tmp_path):
    with pytest.raises(DataError, match=r"mine.csv: class table not found; write it"):
        load_class_table(tmp_path / "mine.csv")


def test_num_classes_and_ignore_label_checks():
    table = voc_table()
    table.check_num_classes(21)
    with pytest.raises(ConfigError, match=r"base.num_classes = 19, but .* 21 classes .* 21"):
        table.check_num_classes(19)
    with pytest.raises(ConfigError, match=r"base.ignore_label = 20: expected a value in 21..255"):
        table.lut(20)


def test_classes_json_round_trip(tmp_path):
    table = voc_table()
    path = write_classes(tmp_path, table, "voc")
    data = json.loads(path.read_text())
    assert path.name == CLASSES_FILE and data["source"] == "voc"
    assert data["colors"][15] == [192, 128, 128] and data["ignore_values"] == [255]
    loaded = load_classes(tmp_path)
    assert loaded == table and loaded.colors.dtype == np.uint8


def test_missing_or_malformed_classes_json(tmp_path):
    with pytest.raises(DataError, match=r"classes.json: class table not found; run the prepare"):
        load_classes(tmp_path)
    (tmp_path / CLASSES_FILE).write_text(json.dumps({"names": ["a"], "values": [1]}))
    with pytest.raises(DataError, match=r"classes.json: malformed class table .* prepare_data"):
        load_classes(tmp_path)


def test_table_invariants():
    with pytest.raises(ValueError, match="3 names, 2 values"):
        ClassTable(["a", "b", "c"], np.zeros((3, 3)), [1, 2], [])
    assert ClassTable(["a"], [[1, 2, 3]], [4], [0], "x") == ClassTable(
        ["a"], np.array([[1, 2, 3]], np.uint8), [4], [0], "x"
    )
