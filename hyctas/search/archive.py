"""Every architecture a search evaluated, with its objective values; a cache and a CSV file.

`Archive.evaluate` computes an architecture's objectives and constraints once: a known id is
answered from the archive (a cache hit), so a search re-run with more generations, or a
random baseline sharing the archive, reuses everything evaluated before. Rows keep their
insertion order, which one seed makes deterministic; `eval_seconds` is the only column that
depends on the machine (inject `clock` to pin it in tests).

A row's `method` is the search that first evaluated it, in whichever run that was: the cache
outlives runs. Which architectures each search of *this* run visited is recorded apart, as
one `in_<method>` column per search (`save(..., runs=...)`, read back as `Archive.runs`);
`select` picks from the `in_nsga2` rows only, so a random-search sample is never a target.

Example:
    >>> archive = Archive.load("checkpoints/search/archive.csv", objectives, constraints,
    ...                        missing_ok=True)
    >>> record = archive.evaluate(arch, generation=1, method="nsga2")
    >>> archive.save("results/search/archive.csv", runs={"nsga2": nsga.evaluated_ids})
    >>> Archive.load("results/search/archive.csv", objectives, constraints).runs["nsga2"]
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hyctas.atomic import atomic_path
from hyctas.errors import HyctasError
from hyctas.search.objectives import Constraint, Objective, check_names
from hyctas.space.arch import Arch

_LEAD = ["id", "compact", "generation", "method", "eval_seconds"]
_RUN_PREFIX = "in_"  # membership columns: in_nsga2, in_random (between _LEAD and the values)


class ArchiveError(HyctasError):
    """An archive file that does not match the search, or an objective that failed."""


@dataclass(frozen=True)
class Record:
    """One evaluated architecture.

    Attributes:
        arch_id: `Arch.id`.
        compact: `Arch.compact()`.
        arch_json: Canonical JSON of the architecture (our format).
        values: Objective and constraint values by name, in their natural units.
        generation: Generation (or random-search chunk) it was first evaluated in, from 1.
        method: The search that first evaluated it ("nsga2", "random", ...).
        eval_seconds: Seconds its objectives and constraints took.
    """

    arch_id: str
    compact: str
    arch_json: str
    values: dict[str, float]
    generation: int
    method: str
    eval_seconds: float

    @property
    def arch(self) -> Arch:
        """The architecture, rebuilt from its JSON."""
        return Arch.from_dict(json.loads(self.arch_json))


class Archive:
    """Evaluated architectures by id, in first-evaluation order.

    Attributes:
        objectives: The objectives every row has a value for.
        constraints: The constraints every row has a value for.
        hits: Requests answered from the archive since it was built or loaded.
        computed: Architectures evaluated (objective functions called) since then.
        runs: Search method -> ids that search visited in the run that wrote the file, in
            archive order; read from its `in_<method>` columns (empty for a bare cache).
    """

    def __init__(
        self,
        objectives: Sequence[Objective],
        constraints: Sequence[Constraint] = (),
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        check_names(objectives, constraints)
        self.objectives = tuple(objectives)
        self.constraints = tuple(constraints)
        self._clock = clock
        self._records: dict[str, Record] = {}
        self.hits = 0
        self.computed = 0
        self.runs: dict[str, tuple[str, ...]] = {}

    # --- access ---------------------------------------------------------------------------
    @property
    def value_names(self) -> list[str]:
        """Objective names, then constraint names: the value columns."""
        return [o.name for o in self.objectives] + [c.name for c in self.constraints]

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, arch_id: object) -> bool:
        return arch_id in self._records

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records.values())

    def get(self, arch_id: str) -> Record:
        """The record of `arch_id` (KeyError when unknown)."""
        return self._records[arch_id]

    def feasible(self, record: Record) -> bool:
        """True when the record satisfies every constraint of this archive."""
        return all(c.satisfied(record.values[c.name]) for c in self.constraints)

    # --- evaluation -----------------------------------------------------------------------
    def evaluate(self, arch: Arch, *, generation: int, method: str) -> Record:
        """The record of `arch`: from the archive when its id is known, else computed.

        Args:
            arch: A valid architecture.
            generation: Recorded only when the architecture is new.
            method: Recorded only when the architecture is new.

        Raises:
            ArchiveError: An objective or constraint returned a non-finite value.
        """
        known = self._records.get(arch.id)
        if known is not None:
            self.hits += 1
            return known
        start = self._clock()
        values = {}
        for item in (*self.objectives, *self.constraints):
            value = float(item.fn(arch))
            if not math.isfinite(value):
                raise ArchiveError(
                    f"{item.name}: returned {value} for architecture {arch.id} "
                    f"({arch.compact()}); objectives and constraints must be finite"
                )
            values[item.name] = value
        seconds = round(self._clock() - start, 6)
        record = Record(
            arch.id, arch.compact(), arch.canonical_json(), values, generation, method, seconds
        )
        self._records[arch.id] = record
        self.computed += 1
        return record

    # --- files ----------------------------------------------------------------------------
    def to_frame(self, runs: Mapping[str, Iterable[str]] | None = None) -> pd.DataFrame:
        """One row per record: id, compact, generation, method, eval_seconds, values, JSON.

        Args:
            runs: Search method -> ids it visited in this run; each adds an `in_<method>`
                column (True/False) after `eval_seconds`.
        """
        runs = {m: set(ids) for m, ids in (runs or {}).items()}
        columns = _LEAD + [_RUN_PREFIX + m for m in runs] + self.value_names + ["arch_json"]
        rows = [
            [r.arch_id, r.compact, r.generation, r.method, r.eval_seconds]
            + [r.arch_id in ids for ids in runs.values()]
            + [r.values[n] for n in self.value_names]
            + [r.arch_json]
            for r in self
        ]
        return pd.DataFrame(rows, columns=columns)

    def save(
        self, path: str | os.PathLike, *, runs: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        """Writes the archive as CSV, atomically (a reader never sees half a file).

        Args:
            path: The CSV file.
            runs: Search method -> ids it visited in this run, written as `in_<method>`
                columns (the search stage's output has them; the cache has none).

        Raises:
            ArchiveError: `runs` names an id the archive does not hold.
        """
        for method, ids in (runs or {}).items():
            unknown = [i for i in ids if i not in self._records]
            if unknown:
                raise ArchiveError(f"runs[{method!r}]: ids not in the archive: {unknown[:3]}")
        with atomic_path(path) as tmp:
            self.to_frame(runs).to_csv(tmp, index=False, lineterminator="\n")

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        objectives: Sequence[Objective],
        constraints: Sequence[Constraint] = (),
        *,
        missing_ok: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ) -> Archive:
        """Reads an archive written by `save` for the same objectives and constraints.

        Args:
            path: The CSV file.
            objectives: Must have the names the file has.
            constraints: Must have the names the file has.
            missing_ok: Return an empty archive when the file does not exist.
            clock: Timer for new evaluations.

        Returns:
            The archive; `runs` holds the file's `in_<method>` columns, if any.

        Raises:
            ArchiveError: Missing file (unless `missing_ok`), or columns that do not match.
        """
        archive = cls(objectives, constraints, clock=clock)
        path = Path(path)
        if not path.exists():
            if missing_ok:
                return archive
            raise ArchiveError(f"{path}: archive file not found")
        # round_trip parsing gives back the exact floats `save` wrote, so cached values
        # (and a search that reuses them) are bit-identical to freshly computed ones.
        frame = pd.read_csv(path, float_precision="round_trip", dtype={"id": str})
        n_runs = len(frame.columns) - len(_LEAD) - len(archive.value_names) - 1
        run_columns = list(frame.columns[len(_LEAD) : len(_LEAD) + max(n_runs, 0)])
        expected = _LEAD + run_columns + archive.value_names + ["arch_json"]
        if list(frame.columns) != expected or not all(
            c.startswith(_RUN_PREFIX) for c in run_columns
        ):
            raise ArchiveError(
                f"{path}: columns {list(frame.columns)} do not match this search "
                f"({expected}); the objectives or constraints changed: delete the file "
                "(or point the search at a new archive) to start over"
            )
        for d in frame.to_dict("records"):  # by column name (names need not be identifiers)
            values = {n: float(d[n]) for n in archive.value_names}
            record = Record(
                str(d["id"]),
                str(d["compact"]),
                str(d["arch_json"]),
                values,
                int(d["generation"]),
                str(d["method"]),
                float(d["eval_seconds"]),
            )
            archive._records[record.arch_id] = record
        for column in run_columns:
            flags = frame[column].astype(str).str.lower() == "true"
            archive.runs[column.removeprefix(_RUN_PREFIX)] = tuple(frame["id"][flags].astype(str))
        return archive
