"""Which seeds a retrained target is trained with and where each run's checkpoint goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyctas.errors import ConfigError
from hyctas.params import validate_params
from hyctas.train.seeds import seed_checkpoint, training_seeds


def test_seeds_count_up_from_the_base_seed():
    assert training_seeds({"base": {"seed": 7}, "retrain": {"seeds": 3}}) == [7, 8, 9]
    assert training_seeds({"base": {"seed": 0}, "retrain": {"seeds": 1}}) == [0]


def test_a_further_seeds_checkpoint_sits_beside_the_first_and_no_targets(params):
    first = Path("checkpoints/retrain/fast.pt")
    assert seed_checkpoint(first, 2) == Path("checkpoints/retrain/fast.seed2.pt")
    assert seed_checkpoint(first, 2) != seed_checkpoint(first, 3)
    # No target can be called "fast.seed2": the schema refuses a "." in target names.
    targets = {**params["select"]["targets"], "fast.seed2": {"front_quantile": 0.1}}
    with pytest.raises(ConfigError, match="fast.seed2"):
        validate_params({**params, "select": {**params["select"], "targets": targets}})
