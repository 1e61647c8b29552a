"""Figures and tables of a search: the latency/accuracy plane, hypervolume curves, the front.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no global backend state)
and written atomically, like every other output.

Example:
    >>> plot_front("results/search/front.png", archive, accuracy="miou", latency="latency_ms",
    ...            front_ids=nsga.front_ids, selected=chosen,
    ...            extra_points={"HyCTAS-S": (9.1, 0.62)})
    >>> plot_hypervolume("results/search/hv.png", {"NSGA-II": nsga, "random": rand})
    >>> plot_efficiency("results/search/hypervolume.png", efficiency.curves, budget=80)
    >>> write_front_table("results/search/front.csv", archive, nsga.front_ids, sort_by="latency_ms")
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hyctas.atomic import atomic_path
from hyctas.errors import ConfigError
from hyctas.search.archive import Archive
from hyctas.search.efficiency import common_length
from hyctas.search.result import SearchResult
from hyctas.search.selection import Selection

_METHOD_STYLE = {"nsga2": ("tab:blue", "NSGA-II"), "random": ("tab:orange", "random")}


def _save(fig: Figure, path: str | os.PathLike) -> None:
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        # The temp name has no .png suffix, so the format is given explicitly.
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")


def plot_front(
    path: str | os.PathLike,
    archive: Archive,
    *,
    accuracy: str,
    latency: str,
    front_ids: Sequence[str],
    selected: Mapping[str, Selection] | None = None,
    extra_points: Mapping[str, tuple[float, float]] | None = None,
    title: str | None = None,
) -> None:
    """Scatter of every archived architecture (latency vs accuracy) with the front drawn.

    Args:
        path: PNG to write.
        archive: All evaluated architectures; colour by the method that first evaluated them.
        accuracy: Name of the accuracy objective (y axis).
        latency: Name of the latency objective (x axis).
        front_ids: Ids of the front to highlight (joined in latency order).
        selected: Targets to annotate, as returned by `select_targets`.
        extra_points: Other labelled points, name -> (latency, accuracy), e.g. the published
            models' predicted positions.
        title: Figure title.
    """
    fig = Figure(figsize=(7, 5))
    ax = fig.add_subplot()
    for method in sorted({r.method for r in archive}):
        rows = [r for r in archive if r.method == method]
        colour, label = _METHOD_STYLE.get(method, ("tab:gray", method))
        ax.scatter(
            [r.values[latency] for r in rows],
            [r.values[accuracy] for r in rows],
            s=12,
            alpha=0.45,
            color=colour,
            label=f"{label} ({len(rows)})",
        )
    front = sorted((archive.get(i) for i in front_ids), key=lambda r: r.values[latency])
    if front:
        ax.plot(
            [r.values[latency] for r in front],
            [r.values[accuracy] for r in front],
            "-o",
            color="black",
            markersize=4,
            linewidth=1,
            label=f"front ({len(front)})",
        )
    for name, sel in (selected or {}).items():
        x, y = sel.values[latency], sel.values[accuracy]
        ax.scatter([x], [y], s=90, marker="D", facecolor="none", edgecolor="red", zorder=5)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, -12), color="red")
    for name, (x, y) in (extra_points or {}).items():
        ax.scatter([x], [y], s=90, marker="*", color="tab:green", zorder=5)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 4), color="tab:green")
    ax.set_xlabel(latency)
    ax.set_ylabel(accuracy)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    _save(fig, path)


def plot_hypervolume(
    path: str | os.PathLike, results: Mapping[str, SearchResult], title: str | None = None
) -> None:
    """Hypervolume against evaluations for each labelled run (e.g. NSGA-II and random).

    Args:
        path: PNG to write.
        results: Curve label -> result; x is `evals_history`, y is `hv_history`.
        title: Figure title.
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for label, result in results.items():
        ax.plot(result.evals_history, result.hv_history, "-o", markersize=3, label=label)
    ax.set_xlabel("architectures evaluated")
    ax.set_ylabel("hypervolume")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    _save(fig, path)


def plot_efficiency(
    path: str | os.PathLike,
    curves: Mapping[str, Sequence[Sequence[float]]],
    *,
    budget: int | None = None,
    title: str | None = None,
) -> None:
    """Normalised hypervolume against evaluations: each method's mean over seeds and spread.

    Args:
        path: PNG to write.
        curves: Method ("nsga2", "random") -> one curve per seed, one value per evaluation
            (`hyctas.search.efficiency.Efficiency.curves`). The mean is drawn as far as every
            seed's curve reaches, the band from the lowest to the highest seed.
        budget: NSGA-II's evaluations (mean over seeds), marked by a vertical line.
        title: Figure title.
    """
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.add_subplot()
    for method, runs in curves.items():
        runs = [c for c in runs if len(c)]
        if not runs:
            continue
        stack = common_length(runs)
        x = np.arange(1, stack.shape[1] + 1)
        colour, label = _METHOD_STYLE.get(method, ("tab:gray", method))
        seeds = f"mean of {len(runs)} seeds" if len(runs) > 1 else "1 seed"
        ax.plot(x, stack.mean(axis=0), color=colour, label=f"{label} ({seeds})")
        if len(runs) > 1:
            ax.fill_between(x, stack.min(axis=0), stack.max(axis=0), color=colour, alpha=0.2)
    if budget:
        ax.axvline(budget, color="0.4", linestyle=":", linewidth=1, label="NSGA-II budget")
    ax.set_xlabel("architectures evaluated")
    ax.set_ylabel("normalised hypervolume (reference 1.1)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    _save(fig, path)


def write_front_table(
    path: str | os.PathLike, archive: Archive, front_ids: Sequence[str], *, sort_by: str
) -> None:
    """Writes the front's rows of the archive as CSV (atomically), sorted by one column.

    Args:
        path: CSV to write.
        archive: Holds every id of `front_ids`.
        front_ids: The architectures to list.
        sort_by: An objective or constraint name to sort by (ties by id).
    """
    if sort_by not in archive.value_names:
        raise ConfigError(f"front table: sort_by {sort_by!r} is not one of {archive.value_names}")
    frame = archive.to_frame()
    frame = frame[frame["id"].isin(set(front_ids))]
    frame = frame.sort_values([sort_by, "id"], kind="stable")
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")
