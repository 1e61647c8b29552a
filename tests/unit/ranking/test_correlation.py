"""Rank correlations on inputs whose values are known by hand."""

from __future__ import annotations

import pytest

from hyctas.ranking.correlation import rank_correlations


def test_same_and_reversed_orders() -> None:
    x = [0.1, 0.2, 0.3, 0.4]
    same = rank_correlations(x, [1.0, 2.0, 5.0, 9.0])
    assert same == {"kendall_tau": 1.0, "kendall_tau_sparse": 1.0, "spearman_rho": 1.0}
    flipped = rank_correlations(x, [4, 3, 2, 1])
    assert flipped["kendall_tau"] == pytest.approx(-1.0)
    assert flipped["spearman_rho"] == pytest.approx(-1.0)


def test_one_swapped_pair_of_four() -> None:
    # 6 pairs, 1 discordant: tau = (5 - 1) / 6; ranks differ by 1 twice: rho = 1 - 6*2/(4*15)
    got = rank_correlations([1, 2, 3, 4], [1, 3, 2, 4])
    assert got["kendall_tau"] == pytest.approx(4 / 6)
    assert got["spearman_rho"] == pytest.approx(0.8)


def test_sparse_tau_treats_differences_below_a_tenth_of_a_percent_as_ties() -> None:
    x = [0.1001, 0.1002, 0.3, 0.4]  # the first two are one score at 0.1 % resolution
    y = [0.2, 0.1, 0.3, 0.4]
    got = rank_correlations(x, y)
    assert got["kendall_tau"] == pytest.approx(4 / 6)
    # tau-b with one tie in x: (5 - 0) / sqrt((6 - 1) * 6)
    assert got["kendall_tau_sparse"] == pytest.approx(5 / (5 * 6) ** 0.5)


def test_undefined_cases_are_none() -> None:
    none = dict.fromkeys(("kendall_tau", "kendall_tau_sparse", "spearman_rho"))
    assert rank_correlations([0.2], [0.3]) == none
    assert rank_correlations([], []) == none
    assert rank_correlations([0.2, 0.2, 0.2], [0.1, 0.2, 0.3]) == none
    with pytest.raises(ValueError):
        rank_correlations([1, 2], [1])
