"""The latency table on disk: one CSV whose first line carries the metadata as JSON.

    # hyctas-latency-table/1 {"device": "cpu: Intel(R) Xeon(R) ...", "threads": 1, ...}
    op,c_in,c_out,h,w,stride,variant,median_ms,p10_ms,p90_ms,min_ms,runs
    conv,11,11,32,64,1,,0.1834,0.1802,0.2011,0.1795,20

One file keeps the table and what it was measured on together (one DVC output). The
metadata holds the search space and classes the keys were enumerated for, the input size,
batch, dtype, device name, torch version, threads, protocol and date.

Example:
    >>> table = LatencyTable.load("results/profile_latency/latency_table.csv")
    >>> table.lookup(key)          # ms, by the table's statistic
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hyctas.atomic import write_text
from hyctas.errors import DataError, HyctasError
from hyctas.latency.keys import KEY_FIELDS, OpKey
from hyctas.latency.timing import Timing
from hyctas.space.config import SpaceConfig

FORMAT = "hyctas-latency-table/1"
TIMING_FIELDS = tuple(f.name for f in fields(Timing))
COLUMNS = KEY_FIELDS + TIMING_FIELDS
_INT_FIELDS = ("c_in", "c_out", "h", "w", "stride", "runs")


class LatencyKeyError(HyctasError):
    """A piece an architecture runs has no entry in the latency table."""

    def __init__(self, key: OpKey, source: str) -> None:
        super().__init__(
            f"{source}: no latency entry for {key}: the table was built for another search "
            "space or input size; re-run profile_latency with the same search_space and "
            "profile_latency.height/width as this architecture (e.g. `dvc repro "
            "profile_latency`); entries are never measured on the fly"
        )
        self.key = key


@dataclass(frozen=True)
class LatencyTable:
    """Timings by key, with the metadata of the measurement.

    Attributes:
        entries: Timing of every key.
        meta: Metadata; keys used here: search_space, num_classes, height, width, statistic.
        source: Where the table came from (for error messages).
    """

    entries: Mapping[OpKey, Timing]
    meta: dict[str, Any]
    source: str = "latency table"

    @property
    def statistic(self) -> str:
        """The timing summary lookups return ("median", "p10" or "min")."""
        return self.meta["statistic"]

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) the table was measured at."""
        return int(self.meta["height"]), int(self.meta["width"])

    @property
    def num_classes(self) -> int:
        """Classes of the head that was measured."""
        return int(self.meta["num_classes"])

    def space_config(self) -> SpaceConfig:
        """The search space the keys were enumerated for."""
        return SpaceConfig.from_params(self.meta["search_space"])

    def lookup(self, key: OpKey) -> float:
        """Milliseconds of `key` by the table's statistic.

        Raises:
            LatencyKeyError: No entry for `key`.
        """
        timing = self.entries.get(key)
        if timing is None:
            raise LatencyKeyError(key, self.source)
        return timing.value(self.statistic)

    def digest(self) -> str:
        """Short sha256 of the metadata and entries (ties a fitted model to this table)."""
        return hashlib.sha256(self.to_text().encode()).hexdigest()[:16]

    def to_text(self) -> str:
        """The file content (see the module docstring)."""
        buffer = io.StringIO()
        buffer.write(f"# {FORMAT} {json.dumps(self.meta, sort_keys=True)}\n")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for key in sorted(self.entries):
            timing = self.entries[key]
            writer.writerow(
                [*(getattr(key, f) for f in KEY_FIELDS)]
                + [repr(getattr(timing, f)) for f in TIMING_FIELDS]
            )
        return buffer.getvalue()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the table atomically."""
        write_text(path, self.to_text())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LatencyTable:
        """Reads a table written by `save`.

        Raises:
            DataError: Missing file or not a latency table (the message names the file).
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise DataError(
                f"{path}: cannot read the latency table ({err.strerror or err}); build it "
                "with the profile_latency stage"
            ) from None
        first, _, body = text.partition("\n")
        prefix = f"# {FORMAT} "
        if not first.startswith(prefix):
            raise DataError(f"{path}: not a latency table (first line must start with {prefix!r})")
        try:
            meta = json.loads(first[len(prefix) :])
            rows = list(csv.DictReader(io.StringIO(body)))
            entries = {_key(row): _timing(row) for row in rows}
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(f"{path}: corrupt latency table ({err})") from None
        return cls(entries, meta, source=str(path))


def _key(row: dict[str, str]) -> OpKey:
    values: dict[str, Any] = {f: row[f] for f in KEY_FIELDS}
    for name in _INT_FIELDS:
        if name in values:
            values[name] = int(values[name])
    return OpKey(**values)


def _timing(row: dict[str, str]) -> Timing:
    return Timing(**{f: int(row[f]) if f == "runs" else float(row[f]) for f in TIMING_FIELDS})
