"""Rank correlations on inputs whose values are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import kendalltau

from hyctas.ranking.correlation import (
    band_pair_agreement,
    group_order_tau,
    noise_ceilings,
    rank_correlations,
    tau_gap,
    tau_spread,
    tau_within_groups,
)


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


def test_noise_ceilings_by_hand() -> None:
    # differences -1 1 -1 1: noise variance (4/3) / 2; one seed varies 5/3, the means 4/3
    c = noise_ceilings([1, 2, 3, 4], [2, 1, 4, 3])
    assert c["seed_noise_std"] == pytest.approx(math.sqrt(2 / 3))
    assert c["ceiling_tau_one_seed"] == pytest.approx(2 / math.pi * math.asin(math.sqrt(0.6)))
    assert c["ceiling_tau_seed_mean"] == pytest.approx(2 / math.pi * math.asin(math.sqrt(0.75)))
    shifted = noise_ceilings([1, 2, 3, 4], [2.5, 1.5, 4.5, 3.5])  # the same, second seed + 0.5
    assert shifted["seed_noise_std"] == pytest.approx(math.sqrt(2 / 3))
    assert noise_ceilings([1, 2, 3], [1, 2, 3])["ceiling_tau_one_seed"] == pytest.approx(1.0)
    assert noise_ceilings([1, 2], [1, 3])["ceiling_tau_one_seed"] is None  # under 3 pairs
    assert noise_ceilings([1, 1, 1], [1, 1, 1])["seed_noise_std"] is None  # no spread
    # each seed varies but their mean does not: the one-seed ceiling still exists (zero:
    # the differences are all noise); only the mean's ceiling has no reference to rank
    opposite = noise_ceilings([1, 2, 3], [3, 2, 1])
    assert opposite["seed_noise_std"] == pytest.approx(math.sqrt(2))
    assert opposite["ceiling_tau_one_seed"] == 0.0 and opposite["ceiling_tau_seed_mean"] is None
    noisier_than_spread = noise_ceilings([0, 2, 0, 2], [2, 0, 1, 1])
    assert noisier_than_spread["ceiling_tau_one_seed"] == 0.0
    with pytest.raises(ValueError, match="3 first-seed scores against 2"):
        noise_ceilings([1, 2, 3], [1, 2])


def test_noise_ceilings_match_the_tau_of_the_truth_in_simulation() -> None:
    # 200 architectures, noise half the spread: the estimates match what the true values
    # reach against one seed and against the mean of two, and exceed the seed-to-seed tau
    rng = np.random.default_rng(0)
    truth = rng.normal(0, 1, 200)
    a, b = truth + rng.normal(0, 0.5, 200), truth + rng.normal(0, 0.5, 200)
    c = noise_ceilings(a, b)
    assert c["seed_noise_std"] == pytest.approx(0.5, abs=0.05)
    assert c["ceiling_tau_one_seed"] == pytest.approx(kendalltau(truth, a).statistic, abs=0.05)
    mean_tau = kendalltau(truth, (a + b) / 2).statistic
    assert c["ceiling_tau_seed_mean"] == pytest.approx(mean_tau, abs=0.05)
    assert c["ceiling_tau_one_seed"] > kendalltau(a, b).statistic + 0.1


def test_tau_spread_is_zero_for_a_perfect_order_and_none_when_undefined() -> None:
    assert tau_spread([1, 2, 3, 4, 5], [10, 20, 30, 40, 50]) == pytest.approx(
        {"se": 0.0, "low": 1.0, "high": 1.0}
    )
    assert tau_spread([1, 2], [1, 2]) == {"se": None, "low": None, "high": None}
    assert tau_spread([1, 2, 3], [5, 5, 5])["se"] is None


def test_tau_spread_brackets_the_tau_and_shrinks_with_more_architectures() -> None:
    """Truth plus noise of a third of its spread: the interval holds the sample's tau, the
    standard error is near the large-sample value sqrt(2 (2N + 5) / (9 N (N - 1))) (1 -
    tau^2) for normal scores, and four times the architectures halve it."""
    rng = np.random.default_rng(3)
    spreads = {}
    for n in (12, 48):
        truth = rng.normal(size=n)
        proxy = truth + rng.normal(scale=0.33, size=n)
        tau = kendalltau(truth, proxy).statistic
        spread = tau_spread(truth, proxy)
        assert spread["low"] <= tau <= spread["high"]
        assert tau_spread(truth, proxy) == spread  # a seeded generator: reproducible
        spreads[n] = spread["se"]
    assert 1.5 < spreads[12] / spreads[48] < 2.8
    assert 0.05 < spreads[12] < 0.2


def test_tau_gap_of_a_scoring_against_itself_is_zero_and_none_when_undefined() -> None:
    a, y = [1, 3, 2, 5, 4], [10, 20, 30, 40, 50]
    assert tau_gap(a, a, y) == pytest.approx({"gap": 0.0, "se": 0.0, "low": 0.0, "high": 0.0})
    assert tau_gap([1, 2], [2, 1], [1, 2])["gap"] is None
    assert tau_gap(a, [7] * 5, y) == {"gap": None, "se": None, "low": None, "high": None}
    with pytest.raises(ValueError, match="5 and 4 scores against 5"):
        tau_gap(a, a[:4], y)


def test_tau_gap_resolves_what_the_taus_own_spreads_cannot() -> None:
    """Two proxies of one truth, the second a little noisier, over 30 architectures: the gap
    is the difference of their taus, its interval holds it, and pairing the resamples makes
    its spread far narrower than the two taus' own spreads combined."""
    rng = np.random.default_rng(5)
    truth = rng.normal(size=30)
    a = truth + rng.normal(scale=0.5, size=30)
    b = a + rng.normal(scale=0.3, size=30)
    gap = tau_gap(a, b, truth)
    expected = kendalltau(a, truth).statistic - kendalltau(b, truth).statistic
    assert gap["gap"] == pytest.approx(expected)
    assert gap["low"] <= gap["gap"] <= gap["high"]
    unpaired = math.hypot(tau_spread(a, truth)["se"], tau_spread(b, truth)["se"])
    assert gap["se"] < 0.6 * unpaired
    assert tau_gap(a, b, truth) == gap  # a seeded generator: reproducible


def test_band_pairs_are_those_within_a_latency_factor() -> None:
    latency = [10.0, 10.9, 11.0, 20.0, 21.0]
    # in a band of 0.1: (0, 1), (0, 2), (1, 2), (3, 4); 11.0 / 10.0 is exactly 1.1: in
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    y = [1.0, 2.0, 1.5, 5.0, 4.0]  # (1, 2) and (3, 4) reversed
    assert band_pair_agreement(latency, x, y, 0.1) == {"pairs": 4, "agree": 2, "ties": 0}
    assert band_pair_agreement(latency, x, x, 0.1) == {"pairs": 4, "agree": 4, "ties": 0}
    assert band_pair_agreement(latency, x, y, 1.5) == {"pairs": 10, "agree": 8, "ties": 0}
    # a pair the reference ties has no order to agree with; one the scoring ties disagrees
    tied_reference = [1.0, 2.0, 2.0, 5.0, 4.0]  # (1, 2) tied
    assert band_pair_agreement(latency, x, tied_reference, 0.1) == {
        "pairs": 3,
        "agree": 2,
        "ties": 1,
    }
    assert band_pair_agreement(latency, [1.0] * 5, x, 0.1) == {"pairs": 4, "agree": 0, "ties": 0}
    # two runs of one reference: a pair either ties is left out, whichever is passed first
    for a, b in ((x, tied_reference), (tied_reference, x)):
        counts = band_pair_agreement(latency, a, b, 0.1, symmetric=True)
        assert counts == {"pairs": 3, "agree": 2, "ties": 1}
    with pytest.raises(ValueError, match="5 latencies, 5 and 4 scores"):
        band_pair_agreement(latency, x, y[:4], 0.1)


def test_a_scoring_that_only_orders_the_groups_ranks_nothing_inside_them() -> None:
    # two groups: b above a on average; inside each, x is reversed against y
    groups = ["a", "a", "a", "b", "b", "b"]
    y = [0.10, 0.20, 0.30, 0.40, 0.50, 0.60]
    x = [3.0, 2.0, 1.0, 6.0, 5.0, 4.0]
    overall = kendalltau(x, y).statistic
    assert overall == pytest.approx(3 / 15)  # 9 between-group pairs agree, 6 inside disagree
    within = tau_within_groups(x, y, groups)
    assert within == {"by_group": {"a": -1.0, "b": -1.0}, "pooled": -1.0}
    # weights are pair counts: a group of 3 (3 pairs, tau 1) and of 2 (1 pair, tau -1)
    mixed = tau_within_groups([1, 2, 3, 5, 4], [1, 2, 3, 4, 5], [1, 1, 1, 2, 2])
    assert mixed["pooled"] == pytest.approx((3 * 1 - 1) / 4)
    # a group of one has no tau and no weight
    alone = tau_within_groups([1, 2, 3], [1, 2, 3], ["a", "a", "b"])
    assert alone == {"by_group": {"a": 1.0, "b": None}, "pooled": 1.0}
    assert tau_within_groups([1, 2], [1, 2], ["a", "b"])["pooled"] is None
    with pytest.raises(ValueError, match="in 3 groups"):
        tau_within_groups([1, 2], [1, 2], ["a", "b", "c"])


def test_the_group_order_alone_is_the_tau_of_the_group_means() -> None:
    groups = ["a", "a", "a", "b", "b", "b"]
    y = [0.10, 0.20, 0.30, 0.40, 0.50, 0.60]
    # means 0.2 and 0.5: the 9 pairs across groups agree, the 6 inside are tied by the proxy
    proxy = [0.2] * 3 + [0.5] * 3
    assert group_order_tau(y, groups) == pytest.approx(kendalltau(proxy, y).statistic)
    assert group_order_tau(y, groups) == pytest.approx(9 / math.sqrt(15 * 9))
    assert group_order_tau(y, ["a"] * 6) is None  # one group: a constant proxy
    assert group_order_tau([], []) is None
