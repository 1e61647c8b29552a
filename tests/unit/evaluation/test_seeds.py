"""A retrained target's further seeds: the manifest retrain writes and evaluate reads, and
their val mIoU, mean and spread."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from hyctas.data.classes import cityscapes_table, voc_table
from hyctas.errors import DataError
from hyctas.evaluation.accuracy import val_confusion
from hyctas.evaluation.inference import PLAIN
from hyctas.evaluation.seeds import (
    check_same_network,
    describe_spread,
    seed_metrics,
    seed_models,
    seed_spread,
)
from hyctas.models.factory import build_model, load_model, model_checkpoint
from hyctas.space.config import SpaceConfig
from hyctas.space.extremes import smallest_arch
from hyctas.train.checkpoint import save_checkpoint
from hyctas.train.seeds import write_seed_manifest
from tests.pipeline.tiny import tiny_params

CPU = torch.device("cpu")
IGNORE = 255
BASELINE = {"name": "fast_scnn", "width": 0.25}


def _baseline_run(
    path: Path, seed: int, table, *, baseline: dict = BASELINE, target: str = "t"
) -> dict:
    """Save a Fast-SCNN `baseline` model as retrain does for `seed`; returns its checkpoint."""
    torch.manual_seed(seed)
    num_classes = len(table.names)
    net = build_model("baseline", num_classes=num_classes, aux=True, baseline=baseline)
    with torch.no_grad():  # weights far from the init, so the seeds predict apart
        for weight in net.parameters():
            weight.normal_(0.0, 0.5)
    state = model_checkpoint(
        net, kind="baseline", baseline=baseline, num_classes=num_classes,
        aux=True, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), target=target,
    )  # fmt: skip
    state = {**state, "init": "scratch", "seed": seed, "classes": table.to_dict()}
    save_checkpoint(path, state)
    return state


def test_the_manifest_lists_the_further_models(tmp_path):
    first = _baseline_run(tmp_path / "model.pt", 0, voc_table())
    for seed in (1, 2):
        _baseline_run(tmp_path / f"seed{seed}.pt", seed, voc_table())
    write_seed_manifest(tmp_path, {"1": "seed1.pt", "2": "seed2.pt"})
    assert seed_models(tmp_path, first) == {1: tmp_path / "seed1.pt", 2: tmp_path / "seed2.pt"}
    write_seed_manifest(tmp_path, {})  # one seed: an empty manifest, never an empty folder
    assert seed_models(tmp_path, first) == {}


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        (None, "seeds.json: unreadable seed manifest"),
        ("{not json", "unreadable seed manifest"),
        (json.dumps({"models": []}), "unreadable seed manifest"),
        (json.dumps({"seeds": {}}), "unreadable seed manifest"),
        (json.dumps({"models": {"x": "seed1.pt"}}), "a seed that is not an integer"),
        (json.dumps({"models": {"1": "seed1.pt"}}), r"lists models that are missing \(.*seed1"),
        (json.dumps({"models": {"1": "seed2.pt"}}), r"models not named for their seed"),
    ],
)
def test_a_bad_manifest_names_the_file_and_the_fix(tmp_path, text, phrase):
    if text is not None:
        (tmp_path / "seeds.json").write_text(text)
    with pytest.raises(DataError, match=phrase + r".*re-run the retrain stage"):
        seed_models(tmp_path, {"kind": "baseline"})


def test_seed_spread_gives_each_seed_their_mean_and_sample_std():
    spread = seed_spread({2: 0.30, 0: 0.20, 1: 0.25})
    assert spread["seeds"] == 3 and list(spread["miou_seeds"]) == ["0", "1", "2"]
    assert spread["miou_seed_mean"] == pytest.approx(0.25)
    assert spread["miou_seed_std"] == pytest.approx(0.05)  # ddof 1
    assert describe_spread(spread) == " (mean of 3 seeds 0.2500 +- 0.0500)"
    one = seed_spread({0: 0.2})
    assert one["miou_seed_mean"] == 0.2 and one["miou_seed_std"] is None
    assert describe_spread(one) == ""


@pytest.fixture()
def lists(tmp_path: Path) -> Path:
    """val.txt over two random frames of classes 0-3 and void."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(2):
        image, label = tmp_path / f"{i}.png", tmp_path / f"{i}_label.png"
        cv2.imwrite(str(image), rng.integers(0, 256, (64, 128, 3), dtype=np.uint8))
        cv2.imwrite(str(label), rng.choice([0, 1, 2, 3, IGNORE], (64, 128)).astype(np.uint8))
        lines.append(f"{image.name}\t{label.name}")
    (tmp_path / "val.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_further_seeds_are_scored_on_val_as_the_first(lists: Path, tmp_path: Path) -> None:
    table = voc_table()
    base = {"num_classes": len(table.names), "ignore_label": IGNORE}
    paths = {seed: tmp_path / f"seed{seed}.pt" for seed in (1, 2)}
    for seed, path in paths.items():
        _baseline_run(path, seed, table)
    metrics = seed_metrics({0: 0.5}, paths, lists, table, base, CPU, PLAIN)
    mious = metrics["miou_seeds"]
    assert list(mious) == ["0", "1", "2"] and mious["0"] == 0.5 and mious["1"] != mious["2"]
    net, state = load_model(paths[2], CPU)
    matrix, _ = val_confusion(net, lists, state, base, CPU, PLAIN)
    assert mious["2"] == pytest.approx(matrix.miou())
    assert metrics["miou_seed_mean"] == pytest.approx(np.mean(list(mious.values())))
    with pytest.raises(DataError, match="trained on the classes"):
        seed_metrics({0: 0.5}, paths, lists, cityscapes_table(), base, CPU, PLAIN)
    with pytest.raises(DataError, match=r"a model of seed \[1\], the first model's own"):
        seed_metrics({1: 0.5}, paths, lists, table, base, CPU, PLAIN)


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"target": "other"}, r"target 'other' \(model.pt: 't'\)"),
        ({"baseline": {**BASELINE, "width": 0.5}}, r"baseline .*0.5.* \(model.pt: .*0.25"),
    ],
)
def test_a_further_model_of_another_network_is_refused(tmp_path, change, phrase):
    """A seed folder left from another target's or architecture's retrain is not averaged in."""
    first = _baseline_run(tmp_path / "model.pt", 0, voc_table())
    _baseline_run(tmp_path / "seed1.pt", 1, voc_table(), **change)
    write_seed_manifest(tmp_path, {"1": "seed1.pt"})
    with pytest.raises(DataError, match=r"seed1.pt: not a run of the first model's network: "):
        seed_models(tmp_path, first)
    with pytest.raises(DataError, match=phrase):
        seed_models(tmp_path, first)
    with pytest.raises(DataError, match=r"init 'scratch' \(model.pt: 'supernet'\)"):
        seed_models(tmp_path, {**first, **change, "init": "supernet"})


def test_a_further_model_of_another_seed_is_refused(tmp_path):
    first = _baseline_run(tmp_path / "model.pt", 0, voc_table())
    _baseline_run(tmp_path / "seed1.pt", 2, voc_table())
    write_seed_manifest(tmp_path, {"1": "seed1.pt"})
    with pytest.raises(DataError, match="seed1.pt: trained with seed 2, listed as seed 1"):
        seed_models(tmp_path, first)


def test_an_architecture_is_named_by_its_id():
    arch = smallest_arch(SpaceConfig.from_params(tiny_params()["search_space"]))
    state = {"kind": "segnet", "arch": arch.to_dict()}
    other = {"kind": "segnet", "arch": {"ops": "unreadable"}}
    named = f"arch an unreadable architecture \\(model.pt: {arch.id}\\)"
    with pytest.raises(DataError, match=named):
        check_same_network(other, state, Path("seed1.pt"), 1)
