"""Validation helpers: disjoint architecture sets, MAPE, Kendall tau, the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hyctas.errors import ConfigError
from hyctas.latency.validation import (
    kendall_tau,
    mape_pct,
    plot_validation,
    sample_arch_sets,
    write_rows,
)

from .conftest import space


def test_arch_sets_are_disjoint_and_deterministic() -> None:
    cfg = space()
    calib, val = sample_arch_sets(cfg, seed=3, n_calibration=8, n_validation=12)
    assert len(calib) == 8 and len(val) == 12
    ids = [a.id for a in calib + val]
    assert len(set(ids)) == 20  # no architecture twice, none in both sets
    again = sample_arch_sets(cfg, seed=3, n_calibration=8, n_validation=12)
    assert [a.id for a in again[0] + again[1]] == ids
    assert [a.id for a in sample_arch_sets(cfg, 4, 8, 12)[0]] != ids[:8]
    for a in calib + val:
        a.validate(cfg)


def test_too_small_a_space_is_reported() -> None:
    cfg = space(ops=["skip"], widths=[1.0], max_branches=1, branch_ratios=[1.0], max_depth=1)
    with pytest.raises(ConfigError, match="distinct architectures"):
        sample_arch_sets(cfg, 0, 2, 2)


def test_mape() -> None:
    assert mape_pct([110.0, 90.0], [100.0, 100.0]) == pytest.approx(10.0)
    assert mape_pct([5.0], [5.0]) == 0.0


def test_kendall_tau() -> None:
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert kendall_tau(x, x) == pytest.approx(1.0)
    assert kendall_tau(x, x[::-1]) == pytest.approx(-1.0)
    # One discordant pair out of 10: (9 - 1) / 10.
    assert kendall_tau(x, [1.0, 2.0, 4.0, 3.0, 5.0]) == pytest.approx(0.8)
    # Ties: tau-b, checked against scipy.stats.kendalltau for these data.
    assert kendall_tau([1, 2, 2, 3, 4], [1, 3, 2, 2, 5]) == pytest.approx(2 / 3)
    assert np.isnan(kendall_tau([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))


def test_plot_and_rows(tmp_path: Path) -> None:
    png = tmp_path / "v.png"
    plot_validation(png, [10.0, 21.0, 29.0], [10.5, 20.0, 30.0], [1, 2, 3], "t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [{"arch_id": "a", "measured_ms": 1.5}, {"arch_id": "b", "measured_ms": 2.0}]
    write_rows(tmp_path / "v.csv", rows)
    assert (tmp_path / "v.csv").read_text() == "arch_id,measured_ms\na,1.5\nb,2.0\n"
