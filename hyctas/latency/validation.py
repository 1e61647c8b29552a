"""Checking predicted against measured latency: random architectures, MAPE, Kendall tau, plot.

Example:
    >>> calib, val = sample_arch_sets(cfg, seed=0, n_calibration=30, n_validation=30)
    >>> mape_pct(predicted, measured), kendall_tau(predicted, measured)
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from hyctas.atomic import write_figure, write_text
from hyctas.errors import ConfigError
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig
from hyctas.space.evolve import sample_arch

# Stream tag of the latency architectures, so they differ from other stages' samples.
_SEED_TAG = 0x1A7
_MAX_TRIES_PER_ARCH = 100


def sample_arch_sets(
    cfg: SpaceConfig, seed: int, n_calibration: int, n_validation: int
) -> tuple[list[Arch], list[Arch]]:
    """Distinct random architectures, split into a calibration and a validation set.

    No architecture appears in both sets (nor twice), so the correction is never fitted
    on the architectures it is judged on.

    Raises:
        ConfigError: The space has too few distinct architectures for the two sets.
    """
    rng = np.random.default_rng([seed, _SEED_TAG])
    wanted = n_calibration + n_validation
    archs: dict[str, Arch] = {}
    for _ in range(wanted * _MAX_TRIES_PER_ARCH):
        arch = sample_arch(cfg, rng)
        archs.setdefault(arch.id, arch)
        if len(archs) == wanted:
            chosen = list(archs.values())
            return chosen[:n_calibration], chosen[n_calibration:]
    raise ConfigError(
        f"profile_latency: the search space yields only {len(archs)} distinct architectures, "
        f"fewer than calibration_archs + validation_archs = {wanted}; lower them"
    )


def mape_pct(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Mean absolute percentage error of `predicted` against `measured`."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    return float(np.mean(np.abs(p - m) / m) * 100.0)


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b rank correlation (ties counted as in scipy's default).

    Returns:
        A value in [-1, 1]; nan when either sequence is constant.
    """
    a, b = np.asarray(x, float), np.asarray(y, float)
    i, j = np.triu_indices(len(a), k=1)
    da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    concordant_minus_discordant = float(np.sum(da * db))
    pairs_a, pairs_b = float(np.sum(da != 0)), float(np.sum(db != 0))
    if pairs_a == 0 or pairs_b == 0:
        return float("nan")
    return concordant_minus_discordant / np.sqrt(pairs_a * pairs_b)


def plot_validation(
    path: str | os.PathLike[str],
    predicted: Sequence[float],
    measured: Sequence[float],
    branches: Sequence[int],
    title: str,
) -> None:
    """Scatter of predicted against measured latency with the y = x line (PNG, atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for count in sorted(set(branches)):
        idx = [k for k, b in enumerate(branches) if b == count]
        label = f"{count} branch{'es' if count > 1 else ''}"
        ax.scatter([measured[k] for k in idx], [predicted[k] for k in idx], s=18, label=label)
    lo = min(min(predicted), min(measured)) * 0.95
    hi = max(max(predicted), max(measured)) * 1.05
    ax.plot([lo, hi], [lo, hi], color="0.5", lw=1, ls="--", label="y = x")
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="measured (ms)", ylabel="predicted (ms)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_figure(path, fig, dpi=120)


def write_rows(path: str | os.PathLike[str], rows: Sequence[dict[str, Any]]) -> None:
    """Rows (dicts with the same keys) as CSV, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())
