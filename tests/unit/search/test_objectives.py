"""Objectives, constraints, name checks and the hypervolume reference point."""

from __future__ import annotations

import numpy as np
import pytest

from hyctas.errors import ConfigError, HyctasError
from hyctas.search import Constraint, Objective
from hyctas.search.objectives import check_names, reference_point


def _one(arch) -> float:
    return 1.0


def test_max_objective_is_negated_and_min_kept():
    acc, lat = Objective("acc", _one, "max"), Objective("lat", _one, "min")
    assert acc.minimised(0.7) == -0.7
    assert lat.minimised(3.0) == 3.0
    assert acc.better(0.8, 0.7) and not acc.better(0.7, 0.8)
    assert lat.better(2.0, 3.0) and not lat.better(3.0, 2.0)


def test_bad_sense_is_a_config_error():
    with pytest.raises(ConfigError, match="sense 'maximise'"):
        Objective("acc", _one, "maximise")
    assert issubclass(ConfigError, HyctasError)


def test_constraint_violation_is_pymoo_g():
    c = Constraint("params", _one, upper=5.0)
    assert c.violation(4.0) == -1.0 and c.satisfied(5.0)
    assert c.violation(6.5) == 1.5 and not c.satisfied(6.5)


@pytest.mark.parametrize(
    ("objectives", "constraints", "match"),
    [
        ([], [], "at least one objective"),
        ([Objective("id", _one, "min")], [], "reserved"),
        ([Objective("a", _one, "min")], [Constraint("a", _one, 1.0)], "more than one"),
    ],
)
def test_names_are_checked(objectives, constraints, match):
    with pytest.raises(ConfigError, match=match):
        check_names(objectives, constraints)


def test_reference_point_is_minimised_and_complete():
    objs = [Objective("acc", _one, "max"), Objective("lat", _one, "min")]
    np.testing.assert_array_equal(reference_point(objs, {"lat": 20.0, "acc": 0.1}), [-0.1, 20.0])
    with pytest.raises(ConfigError, match="search.hv_reference"):
        reference_point(objs, {"acc": 0.0})
    with pytest.raises(ConfigError, match="unknown"):
        reference_point(objs, {"acc": 0.0, "lat": 1.0, "x": 2.0})
