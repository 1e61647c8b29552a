"""Non-dominated masks, hypervolume and the running front of a run."""

from __future__ import annotations

import numpy as np
import pytest

from hyctas.search import hypervolume, non_dominated
from hyctas.search.front import RunningFront


def test_non_dominated_mask():
    F = np.array([[1.0, 4.0], [2.0, 2.0], [3.0, 3.0], [4.0, 1.0], [2.0, 2.0]])
    assert non_dominated(F).tolist() == [True, True, False, True, True]
    assert non_dominated(np.empty((0, 2))).tolist() == []


def test_hypervolume_of_a_staircase_and_points_beyond_the_reference():
    F = np.array([[1.0, 3.0], [2.0, 1.0]])
    # Union of [1,4]x[3,4] and [2,4]x[1,4]: 3*1 + 2*2 = 7.
    assert hypervolume(F, np.array([4.0, 4.0])) == pytest.approx(7.0)
    assert hypervolume(np.array([[5.0, 0.0]]), np.array([4.0, 4.0])) == 0.0


def test_running_front_counts_ids_once_and_ignores_infeasible():
    rf = RunningFront(np.array([4.0, 4.0]))
    rf.add("a", np.array([1.0, 3.0]), True)
    rf.add("a", np.array([0.0, 0.0]), True)  # a repeated id keeps its first values
    rf.add("b", np.array([0.5, 0.5]), False)  # infeasible: never on the front
    rf.add("c", np.array([2.0, 1.0]), True)
    rf.add("d", np.array([3.0, 3.5]), True)  # dominated
    assert len(rf) == 4 and rf.ids == ["a", "b", "c", "d"]
    assert rf.front_ids() == ["a", "c"]
    assert rf.hypervolume() == pytest.approx(7.0)
