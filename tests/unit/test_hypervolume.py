"""hyctas.hypervolume: normalisation by ideal and nadir, hypervolume up to 1.1."""

from __future__ import annotations

import numpy as np
import pytest

from hyctas.hypervolume import REFERENCE, bounds, normalise, normalised_hypervolume


def test_two_extreme_points_and_the_ideal():
    F = np.array([[0.0, 1.0], [1.0, 0.0]])
    ideal, nadir = bounds(F)
    assert ideal.tolist() == [0.0, 0.0] and nadir.tolist() == [1.0, 1.0]
    # [0, 1.1] x [1, 1.1] and [1, 1.1] x [0, 1.1] overlap in a 0.1 x 0.1 corner
    assert normalised_hypervolume(F, ideal, nadir) == pytest.approx(0.11 + 0.11 - 0.01)
    assert normalised_hypervolume(ideal[None], ideal, nadir) == pytest.approx(REFERENCE**2)
    assert normalised_hypervolume(np.empty((0, 2)), ideal, nadir) == 0.0


def test_units_do_not_matter():
    F = np.array([[-0.30, 12.0], [-0.25, 8.0], [-0.20, 6.0], [-0.10, 9.0]])
    scaled = F * np.array([100.0, 0.001]) + np.array([3.0, -7.0])
    hv = normalised_hypervolume(F[:2], *bounds(F))
    assert hv == pytest.approx(normalised_hypervolume(scaled[:2], *bounds(scaled)))
    # a dominated point adds nothing
    assert normalised_hypervolume(F, *bounds(F)) == pytest.approx(
        normalised_hypervolume(F[:3], *bounds(F))
    )


def test_an_objective_all_points_share_gets_a_unit_span():
    F = np.array([[1.0, 5.0], [3.0, 5.0]])
    ideal, nadir = bounds(F)
    assert normalise(F, ideal, nadir).tolist() == [[0.0, 0.0], [1.0, 0.0]]
    assert normalised_hypervolume(F, ideal, nadir) == pytest.approx(1.1 * 1.1)


def test_bounds_needs_points():
    with pytest.raises(ValueError, match="at least one point"):
        bounds(np.empty((0, 2)))
