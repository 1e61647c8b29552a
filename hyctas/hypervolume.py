"""Normalised hypervolume: comparing two sets of points on one scale, whatever their units.

Each objective is minimised (negate a maximised one first) and mapped to [0, 1] by the ideal
(best value) and the nadir (worst value) of *all* the points being compared, so neither set
chooses its own scale; the reference point is 1.1 in every objective, so a set's extreme
points still add a sliver of volume. The largest possible value is 1.1^m (a point at the
ideal). Used by the search (NSGA-II vs random search: `hyctas.search.efficiency`) and by the
report (retrained searched models vs the hand-designed baselines).

Example:
    >>> F = np.array([[-0.30, 12.0], [-0.25, 8.0], [-0.20, 6.0]])    # (-mIoU, latency)
    >>> ideal, nadir = bounds(F)
    >>> normalised_hypervolume(F[:2], ideal, nadir)                  # one set of the two
"""

from __future__ import annotations

import numpy as np

REFERENCE = 1.1  # the reference point, in normalised units, for every objective


def bounds(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ideal (per-objective minimum) and nadir (maximum) of minimised `points` (n, m).

    Raises:
        ValueError: No points.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or not len(points):
        raise ValueError("bounds: need at least one point (an (n, m) array)")
    return points.min(axis=0), points.max(axis=0)


def normalise(points: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> np.ndarray:
    """`points` mapped so that `ideal` -> 0 and `nadir` -> 1 per objective.

    An objective on which every point agrees (nadir == ideal) gets a span of 1, so those
    points sit at 0 there instead of dividing by zero.
    """
    ideal, nadir = np.asarray(ideal, dtype=float), np.asarray(nadir, dtype=float)
    span = np.where(nadir > ideal, nadir - ideal, 1.0)
    return (np.asarray(points, dtype=float).reshape(-1, len(ideal)) - ideal) / span


def normalised_hypervolume(
    points: np.ndarray, ideal: np.ndarray, nadir: np.ndarray, reference: float = REFERENCE
) -> float:
    """Hypervolume of minimised `points` after `normalise`, up to `reference` in every objective.

    Dominated points add nothing; points beyond the reference add nothing (none are, when
    `ideal` and `nadir` come from a set that holds `points`). 0.0 for no points.
    """
    from pymoo.indicators.hv import HV

    F = normalise(points, ideal, nadir)
    ref = np.full(F.shape[1], float(reference))
    F = F[np.all(F < ref, axis=1)]
    if not len(F):
        return 0.0
    return float(HV(ref_point=ref)(F))
