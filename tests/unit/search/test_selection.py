"""Per-target selection from the whole archive: absolute and front-quantile budgets."""

from __future__ import annotations

import numpy as np
import pytest

from hyctas.errors import ConfigError, HyctasError
from hyctas.search import Archive, Constraint, NoArchitectureInBudget, Objective, select_targets
from hyctas.search.selection import front_records
from hyctas.space import sample_arch

# (accuracy, latency, size) of hand-placed architectures; front in (acc, lat): a, b, c, d, e.
POINTS = {
    "a": (0.50, 2.0, 1.0),
    "b": (0.60, 4.0, 1.0),
    "c": (0.70, 6.0, 1.0),
    "d": (0.80, 8.0, 1.0),
    "e": (0.90, 10.0, 1.0),
    "x": (0.55, 5.0, 1.0),  # dominated by b (faster and more accurate)
    "y": (0.65, 9.0, 1.0),  # dominated by d (faster and more accurate)
    "z": (0.95, 7.0, 9.0),  # best and fast but too big: infeasible under the size constraint
}


@pytest.fixture
def placed(space):
    """An archive whose architectures have the values of POINTS; returns (archive, name->id)."""
    rng = np.random.default_rng(0)
    archs = {}
    while len(archs) < len(POINTS):
        arch = sample_arch(space, rng)
        archs.setdefault(arch.id, arch)
    by_id = dict(zip(archs, POINTS.values(), strict=True))
    names = dict(zip(POINTS, archs, strict=True))
    objectives = [
        Objective("acc", lambda a: by_id[a.id][0], "max"),
        Objective("lat", lambda a: by_id[a.id][1], "min"),
    ]
    constraints = [Constraint("size", lambda a: by_id[a.id][2], upper=5.0)]
    archive = Archive(objectives, constraints)
    for i, arch in enumerate(archs.values()):
        archive.evaluate(arch, generation=1, method="random" if i % 2 else "nsga2")
    return archive, names


def _pick(archive, targets):
    chosen = select_targets(archive, targets, accuracy="acc", latency="lat")
    return {name: s.arch_id for name, s in chosen.items()}, chosen


def test_front_is_feasible_and_non_dominated(placed):
    archive, ids = placed
    front = [r.arch_id for r in front_records(archive, "acc", "lat")]
    assert front == [ids[n] for n in ["a", "b", "c", "d", "e"]]  # z is infeasible


def test_absolute_budgets_choose_the_best_accuracy_within(placed):
    archive, ids = placed
    picked, chosen = _pick(
        archive,
        {
            "fast": {"max_latency_ms": 4.5},
            "mid": {"max_latency_ms": 9.5},
            "all": {"max_latency_ms": 99},
        },
    )
    assert picked == {"fast": ids["b"], "mid": ids["d"], "all": ids["e"]}  # z is infeasible
    assert archive.get(ids["b"]).method == "random"  # every archived arch is a candidate
    assert chosen["fast"].budget == 4.5 and chosen["fast"].rule == "max_latency_ms=4.5"
    assert chosen["mid"].values == {"acc": 0.80, "lat": 8.0, "size": 1.0}
    assert chosen["mid"].arch.id == ids["d"]


def test_front_quantile_budgets(placed):
    archive, ids = placed
    # front latencies 2, 4, 6, 8, 10: q=0 -> 2, q=0.5 -> 6, q=0.6 -> 6.8, q=1 -> 10
    picked, chosen = _pick(
        archive,
        {
            "fast": {"front_quantile": 0.0},
            "balanced": {"front_quantile": 0.5},
            "between": {"front_quantile": 0.6},
            "accurate": {"front_quantile": 1.0},
        },
    )
    assert picked == {
        "fast": ids["a"],
        "balanced": ids["c"],
        "between": ids["c"],
        "accurate": ids["e"],
    }
    assert chosen["between"].budget == pytest.approx(6.8)
    assert list(chosen) == ["fast", "balanced", "between", "accurate"]


def test_no_architecture_in_budget_says_what_to_change(placed):
    archive, _ = placed
    with pytest.raises(NoArchitectureInBudget) as info:
        _pick(archive, {"fast": {"max_latency_ms": 1.5}})
    err = info.value
    assert isinstance(err, HyctasError)
    assert (err.target, err.budget, err.fastest) == ("fast", 1.5, 2.0)
    message = str(err)
    assert "search.targets.fast" in message and "max_latency_ms" in message
    assert "lat <= 1.5" in message and "lat = 2" in message and "params.yaml" in message


@pytest.mark.parametrize(
    ("targets", "match"),
    [
        ({"t": {"front_quantile": 1.5}}, r"search.targets.t.front_quantile: must be in \[0, 1\]"),
        ({"t": {"max_latency": 3}}, "search.targets.t: expected exactly one of"),
        ({"t": {"max_latency_ms": 3, "front_quantile": 0.5}}, "exactly one"),
        ({"t": {"max_latency_ms": "fast"}}, "must be a number"),
    ],
)
def test_malformed_targets(placed, targets, match):
    archive, _ = placed
    with pytest.raises(ConfigError, match=match):
        _pick(archive, targets)


def test_objective_names_are_checked(placed):
    archive, _ = placed
    with pytest.raises(ConfigError, match="no objective named 'miou'"):
        select_targets(archive, {}, accuracy="miou", latency="lat")
    with pytest.raises(ConfigError, match="must be minimised"):
        select_targets(archive, {}, accuracy="lat", latency="acc")


def test_only_the_given_ids_are_candidates_and_make_the_front(placed):
    archive, ids = placed
    among = [ids[n] for n in ("a", "x", "d")]  # x is dominated by b, which is left out
    chosen = select_targets(
        archive,
        {"q": {"front_quantile": 1.0}, "cap": {"max_latency_ms": 5.0}},
        accuracy="acc",
        latency="lat",
        among=among,
    )
    assert [r.arch_id for r in front_records(archive, "acc", "lat", among)] == [
        ids["a"],
        ids["x"],
        ids["d"],
    ]
    assert chosen["q"].budget == 8.0 and chosen["q"].arch_id == ids["d"]
    assert chosen["cap"].arch_id == ids["x"]
    with pytest.raises(NoArchitectureInBudget) as info:
        select_targets(
            archive, {"t": {"max_latency_ms": 1.0}}, accuracy="acc", latency="lat", among=among
        )
    assert info.value.fastest == 2.0
