"""What one search run returns, and the bookkeeping every searcher shares to build it.

A run asks the archive for architectures (`RunState.ask`), which computes new ones and
answers known ones from the cache; after each generation (or chunk) it records the
hypervolume of the feasible front of everything it has asked for so far.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyctas.errors import ConfigError
from hyctas.search.archive import Archive
from hyctas.search.front import RunningFront
from hyctas.search.objectives import Constraint, Objective, reference_point
from hyctas.space.arch import Arch


@dataclass(frozen=True)
class SearchResult:
    """The outcome of one search run.

    Attributes:
        method: "nsga2" or "random".
        front_ids: Ids of the run's final feasible non-dominated architectures, sorted by
            minimised objectives.
        front: The architectures of `front_ids`.
        front_values: Objective and constraint values of each, in natural units.
        hv_history: Hypervolume of the run's front after each generation (or chunk).
        evals_history: Distinct architectures the run had evaluated at those points.
        n_evaluations: Distinct architectures the run evaluated (computed or from cache).
        n_computed: Of those, the ones whose objectives were computed in this run.
        n_cache_hits: Requests the archive answered from its cache during the run.
        n_reused: Distinct architectures taken from rows that existed before the run.
        mean_eval_seconds: Mean seconds per computed evaluation (0.0 when none computed).
        evaluated_ids: Every distinct id the run evaluated, in first-asked order.
    """

    method: str
    front_ids: tuple[str, ...]
    front: tuple[Arch, ...]
    front_values: tuple[dict[str, float], ...]
    hv_history: tuple[float, ...]
    evals_history: tuple[int, ...]
    n_evaluations: int
    n_computed: int
    n_cache_hits: int
    n_reused: int
    mean_eval_seconds: float
    evaluated_ids: tuple[str, ...]

    @property
    def hypervolume(self) -> float:
        """The final hypervolume (0.0 for a run with no generation)."""
        return self.hv_history[-1] if self.hv_history else 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers for a metrics file (no architectures)."""
        return {
            "method": self.method,
            "hypervolume": self.hypervolume,
            "hv_history": list(self.hv_history),
            "evals_history": list(self.evals_history),
            "front_size": len(self.front_ids),
            "n_evaluations": self.n_evaluations,
            "n_computed": self.n_computed,
            "n_cache_hits": self.n_cache_hits,
            "n_reused": self.n_reused,
            "mean_eval_seconds": self.mean_eval_seconds,
        }


def check_archive(
    archive: Archive, objectives: Sequence[Objective], constraints: Sequence[Constraint]
) -> None:
    """The archive must evaluate exactly the objectives and constraints the run optimises.

    Raises:
        ConfigError: They differ (the archive would cache values of other functions).
    """
    if archive.objectives != tuple(objectives) or archive.constraints != tuple(constraints):
        raise ConfigError(
            "search: the archive was built for other objectives/constraints "
            f"({archive.value_names}); build or load it with the ones given to the search"
        )


class RunState:
    """Evaluations, running front and history of one run over a shared archive."""

    def __init__(
        self,
        archive: Archive,
        objectives: Sequence[Objective],
        constraints: Sequence[Constraint],
        hv_reference: Mapping[str, float],
        method: str,
    ) -> None:
        check_archive(archive, objectives, constraints)
        self.archive = archive
        self.objectives = tuple(objectives)
        self.constraints = tuple(constraints)
        self.method = method
        self.front = RunningFront(reference_point(objectives, hv_reference))
        self._before = {r.arch_id for r in archive}
        self._hits_at_start = archive.hits
        self._computed: list[str] = []
        self.hv_history: list[float] = []
        self.evals_history: list[int] = []

    def ask(self, arch: Arch, generation: int) -> tuple[list[float], list[float]]:
        """Evaluates `arch` through the archive.

        Returns:
            The minimised objective vector and pymoo's constraint values (`g <= 0` feasible).
        """
        computed = self.archive.computed
        record = self.archive.evaluate(arch, generation=generation, method=self.method)
        if self.archive.computed > computed:
            self._computed.append(record.arch_id)
        f = [o.minimised(record.values[o.name]) for o in self.objectives]
        g = [c.violation(record.values[c.name]) for c in self.constraints]
        self.front.add(record.arch_id, np.array(f), all(v <= 0 for v in g))
        return f, g

    def checkpoint(self) -> float:
        """Records (and returns) the hypervolume of the front so far."""
        hv = self.front.hypervolume()
        self.hv_history.append(hv)
        self.evals_history.append(len(self.front))
        return hv

    def result(self) -> SearchResult:
        """The run's result from what it has evaluated."""
        ids = self.front.front_ids()
        records = [self.archive.get(i) for i in ids]
        seconds = [self.archive.get(i).eval_seconds for i in self._computed]
        return SearchResult(
            method=self.method,
            front_ids=tuple(ids),
            front=tuple(r.arch for r in records),
            front_values=tuple(dict(r.values) for r in records),
            hv_history=tuple(self.hv_history),
            evals_history=tuple(self.evals_history),
            n_evaluations=len(self.front),
            n_computed=len(self._computed),
            n_cache_hits=self.archive.hits - self._hits_at_start,
            n_reused=sum(1 for i in self.front.ids if i in self._before),
            mean_eval_seconds=float(np.mean(seconds)) if seconds else 0.0,
            evaluated_ids=tuple(self.front.ids),
        )


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Returns `value` when it is an int >= `minimum`.

    Raises:
        ConfigError: Otherwise, naming `search.<name>`.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"search.{name}: must be an integer >= {minimum}, got {value!r}")
    return value
