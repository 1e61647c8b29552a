"""hyctas.search.efficiency: normalised hypervolume curves and evaluations-to-match."""

from __future__ import annotations

import numpy as np
import pytest

from hyctas.search import Archive, Objective
from hyctas.search.efficiency import (
    SeedPair,
    evaluations_to_match,
    hv_curve,
    mean_curve_match,
    measure,
    pair_seeds,
    run_names,
)
from hyctas.search.result import SearchResult
from hyctas.space import sample_arch

# NSGA-II found A and B; random search found C (the nadir), then B's and A's values again.
NSGA = [(0.9, 2.0), (0.5, 1.0)]
RANDOM = [(0.1, 10.0), (0.5, 1.0), (0.9, 2.0)]
# Normalised by ideal (-0.9, 1) and nadir (-0.1, 10): A -> (0, 1/9), B -> (0.5, 0), C -> (1, 1).
HV_A_B = 1.1 * (1.1 - 1 / 9) + 0.6 * (1 / 9)
HV_B = 0.6 * 1.1


def result(method: str, ids: list[str], evals_history: list[int]) -> SearchResult:
    """A result with what `measure` reads (ids, histories); the rest is filler."""
    return SearchResult(
        method=method,
        front_ids=(),
        front=(),
        front_values=(),
        hv_history=tuple(float(i) for i in evals_history),
        evals_history=tuple(evals_history),
        n_evaluations=len(ids),
        n_computed=len(ids),
        n_cache_hits=0,
        n_reused=0,
        mean_eval_seconds=0.0,
        evaluated_ids=tuple(ids),
    )


@pytest.fixture
def placed(space):
    """An archive holding NSGA + RANDOM as distinct architectures, and their ids."""
    rng = np.random.default_rng(0)
    archs = {}
    while len(archs) < len(NSGA) + len(RANDOM):
        arch = sample_arch(space, rng)
        archs.setdefault(arch.id, arch)
    values = dict(zip(archs, NSGA + RANDOM, strict=True))
    archive = Archive(
        [
            Objective("acc", lambda a: values[a.id][0], "max"),
            Objective("lat", lambda a: values[a.id][1], "min"),
        ]
    )
    for arch in archs.values():
        archive.evaluate(arch, generation=1, method="x")
    ids = list(archs)
    return archive, ids[: len(NSGA)], ids[len(NSGA) :]


def test_hv_curve_grows_only_with_non_dominated_feasible_points():
    F = np.array([[1.0, 1.0], [0.5, 0.0], [0.0, 1.0 / 9], [0.6, 0.5], [-1.0, -1.0]])
    feasible = np.array([True, True, True, True, False])
    curve = hv_curve(F, feasible, np.array([0.0, 0.0]), np.array([1.0, 1.0]))
    expected = [0.01, HV_B, HV_A_B, HV_A_B, HV_A_B]  # the infeasible best point adds nothing
    assert curve == pytest.approx(expected)


def test_evaluations_to_match_known_curves():
    curve = [0.1, 0.5, 0.9, 0.9, 1.0]
    assert evaluations_to_match(curve, 0.9) == 3
    assert evaluations_to_match(curve, 0.1) == 1
    assert evaluations_to_match(curve, 0.9 + 1e-12) == 3  # within the tolerance
    assert evaluations_to_match(curve, 1.01) is None
    assert evaluations_to_match([], 0.0) is None


def test_measure_known_points(placed):
    archive, nsga_ids, random_ids = placed
    pair = SeedPair(
        0, result("nsga2", nsga_ids, [1, 2]), result("random", random_ids, [1, 2, 3]), 0, 1
    )
    eff = measure(archive, [pair], budget_factor=1.5)
    s = eff.summary
    assert s["ideal"] == {"acc": 0.9, "lat": 1.0} and s["nadir"] == {"acc": 0.1, "lat": 10.0}
    seed = s["per_seed"]["seed_0"]
    assert seed["hv_norm_nsga2"] == pytest.approx(HV_A_B)
    assert seed["hv_norm_random"] == pytest.approx(HV_B)  # at NSGA-II's 2 evaluations
    assert seed["hv_norm_random_final"] == pytest.approx(HV_A_B)
    assert seed["evaluations_random_to_match"] == 3 and seed["match_ratio"] == 1.5
    assert "note" not in seed
    assert s["seeds_matched"] == 1 and s["match_ratio_mean"] == 1.5
    assert s["match_ratio_std"] is None and s["match_ratio_lower_bound"] == 1.5
    assert s["mean_curve_match_evaluations"] == 3 and s["mean_curve_match_ratio"] == 1.5
    assert eff.curves["random"][0] == pytest.approx([0.01, HV_B, HV_A_B])
    nsga_rows = [r for r in eff.rows if r["method"] == "nsga2"]
    assert [r["evaluations"] for r in nsga_rows] == [1, 2]
    assert nsga_rows[-1]["hv_normalised"] == pytest.approx(HV_A_B)
    assert {r["seed"] for r in eff.rows if r["method"] == "random"} == {1}


def test_measure_not_reached_and_spread_over_seeds(placed):
    archive, nsga_ids, random_ids = placed
    reached = SeedPair(
        0, result("nsga2", nsga_ids, [2]), result("random", random_ids, [2, 3]), 0, 1
    )
    short = SeedPair(1, result("nsga2", nsga_ids, [2]), result("random", random_ids[:2], [2]), 2, 3)
    s = measure(archive, [reached, short], budget_factor=1.0).summary
    missed = s["per_seed"]["seed_1"]
    assert missed["evaluations_random_to_match"] is None and missed["match_ratio"] is None
    assert missed["note"] == "not reached within 1 x budget (2 evaluations)"
    assert s["seeds_matched"] == 1 and s["match_ratio_mean"] is None
    assert s["match_ratio_lower_bound"] == pytest.approx((1.5 + 1.0) / 2)  # counted at budget
    assert s["hv_norm_nsga2_mean"] == pytest.approx(HV_A_B) and s["hv_norm_nsga2_std"] == 0.0
    assert s["hv_norm_random_mean"] == pytest.approx(HV_B)
    assert s["mean_curve_match_evaluations"] is None  # the mean of [.., HV_B] and [.., HV_B]
    assert s["mean_curve_match_ratio"] is None


def test_mean_curves_can_cross_later_than_the_mean_ratio(placed):
    """Random seed 0 matches at 3 of NSGA-II's 2 (1.5x), seed 1 at 2 (1.0x): the ratios
    average 1.25, but the mean curve reaches NSGA-II's mean only where both have (3, 1.5x)."""
    archive, nsga_ids, random_ids = placed
    pairs = [
        SeedPair(0, result("nsga2", nsga_ids, [2]), result("random", random_ids, [3]), 0, 1),
        SeedPair(1, result("nsga2", nsga_ids, [2]), result("random", random_ids[::-1], [3]), 2, 3),
    ]
    s = measure(archive, pairs, budget_factor=1.5).summary
    assert [s["per_seed"][f"seed_{i}"]["match_ratio"] for i in (0, 1)] == [1.5, 1.0]
    assert s["match_ratio_mean"] == 1.25
    assert s["mean_curve_match_evaluations"] == 3 and s["mean_curve_match_ratio"] == 1.5


def test_mean_curve_match_cuts_to_the_shortest_random_run():
    nsga = [np.array([0.2, 0.8]), np.array([0.4, 0.6])]  # finals average 0.7
    assert mean_curve_match(nsga, [np.array([0.0, 0.6, 1.0]), np.array([0.5, 0.8, 0.9])]) == 2
    assert mean_curve_match(nsga, [np.array([0.0, 0.6, 1.0]), np.array([0.5])]) is None
    assert mean_curve_match(nsga, [np.array([0.0, 0.6]), np.array([])]) is None


def test_measure_needs_random_search(placed):
    archive, nsga_ids, _ = placed
    with pytest.raises(ValueError, match="random search in every pair"):
        measure(archive, [SeedPair(0, result("nsga2", nsga_ids, [2]), None, 0, 1)], 1.0)


def test_run_names_and_seeds():
    assert run_names(0) == ("nsga2", "random") and run_names(2) == ("nsga2_s2", "random_s2")
    assert pair_seeds(7, 0) == (7, 8) and pair_seeds(7, 1) == (9, 10)


def test_random_marks_extend_nsga2s_by_population_to_the_budget():
    from hyctas.search.run import random_marks

    nsga = result("nsga2", [str(i) for i in range(24)], [8, 16, 24])
    assert random_marks(nsga, 1, 8) == [8, 16, 24]
    assert random_marks(nsga, 2.5, 8) == [8, 16, 24, 32, 40, 48, 56, 60]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"efficiency_seeds": 0, "random_budget_factor": 1}, "efficiency_seeds: must be"),
        ({"efficiency_seeds": 1, "random_budget_factor": 0.5}, "random_budget_factor: must be"),
        ({"efficiency_seeds": 3, "random_budget_factor": 1, "random_baseline": False}, "true"),
        ({"efficiency_seeds": 1, "random_budget_factor": 4, "random_baseline": False}, "true"),
    ],
)
def test_efficiency_params_are_checked(block, message):
    from hyctas.errors import ConfigError
    from hyctas.search.run import check_efficiency

    with pytest.raises(ConfigError, match=message):
        check_efficiency({"random_baseline": True, **block})
    assert check_efficiency(
        {"efficiency_seeds": 3, "random_budget_factor": 4, "random_baseline": True}
    ) == (3, 4.0)
