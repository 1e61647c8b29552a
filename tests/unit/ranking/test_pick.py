"""The stratified pick: every branch count, each over its latency range, the same every time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hyctas.errors import ConfigError
from hyctas.ranking.pick import Candidate, candidate_pool, spread_order, stratified_pick
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig

CFG = SpaceConfig.from_params(
    {
        "ops": ["skip", "conv", "conv_downup", "conv_2x_downup", "sa"],
        "widths": [0.333333, 0.5, 0.666667, 0.833333, 1.0],
        "max_branches": 3,
        "min_depth": 2,
        "max_depth": 6,
        "branch_ratios": [0.4, 0.3, 0.3],
        "fch": 4,
        "sa_heads": 2,
        "sa_head_dim": 16,
        "head_skip_channels": 12,
    }
)


def fake_latency(arch: Arch) -> float:
    """Grows with cells and widths, like a real table sum."""
    return sum(1.0 + c.width + (c.op == "sa") for branch in arch.branches for c in branch)


@pytest.fixture(scope="module")
def pool() -> list[Candidate]:
    return candidate_pool(CFG, fake_latency, seed=0, size=200)


def test_the_pool_is_distinct_seeded_and_follows_rho(pool) -> None:
    assert len({c.arch.id for c in pool}) == 200
    assert [c.arch.id for c in pool] == [
        c.arch.id for c in candidate_pool(CFG, fake_latency, 0, 200)
    ]
    assert [c.arch.id for c in pool] != [
        c.arch.id for c in candidate_pool(CFG, fake_latency, 1, 200)
    ]
    one = candidate_pool(replace(CFG, branch_ratios=(1.0, 0.0, 0.0)), fake_latency, 0, 30)
    assert {c.branches for c in one} == {1}


def test_spread_order_puts_both_ends_first_then_the_middles() -> None:
    assert spread_order(0) == [] and spread_order(1) == [0] and spread_order(2) == [0, 1]
    assert spread_order(5) == [0, 4, 2, 1, 3]
    for n in range(1, 12):
        assert sorted(spread_order(n)) == list(range(n))


@pytest.mark.parametrize("n", [3, 4, 6, 12])
def test_every_branch_count_and_its_latency_range_are_covered(pool, n) -> None:
    picks = stratified_pick(pool, n)
    assert len({c.arch.id for c in picks}) == n
    by_k = {k: [c for c in picks if c.branches == k] for k in (1, 2, 3)}
    assert all(by_k.values())  # every branch count
    assert max(map(len, by_k.values())) - min(map(len, by_k.values())) <= 1  # dealt evenly
    for k, mine in by_k.items():
        group = sorted(c.latency_ms for c in pool if c.branches == k)
        if len(mine) >= 2:  # the fastest and the slowest of that branch count
            assert {min(c.latency_ms for c in mine), max(c.latency_ms for c in mine)} == {
                group[0],
                group[-1],
            }
    every = sorted(c.latency_ms for c in pool)
    if n >= 6:  # the whole range: the fastest and the slowest of the pool are in
        assert min(c.latency_ms for c in picks) == every[0]
        assert max(c.latency_ms for c in picks) == every[-1]


def test_any_first_k_spans_the_branch_counts_and_extremes(pool) -> None:
    picks = stratified_pick(pool, 12)
    first6 = picks[:6]
    assert sorted(c.branches for c in first6) == [1, 1, 2, 2, 3, 3]
    for k in (1, 2, 3):
        mine = sorted(c.latency_ms for c in picks if c.branches == k)
        firsts = sorted(c.latency_ms for c in first6 if c.branches == k)
        assert firsts == [mine[0], mine[-1]]


def test_the_pick_is_deterministic_and_independent_of_pool_order(pool) -> None:
    picks = [c.arch.id for c in stratified_pick(pool, 8)]
    assert picks == [c.arch.id for c in stratified_pick(pool, 8)]
    assert picks == [c.arch.id for c in stratified_pick(list(reversed(pool)), 8)]


def test_asking_for_more_than_the_pool_names_the_keys(pool) -> None:
    with pytest.raises(ConfigError, match=r"rank_check.architectures = 201: .*rank_check.pool"):
        stratified_pick(pool, 201)
