"""What one search run returns, and the bookkeeping every searcher shares to build it.

A run asks the archive for architectures (`RunState.ask`), which computes new ones and
answers known ones from the cache; after each generation (or chunk) it records the
hypervolume of the feasible front of everything it has asked for so far.

A search stopped by SIGTERM/SIGINT resumes where it stopped (`SearchCheckpoint`): after every
generation (or chunk) each searcher saves the evaluation cache, then its progress as plain
JSON beside it (`<cache>.state.json`: the run's asked ids and counters, hypervolume history,
the generator state and, for NSGA-II, the population). A stop signal is noticed before the
next evaluation; the cache (with the rows of the unfinished generation) is saved, and
`Preempted` is raised (exit 143). A re-run restores the last finished generation and replays
the unfinished one, whose rows come from the cache, so it ends with the same archive, fronts,
hypervolume history and counters as a run never stopped. Progress saved under another
fingerprint (the cache's) or other search settings is ignored.

Example:
    >>> checkpoint = SearchCheckpoint("checkpoints/search/archive.csv", fingerprint.digest)
    >>> with checkpoint:  # SIGTERM/SIGINT now stop the searchers, which save first
    ...     nsga = run_nsga2(..., checkpoint=checkpoint)
    >>> checkpoint.finish()  # outputs written: only the cache remains
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hyctas.atomic import write_json
from hyctas.errors import ConfigError
from hyctas.search.archive import Archive, Record
from hyctas.search.front import RunningFront
from hyctas.search.objectives import Constraint, Objective, reference_point
from hyctas.space.arch import Arch
from hyctas.train.signals import Preempted, StopRequest


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
        # The archive only grows (rows are appended), so its first rows are the ones that
        # existed before the run: a count is enough to find them again after a resume.
        self._rows_before = len(archive)
        self._before = {r.arch_id for r in archive}
        self._hits = 0
        self._computed: list[str] = []
        self.hv_history: list[float] = []
        self.evals_history: list[int] = []

    def values(self, record: Record) -> tuple[list[float], list[float]]:
        """The minimised objective vector and pymoo's constraint values (`g <= 0` feasible)."""
        f = [o.minimised(record.values[o.name]) for o in self.objectives]
        g = [c.violation(record.values[c.name]) for c in self.constraints]
        return f, g

    def ask(self, arch: Arch, generation: int) -> tuple[list[float], list[float]]:
        """Evaluates `arch` through the archive.

        A request is a cache hit when the row existed before the run or the run asked for it
        before; otherwise the run computed it. Counting from the run's own record (not the
        archive's counters) keeps the numbers the same when a resumed run replays a
        generation whose rows an interrupted process had already computed.

        Returns:
            The minimised objective vector and pymoo's constraint values (`g <= 0` feasible).
        """
        known = arch.id in self._before or arch.id in self.front
        record = self.archive.evaluate(arch, generation=generation, method=self.method)
        if known:
            self._hits += 1
        else:
            self._computed.append(record.arch_id)
        f, g = self.values(record)
        self.front.add(record.arch_id, np.array(f), all(v <= 0 for v in g))
        return f, g

    def to_dict(self) -> dict[str, Any]:
        """What `restore` needs, as plain JSON: asked ids, counters and histories."""
        return {
            "rows_before": self._rows_before,
            "asked": self.front.ids,
            "hits": self._hits,
            "hv_history": list(self.hv_history),
            "evals_history": list(self.evals_history),
        }

    @classmethod
    def restore(
        cls,
        saved: Mapping[str, Any],
        archive: Archive,
        objectives: Sequence[Objective],
        constraints: Sequence[Constraint],
        hv_reference: Mapping[str, float],
        method: str,
    ) -> RunState | None:
        """The state `to_dict` saved, over the same (reloaded) archive; None if it does not fit.

        The front is rebuilt by adding the asked ids in their order, with the archived values,
        so it (and every later hypervolume) is the one the interrupted run had.
        """
        state = cls(archive, objectives, constraints, hv_reference, method)
        ids = [r.arch_id for r in archive]
        asked = list(saved["asked"])
        if saved["rows_before"] > len(ids) or any(i not in archive for i in asked):
            return None  # the cache lost rows the progress names: start over
        state._rows_before = int(saved["rows_before"])
        state._before = set(ids[: state._rows_before])
        for arch_id in asked:
            f, g = state.values(archive.get(arch_id))
            state.front.add(arch_id, np.array(f), all(v <= 0 for v in g))
            if arch_id not in state._before:
                state._computed.append(arch_id)
        state._hits = int(saved["hits"])
        state.hv_history = [float(v) for v in saved["hv_history"]]
        state.evals_history = [int(v) for v in saved["evals_history"]]
        return state

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
            n_cache_hits=self._hits,
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


class SearchCheckpoint:
    """A search's progress, saved beside its evaluation cache, and its stop signals.

    As a context manager it installs the SIGTERM/SIGINT handlers (`StopRequest`) that the
    searchers check before each evaluation and after each generation (or chunk). Progress is
    kept per run ("nsga2", "random", then "nsga2_s1", "random_s1"... of the further efficiency
    seeds, in the order they ran) with the settings it was made with, in `<cache>.state.json`:
    `progress(method, settings)` gives it back only when the file's fingerprint and those
    settings match. A run that starts afresh (`restart`) drops the progress of the runs after
    it, whose evaluations depend on the rows it added.

    Attributes:
        cache_path: The evaluation cache CSV.
        path: The progress file beside it.
        fingerprint: Digest of everything the cached evaluations depend on (the cache's own
            fingerprint): progress saved under another one is ignored.
    """

    VERSION = 1

    def __init__(self, cache_path: str | os.PathLike, fingerprint: str) -> None:
        self.cache_path = Path(cache_path)
        self.path = self.cache_path.with_suffix(".state.json")
        self.fingerprint = fingerprint
        self._stop = StopRequest()
        self._methods: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []
        try:
            saved = json.loads(self.path.read_text()) if self.path.is_file() else {}
            if saved.get("version") == self.VERSION and saved.get("fingerprint") == fingerprint:
                self._methods = dict(saved["methods"])
                self._order = [m for m in saved["order"] if m in self._methods]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # unreadable: start over (the cache still holds the evaluations)

    def __enter__(self) -> SearchCheckpoint:
        self._stop.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.__exit__(*exc)

    def progress(self, method: str, settings: Mapping[str, Any]) -> dict[str, Any] | None:
        """What `method` saved when run with these `settings`, or None."""
        saved = self._methods.get(method)
        if saved is not None and saved.get("settings") == _plain(settings):
            return saved
        return None

    def restart(self, method: str) -> None:
        """Forgets the progress of `method` and of every method that ran after it."""
        if method in self._order:
            for name in self._order[self._order.index(method) :]:
                del self._methods[name]
            del self._order[self._order.index(method) :]

    def save(
        self, archive: Archive, method: str, settings: Mapping[str, Any], progress: dict
    ) -> None:
        """Saves the cache, then `method`'s progress, each atomically.

        The cache goes first, so the progress file never names a row the cache lacks.
        """
        archive.save(self.cache_path)
        self._methods[method] = {"settings": _plain(settings), **progress}
        if method not in self._order:
            self._order.append(method)
        state = {"version": self.VERSION, "fingerprint": self.fingerprint}
        write_json(self.path, {**state, "order": self._order, "methods": self._methods})

    def stop_if_requested(self, archive: Archive, where: str) -> None:
        """When a stop signal arrived: saves the cache and raises `Preempted`.

        Args:
            archive: The cache to save (with any rows of an unfinished generation).
            where: Where the search is, for the message ("in nsga2 generation 3/8").

        Raises:
            Preempted: A stop signal arrived.
        """
        if self._stop.requested:
            archive.save(self.cache_path)
            raise Preempted(
                f"{self._stop.signal_name} received {where}: evaluations saved to "
                f"{self.cache_path}, progress to {self.path}; run the stage again to resume"
            )

    def finish(self) -> None:
        """Removes the progress file once the whole search is done (the cache stays)."""
        self.path.unlink(missing_ok=True)


def _plain(value: Any) -> Any:
    """`value` as JSON reads it back (tuples -> lists, numpy scalars -> Python)."""
    return json.loads(json.dumps(value, default=lambda v: v.item()))
