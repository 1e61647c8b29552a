"""Predicted latency of an architecture: table sum through a fitted affine correction.

    latency(arch) = scale * sum(table[key] for key in arch_keys(arch)) + overhead_ms

The sum runs over the stem, every node of the plan's prefix tree (a cell shared by several
branches runs once, so it counts once), the fusion and the head. `scale` and `overhead_ms`
are fitted on separately sampled calibration architectures (`fit_model`); with no model
the plain sum is returned. A key missing from the table raises `LatencyKeyError`.

Example:
    >>> predictor = LatencyPredictor.load("latency_table.csv", "latency_model.json")
    >>> predictor.predict(arch)   # milliseconds
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hyctas.atomic import write_json
from hyctas.errors import ConfigError, DataError
from hyctas.latency.keys import FIXED_PIECES, arch_keys
from hyctas.latency.table import LatencyKeyError, LatencyTable
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig

__all__ = ["LatencyKeyError", "LatencyModel", "LatencyPredictor", "fit_model"]
MODEL_FORMAT = "hyctas-latency-model/1"
# Search-space fields that size a piece without showing in its key: tables must agree on them.
SIZING_FIELDS = ("fch", "sa_heads", "sa_head_dim", "head_skip_channels")


@dataclass(frozen=True)
class LatencyModel:
    """The affine correction `scale * table_sum + overhead_ms` and what it was fitted on.

    Attributes:
        scale: Multiplier of the table sum.
        overhead_ms: Constant per forward pass (milliseconds).
        calibration_archs: Architectures it was fitted on.
        table_digest: `LatencyTable.digest()` of the table it belongs to.
    """

    scale: float
    overhead_ms: float
    calibration_archs: int
    table_digest: str

    def apply(self, table_sum_ms: float) -> float:
        """Corrected latency of a table sum."""
        return self.scale * table_sum_ms + self.overhead_ms

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the model as JSON, atomically."""
        write_json(path, {"format": MODEL_FORMAT, **asdict(self)})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LatencyModel:
        """Reads a model written by `save`.

        Raises:
            DataError: Missing or malformed file.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.pop("format") != MODEL_FORMAT:
                raise ValueError(f"format is not {MODEL_FORMAT!r}")
            return cls(**data)
        except OSError as err:
            raise DataError(
                f"{path}: cannot read the latency model ({err.strerror or err})"
            ) from None
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise DataError(f"{path}: not a latency model ({err})") from None


def fit_model(
    table_sums: Sequence[float], measured: Sequence[float], table_digest: str
) -> LatencyModel:
    """Least-squares fit of `measured ~ scale * table_sum + overhead` on relative errors.

    Relative residuals (each row divided by its measurement) weight fast and slow
    networks alike, which is what a percentage error (MAPE) rewards.

    Args:
        table_sums: Table sums of the calibration architectures (ms).
        measured: Their measured end-to-end latencies (ms).
        table_digest: Digest of the table the sums come from.

    Raises:
        ConfigError: Fewer than two calibration architectures.
    """
    x, y = np.asarray(table_sums, float), np.asarray(measured, float)
    if len(x) < 2 or len(x) != len(y):
        raise ConfigError(
            "profile_latency.calibration_archs: at least 2 calibration architectures are needed "
            f"to fit the latency model, got {len(x)}"
        )
    design = np.stack([x, np.ones_like(x)], axis=1) / y[:, None]
    (scale, overhead), *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
    return LatencyModel(float(scale), float(overhead), len(x), table_digest)


class LatencyPredictor:
    """Predicts architecture latency from a table (and optionally a fitted model).

    The search space, classes and input size are the table's (its metadata), so the keys
    looked up are those the table was built with.

    Args:
        table: The latency table.
        model: Correction fitted on that table; None predicts the plain table sum.

    Raises:
        ConfigError: `model` was fitted on another table.
    """

    def __init__(self, table: LatencyTable, model: LatencyModel | None = None) -> None:
        if model is not None and model.table_digest != table.digest():
            raise ConfigError(
                f"{table.source}: the latency model was fitted on another table (digest "
                f"{model.table_digest}, table {table.digest()}); re-run profile_latency so "
                "that both files come from one run"
            )
        self.table, self.model = table, model
        self.cfg = table.space_config()

    @classmethod
    def load(
        cls, table_path: str | os.PathLike[str], model_path: str | os.PathLike[str] | None = None
    ) -> LatencyPredictor:
        """Loads a table and, when given, its fitted model."""
        model = LatencyModel.load(model_path) if model_path is not None else None
        return cls(LatencyTable.load(table_path), model)

    def check_space(self, cfg: SpaceConfig) -> None:
        """Raises `ConfigError` unless `cfg` sizes pieces as the table's search space does."""
        differ = [f for f in SIZING_FIELDS if getattr(cfg, f) != getattr(self.cfg, f)]
        if differ:
            found = ", ".join(f"{f} {getattr(cfg, f)} vs {getattr(self.cfg, f)}" for f in differ)
            raise ConfigError(
                f"{self.table.source}: the table was profiled for another search space "
                f"({found} in the table); use a table built with this search_space, or pass "
                "--params with the search space the table was built for"
            )

    def describe(self, arch: Arch) -> dict[str, Any]:
        """Prediction, table breakdown and what the table measured (for reports, the CLI)."""
        parts = self.breakdown(arch)
        meta = self.table.meta
        return {
            "predicted_ms": self.predict(arch),
            "table_sum_ms": sum(parts.values()),
            "breakdown_ms": parts,
            "model": asdict(self.model) if self.model is not None else None,
            "table": self.table.source,
            **{k: meta.get(k) for k in ("device", "threads", "clock", "batch_size", "dtype")},
            **{k: meta.get(k) for k in ("channels_last", "compile")},
            **{k: meta.get(k) for k in ("statistic", "repeats", "torch", "date")},
            "input_size": list(self.table.input_size),
        }

    def breakdown(self, arch: Arch) -> dict[str, float]:
        """Table milliseconds of the stem, the cells (summed), the fusion and the head.

        Raises:
            LatencyKeyError: A piece of `arch` has no table entry.
            ArchError: `arch` is malformed.
        """
        parts = dict.fromkeys(("stem", "cells", "fusion", "head"), 0.0)
        for key in arch_keys(arch, self.cfg, self.table.num_classes, self.table.input_size):
            part = key.op if key.op in FIXED_PIECES else "cells"
            parts[part] += self.table.lookup(key)
        return parts

    def table_sum(self, arch: Arch) -> float:
        """Plain sum of the table entries of `arch` (ms)."""
        return sum(self.breakdown(arch).values())

    def predict(self, arch: Arch) -> float:
        """Predicted latency of `arch` in milliseconds (see the module docstring)."""
        total = self.table_sum(arch)
        return self.model.apply(total) if self.model is not None else total

    __call__ = predict
