"""The predictor on a hand-made table: exact sums with prefix sharing, model, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyctas.errors import ConfigError, DataError
from hyctas.latency.keys import OpKey
from hyctas.latency.predictor import LatencyModel, LatencyPredictor, fit_model
from hyctas.latency.table import LatencyKeyError, LatencyTable
from hyctas.latency.timing import Timing

from .conftest import arch, space_block

# Two branches sharing their first two cells (conv.5|conv.5), then sa (1/8) and skip/2 (1/16).
ARCH = arch("conv.5|conv.5|sa1", "conv.5|conv.5|skip1/2")
# fch 1: channels(s, w) = round(8 * 2**s * w); stem 8 channels; 64x128 input, 1/8 = 8x16.
HAND = {
    OpKey("stem", 3, 8, 64, 128, 8): 1.0,
    OpKey("conv", 8, 4, 8, 16, 1): 2.0,  # b0c0, shared
    OpKey("conv", 4, 4, 8, 16, 1): 4.0,  # b0c1, shared
    OpKey("sa", 4, 8, 8, 16, 1): 8.0,  # b0c2
    OpKey("skip", 4, 16, 8, 16, 2): 16.0,  # b1c2
    OpKey("fusion", 28, 16, 8, 16, 1, "0:8|1:4,16"): 32.0,
    OpKey("head", 16, 3, 8, 16, 1): 64.0,
}
META = {"statistic": "median", "height": 64, "width": 128, "num_classes": 3,
        "search_space": space_block()}  # fmt: skip


def _table(values: dict[OpKey, float]) -> LatencyTable:
    return LatencyTable({k: Timing(v, v, v, v, 1) for k, v in values.items()}, META, "hand.csv")


def test_exact_sum_counts_shared_cells_once() -> None:
    predictor = LatencyPredictor(_table(HAND))
    assert predictor.table_sum(ARCH) == 127.0  # 2 and 4 once each (twice would give 133)
    assert predictor.breakdown(ARCH) == {"stem": 1.0, "cells": 30.0, "fusion": 32.0, "head": 64.0}
    assert predictor.predict(ARCH) == 127.0  # no model: the plain sum


def test_model_is_applied() -> None:
    table = _table(HAND)
    predictor = LatencyPredictor(table, LatencyModel(2.0, 0.5, 3, table.digest()))
    assert predictor.predict(ARCH) == pytest.approx(254.5)
    assert predictor(ARCH) == predictor.predict(ARCH)


def test_missing_key_is_an_error_never_a_measurement() -> None:
    values = dict(HAND)
    del values[OpKey("sa", 4, 8, 8, 16, 1)]
    table = _table(values)
    with pytest.raises(LatencyKeyError, match=r"hand.csv: no latency entry for sa\(c_in=4") as err:
        LatencyPredictor(table).predict(ARCH)
    assert "re-run profile_latency" in str(err.value)
    assert err.value.key == OpKey("sa", 4, 8, 8, 16, 1)
    assert len(table.entries) == len(HAND) - 1  # nothing was added


def test_model_of_another_table_is_refused() -> None:
    model = LatencyModel(1.0, 0.0, 3, "0123456789abcdef")
    with pytest.raises(ConfigError, match="fitted on another table"):
        LatencyPredictor(_table(HAND), model)


def test_fit_recovers_scale_and_overhead() -> None:
    sums = [10.0, 20.0, 35.0, 50.0]
    model = fit_model(sums, [1.5 * s + 2.0 for s in sums], "d")
    assert model.scale == pytest.approx(1.5) and model.overhead_ms == pytest.approx(2.0)
    assert model.calibration_archs == 4 and model.apply(100.0) == pytest.approx(152.0)
    with pytest.raises(ConfigError, match="calibration_archs"):
        fit_model([1.0], [1.0], "d")


def test_load_from_files(tmp_path: Path) -> None:
    table = _table(HAND)
    table.save(tmp_path / "t.csv")
    LatencyModel(1.25, 1.0, 3, table.digest()).save(tmp_path / "m.json")
    predictor = LatencyPredictor.load(tmp_path / "t.csv", tmp_path / "m.json")
    assert predictor.predict(ARCH) == pytest.approx(1.25 * 127.0 + 1.0)
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(DataError, match="not a latency model"):
        LatencyPredictor.load(tmp_path / "t.csv", tmp_path / "bad.json")
