"""rank_check's bookkeeping: the runs planned, the recipe, the metrics of known rows, the plot."""

from __future__ import annotations

import pytest
from scipy.stats import kendalltau

from hyctas.errors import ConfigError
from hyctas.ranking.correlation import noise_ceilings
from hyctas.ranking.run import planned_runs, plot_ranking, ranking_metrics

BLOCK = {"architectures": 4, "pool": 50, "repeats": 2, "repeat_seed": 7, "iterations": 40}


def row(index: int, seed: int, inherited: float, standalone: float, branches: int = 1) -> dict:
    return {
        "index": index,
        "arch_id": f"a{index}",
        "compact": "b0:conv1",
        "branches": branches,
        "predicted_latency_ms": 10.0 + index,
        "params": (3, 1, 2, 4)[index],
        "macs": 1000,  # one value for all: a constant proxy ranks nothing
        "inherited_miou": inherited,
        "seed": seed,
        "standalone_miou": standalone,
    }


ROWS = [
    row(0, 0, 0.10, 0.20, 1),
    row(1, 0, 0.20, 0.40, 2),
    row(2, 0, 0.30, 0.30, 3),
    row(3, 0, 0.40, 0.50, 1),
    row(0, 7, 0.10, 0.22, 1),
    row(1, 7, 0.20, 0.36, 2),
]


def test_all_n_first_then_the_first_k_again() -> None:
    assert planned_runs(BLOCK, 0) == [(0, 0), (1, 0), (2, 0), (3, 0), (0, 7), (1, 7)]
    assert planned_runs({**BLOCK, "repeats": 0}, 7) == [(0, 7), (1, 7), (2, 7), (3, 7)]
    with pytest.raises(ConfigError, match="rank_check.repeats = 5 exceeds"):
        planned_runs({**BLOCK, "repeats": 5}, 0)
    with pytest.raises(ConfigError, match="rank_check.repeat_seed = 7 is base.seed"):
        planned_runs(BLOCK, 7)


def test_metrics_of_known_rows() -> None:
    m = ranking_metrics(ROWS, seed=0, repeat_seed=7, band=0.1)
    assert m["architectures"] == 4 and m["repeats"] == 2
    assert m["architectures_by_branches"] == {"1": 2, "2": 1, "3": 1}
    # inherited 1 2 3 4 against stand-alone 1 3 2 4: one discordant pair of 6
    assert m["kendall_tau"] == pytest.approx(4 / 6)
    assert m["spearman_rho"] == pytest.approx(0.8)
    assert m["seed_tau"] == pytest.approx(1.0)  # 0.20 < 0.40 and 0.22 < 0.36
    assert m["seed_abs_diff_mean"] == pytest.approx(0.03)
    assert m["inherited_vs_latency_rho"] == pytest.approx(1.0)
    assert m["inherited_miou_mean"] == pytest.approx(0.25)
    assert m["standalone_miou_mean"] == pytest.approx(0.35)
    assert m["kendall_tau_seed_mean"] == pytest.approx(1.0)  # over the K: means 0.21 < 0.38
    # latencies 10 11 12 13: within 10 %, (0, 1), (1, 2), (2, 3); inherited 1 2 3 4 against
    # the runs' means 0.21 0.38 0.30 0.50: (1, 2) disagrees; the K's one pair (0, 1) agrees
    assert (m["band"], m["band_pairs"], m["band_pairs_agree"], m["band_pairs_tied"]) == (
        0.1,
        3,
        2,
        0,
    )
    assert (m["band_seed_pairs"], m["band_seed_pairs_agree"], m["band_seed_pairs_tied"]) == (
        1,
        1,
        0,
    )
    # a tie in the first seed only (near-chance runs give equal mIoU): the pair is left out
    tied_first = [row(0, 0, 0.10, 0.40, 1), *ROWS[1:]]  # arch 1 has 0.40 too
    tied = ranking_metrics(tied_first, seed=0, repeat_seed=7, band=0.1)
    assert (tied["band_seed_pairs"], tied["band_seed_pairs_tied"]) == (0, 1)
    alone = ranking_metrics(ROWS[:4], seed=0, repeat_seed=7, band=0.1)
    assert alone["repeats"] == 0 and alone["seed_tau"] is None
    assert alone["seed_abs_diff_mean"] is None and alone["kendall_tau_seed_mean"] is None
    assert alone["kendall_tau_seed_mean_se"] is None
    assert alone["kendall_tau_seed_mean_within_branches"] is None
    # without repeats, the rankings that need no supernet are against the first seed over N
    first_seed = [0.20, 0.40, 0.30, 0.50]
    branch_means = [0.35, 0.40, 0.30, 0.35]  # branch counts 1 2 3 1
    assert alone["kendall_tau_branch_order"] == pytest.approx(
        kendalltau(branch_means, first_seed).statistic
    )
    assert alone["zero_cost_tau_params"] == pytest.approx(
        kendalltau([3, 1, 2, 4], first_seed).statistic
    )
    assert alone["zero_cost_tau_params_within_branches"] == 1.0  # archs 0, 3: 3 < 4, 0.2 < 0.5
    assert alone["zero_cost_tau_macs"] is None  # constant
    # over the N, branch count 1 holds archs 0 and 3: inherited 0.1 < 0.4, first seed 0.2 < 0.5
    assert m["kendall_tau_within_branches"] == pytest.approx(1.0)
    # the K's two architectures are alone in their branch counts: nothing to rank inside
    assert m["kendall_tau_seed_mean_by_branches"] == {"1": None, "2": None}
    assert m["kendall_tau_seed_mean_within_branches"] is None
    assert m["kendall_tau_branch_order"] == pytest.approx(1.0)  # means 0.21 < 0.38


def test_the_mean_of_two_seeds_can_settle_an_order_one_seed_inverts() -> None:
    # second seed for all four: means 0.21 0.33 0.34 0.51 follow inherited 1 2 3 4, while the
    # first seed alone (0.20 0.40 0.30 0.50) inverts archs 1 and 2
    second = [row(i, 7, 0.1 * (i + 1), s) for i, s in enumerate((0.22, 0.26, 0.38, 0.52))]
    m = ranking_metrics(ROWS[:4] + second, seed=0, repeat_seed=7, band=0.1)
    assert m["repeats"] == 4 and m["kendall_tau"] == pytest.approx(4 / 6)
    assert m["kendall_tau_seed_mean"] == pytest.approx(1.0)
    assert m["spearman_rho_seed_mean"] == pytest.approx(1.0)
    # a perfect order over the K: every resample of the four orders them alike
    assert (m["kendall_tau_seed_mean_low"], m["kendall_tau_seed_mean_high"]) == (1.0, 1.0)
    assert m["kendall_tau_seed_mean_se"] == pytest.approx(0.0)
    pairs = noise_ceilings([0.20, 0.40, 0.30, 0.50], [0.22, 0.26, 0.38, 0.52])  # the K's runs
    assert m["ceiling_tau_one_seed"] == pytest.approx(pairs["ceiling_tau_one_seed"])
    # zero-cost proxies against the same means: latency 10 11 12 13 orders them all; params
    # 3 1 2 4 inverts two of the six pairs (arch 0 above 1 and 2); constant MACs rank nothing
    assert m["zero_cost_tau_latency"] == pytest.approx(1.0)
    assert m["zero_cost_tau_params"] == pytest.approx(2 / 6)
    assert m["zero_cost_tau_macs"] is None
    # inside branch count 1 (archs 0 and 3) the inherited order and both seeds agree; the
    # others are alone in theirs; the branch counts' means 0.36, 0.33, 0.34 as a proxy
    assert m["kendall_tau_seed_mean_by_branches"] == {"1": 1.0, "2": None, "3": None}
    assert m["kendall_tau_seed_mean_within_branches"] == 1.0
    assert m["seed_tau_within_branches"] == 1.0
    means = [0.21, 0.33, 0.34, 0.51]
    branch_order = kendalltau([0.36, 0.33, 0.34, 0.36], means).statistic
    assert m["kendall_tau_branch_order"] == pytest.approx(branch_order)
    older = [{k: v for k, v in r.items() if k not in ("params", "macs")} for r in ROWS[:4] + second]
    m = ranking_metrics(older, seed=0, repeat_seed=7, band=0.1)  # a ranking.csv without them
    assert m["zero_cost_tau_params"] is None and m["zero_cost_tau_latency"] == pytest.approx(1.0)


def test_the_plot_is_written(tmp_path) -> None:
    path = tmp_path / "ranking.png"
    plot_ranking(path, ROWS, ranking_metrics(ROWS, 0, 7, 0.1), seed=0)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
