"""Pareto fronts and hypervolume over minimised objective vectors.

Example:
    >>> mask = non_dominated(F)                     # F: (n, m), all objectives minimised
    >>> hypervolume(F[mask], ref=np.array([0.0, 50.0]))
"""

from __future__ import annotations

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting


def non_dominated(F: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of `F` no other row dominates (equal rows all kept)."""
    F = np.asarray(F, dtype=float)
    mask = np.zeros(len(F), dtype=bool)
    if len(F):
        mask[NonDominatedSorting().do(F, only_non_dominated_front=True)] = True
    return mask


def hypervolume(F: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume dominated by the rows of `F` and bounded by `ref` (0.0 when none count).

    Rows that do not strictly dominate `ref` add nothing, so they are dropped first.
    """
    F = np.asarray(F, dtype=float).reshape(-1, len(ref))
    F = F[np.all(F < ref, axis=1)]
    if not len(F):
        return 0.0
    return float(HV(ref_point=np.asarray(ref, dtype=float))(F))


class RunningFront:
    """The architectures one run has evaluated, with the front and hypervolume so far.

    Each id counts once however often the run asks for it, which makes the front (and its
    hypervolume) non-decreasing as the run goes on.
    """

    def __init__(self, ref: np.ndarray) -> None:
        self.ref = np.asarray(ref, dtype=float)
        self._index: dict[str, int] = {}
        self._F: list[np.ndarray] = []
        self._feasible: list[bool] = []

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, arch_id: object) -> bool:
        return arch_id in self._index

    @property
    def ids(self) -> list[str]:
        """Ids in the order the run first asked for them."""
        return list(self._index)

    def add(self, arch_id: str, f: np.ndarray, feasible: bool) -> None:
        """Records one evaluated architecture (a repeated id is ignored)."""
        if arch_id not in self._index:
            self._index[arch_id] = len(self._F)
            self._F.append(np.asarray(f, dtype=float))
            self._feasible.append(bool(feasible))

    def front_ids(self) -> list[str]:
        """Ids of the feasible non-dominated architectures, sorted by objectives then id."""
        ids = [i for i, ok in zip(self._index, self._feasible, strict=True) if ok]
        if not ids:
            return []
        F = np.stack([self._F[self._index[i]] for i in ids])
        front = [(tuple(F[k]), ids[k]) for k in np.flatnonzero(non_dominated(F))]
        return [arch_id for _, arch_id in sorted(front)]

    def hypervolume(self) -> float:
        """Hypervolume of the feasible front with respect to `ref`."""
        ids = self.front_ids()
        if not ids:
            return 0.0
        return hypervolume(np.stack([self._F[self._index[i]] for i in ids]), self.ref)
