"""A retrained target's seeds: which, where their runs go, and the manifest evaluate reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyctas.errors import DataError
from hyctas.train.seeds import (
    seed_checkpoint,
    seed_models,
    training_seeds,
    write_seed_manifest,
)


def test_seeds_count_up_from_the_base_seed():
    assert training_seeds({"base": {"seed": 7}, "retrain": {"seeds": 3}}) == [7, 8, 9]
    assert training_seeds({"base": {"seed": 0}, "retrain": {"seeds": 1}}) == [0]


def test_a_further_seeds_checkpoint_sits_beside_the_first():
    first = Path("checkpoints/retrain/fast.pt")
    assert seed_checkpoint(first, 2) == Path("checkpoints/retrain/fast-seed2.pt")
    assert seed_checkpoint(first, 2) != seed_checkpoint(first, 3)


def test_the_manifest_lists_the_further_models_and_drops_stale_ones(tmp_path):
    for name in ("seed1.pt", "seed2.pt", "seed3.pt"):
        (tmp_path / name).write_bytes(b"weights")
    write_seed_manifest(tmp_path, {"1": "seed1.pt", "2": "seed2.pt"})
    assert seed_models(tmp_path) == {1: tmp_path / "seed1.pt", 2: tmp_path / "seed2.pt"}
    assert not (tmp_path / "seed3.pt").exists()  # a seed no longer trained
    write_seed_manifest(tmp_path, {})  # one seed: an empty manifest, never an empty folder
    assert seed_models(tmp_path) == {} and sorted(p.name for p in tmp_path.iterdir()) == [
        "seeds.json"
    ]


def test_a_missing_or_broken_manifest_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(
        DataError, match=r"seeds.json: unreadable seed manifest.*re-run the retrain"
    ):
        seed_models(tmp_path)
    (tmp_path / "seeds.json").write_text("{not json")
    with pytest.raises(DataError, match="unreadable seed manifest"):
        seed_models(tmp_path)
    (tmp_path / "seeds.json").write_text(json.dumps({"models": {"1": "seed1.pt"}}))
    with pytest.raises(DataError, match=r"lists models that are missing \(.*seed1.pt\)"):
        seed_models(tmp_path)
