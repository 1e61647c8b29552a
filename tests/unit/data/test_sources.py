"""Sources by name from the prepare_data block: roots, class tables and their errors."""

from __future__ import annotations

import copy

import pytest

from hyctas.data.cityscapes import CityscapesSource
from hyctas.data.classes import cityscapes_table, voc_table
from hyctas.data.folder import FolderSource
from hyctas.data.sources import SOURCES, source_from_params
from hyctas.data.voc import VocSource
from hyctas.errors import ConfigError, DataError


@pytest.fixture
def block(repo_params) -> dict:
    return copy.deepcopy(repo_params["prepare_data"])


def test_every_source_is_in_the_schema(repo_params):
    from hyctas.params import load_schema

    schema = load_schema()["properties"]["prepare_data"]["properties"]["source"]["enum"]
    assert sorted(schema) == sorted(SOURCES)


def test_synthetic_and_cityscapes(block, tmp_path):
    source = source_from_params(block, tmp_path / "out")
    assert isinstance(source, CityscapesSource) and source.root == tmp_path / "out"
    assert source.name == "synthetic" and source.table == cityscapes_table()
    block |= {"source": "cityscapes", "cityscapes": {"root": str(tmp_path / "cs")}}
    source = source_from_params(block, tmp_path / "out")
    assert source.root == tmp_path / "cs" and source.name == "cityscapes"


@pytest.mark.parametrize("name", ["cityscapes", "voc", "folder"])
def test_a_source_without_root_is_a_config_error(block, tmp_path, name):
    block["source"] = name
    with pytest.raises(ConfigError, match=rf"p.yaml: prepare_data.{name}.root must name a folder"):
        source_from_params(block, tmp_path, "p.yaml")


def test_voc_tables(block, tmp_path):
    block |= {"source": "voc", "voc": {"root": str(tmp_path), "class_table": None}}
    source = source_from_params(block, tmp_path / "out")
    assert isinstance(source, VocSource) and source.table == voc_table()
    (tmp_path / "t.csv").write_text("name,value\nbackground,0\nperson,15\n")
    block["voc"]["class_table"] = "t.csv"  # relative to the root
    assert source_from_params(block, tmp_path / "out").table.names == ["background", "person"]


def test_folder_needs_a_class_table(block, tmp_path):
    block |= {"source": "folder"}
    block["folder"]["root"] = str(tmp_path)
    with pytest.raises(ConfigError, match=r"prepare_data.folder.class_table must name a class"):
        source_from_params(block, tmp_path / "out")
    block["folder"]["class_table"] = "nope.yaml"
    with pytest.raises(DataError, match=rf"{tmp_path}/nope.yaml: class table not found"):
        source_from_params(block, tmp_path / "out")
    (tmp_path / "elsewhere.yaml").write_text("classes:\n  - {name: a, value: 1}\n")
    block["folder"]["class_table"] = str(tmp_path / "elsewhere.yaml")  # absolute
    source = source_from_params(block, tmp_path / "out")
    assert isinstance(source, FolderSource) and source.table.names == ["a"]
    assert source.splits == block["folder"]["splits"] and source.image_suffix == ".jpg"
