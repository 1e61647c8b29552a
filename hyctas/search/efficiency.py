"""Search efficiency: NSGA-II against random search at equal evaluations, over several seeds.

The search stage runs `search.efficiency_seeds` pairs of searches over one evaluation cache
(an architecture is scored once, whichever run asks first): pair k runs NSGA-II with seed
`base.seed + 2k` and random search with seed `base.seed + 2k + 1`, random search going on to
`search.random_budget_factor` times NSGA-II's evaluations. Pair 0 is the search itself (its
NSGA-II run is the one targets are selected from); the others only measure.

Every hypervolume here is normalised (`hyctas.hypervolume`): each objective is mapped to
[0, 1] by the ideal and nadir of all the feasible points any run of the stage evaluated (every
seed, both methods, random search to its whole budget), with the reference point at 1.1. One
scale for all seeds, so their curves can be averaged. For each seed it gives

- NSGA-II's final hypervolume and random search's after the same number of evaluations;
- how many evaluations random search needed to reach NSGA-II's final hypervolume (counted
  one evaluation at a time), or None when it did not within its budget, and that number
  over NSGA-II's evaluations (the issue's goal: >= 3 on average);

and their mean and spread over seeds. "On average" has a second reading, which the summary
also gives (`mean_curve_match_*`): where random search's seed-mean curve reaches NSGA-II's
seed-mean final hypervolume, the crossing of the two lines of the stage's plot. One seed that
random search never matches bounds the mean of the ratios only from below, but moves the
mean curves only by its share, so the two readings can differ widely.

Example:
    >>> pairs = [SeedPair(0, nsga, rand, 0, 1), SeedPair(1, nsga_1, rand_1, 2, 3)]
    >>> eff = measure(archive, pairs, budget_factor=4.0)
    >>> eff.summary["match_ratio_mean"], eff.rows[0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hyctas.hypervolume import REFERENCE, bounds, normalised_hypervolume
from hyctas.search.archive import Archive
from hyctas.search.nsga import NSGA2_METHOD, RANDOM_METHOD
from hyctas.search.result import SearchResult

MATCH_TOLERANCE = 1e-9  # a random-search hypervolume this close below NSGA-II's counts as equal


def run_names(index: int) -> tuple[str, str]:
    """Names of pair `index`'s NSGA-II and random runs: progress keys and `in_<name>` columns.

    Pair 0 keeps the plain names ("nsga2", "random": `select` reads `in_nsga2`); the pairs
    after it are "nsga2_s<k>" and "random_s<k>".
    """
    if index == 0:
        return NSGA2_METHOD, RANDOM_METHOD
    return f"{NSGA2_METHOD}_s{index}", f"{RANDOM_METHOD}_s{index}"


def pair_seeds(base_seed: int, index: int) -> tuple[int, int]:
    """The generator seeds of pair `index`: NSGA-II's and random search's (pair 0: seed, seed+1)."""
    return base_seed + 2 * index, base_seed + 2 * index + 1


@dataclass(frozen=True)
class SeedPair:
    """One seed's NSGA-II run and random-search run over the shared cache.

    Attributes:
        index: 0 for the search itself, 1... for the further seeds.
        nsga: NSGA-II's result.
        random: Random search's result (None when `search.random_baseline` is off).
        nsga_seed: NSGA-II's seed.
        random_seed: Random search's seed.
    """

    index: int
    nsga: SearchResult
    random: SearchResult | None
    nsga_seed: int
    random_seed: int

    @property
    def names(self) -> tuple[str, str]:
        """`run_names(index)`."""
        return run_names(self.index)


def run_points(archive: Archive, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Minimised objective vectors of `ids` in order, and which of them are feasible."""
    records = [archive.get(i) for i in ids]
    F = np.array(
        [[o.minimised(r.values[o.name]) for o in archive.objectives] for r in records],
        dtype=float,
    ).reshape(len(records), len(archive.objectives))
    return F, np.array([archive.feasible(r) for r in records], dtype=bool)


def hv_curve(
    points: np.ndarray,
    feasible: np.ndarray,
    ideal: np.ndarray,
    nadir: np.ndarray,
    reference: float = REFERENCE,
) -> np.ndarray:
    """Normalised hypervolume of the feasible points among the first i+1, for every i.

    Args:
        points: Minimised objective vectors, in the order a run evaluated them (n, m).
        feasible: Which of them count.
        ideal: Per-objective best value of the normalisation.
        nadir: Per-objective worst value of the normalisation.
        reference: The reference point in normalised units.

    Returns:
        n values, non-decreasing.
    """
    points = np.asarray(points, dtype=float)
    curve = np.zeros(len(points))
    front = np.empty((0, points.shape[1] if points.ndim == 2 else 0))
    hv = 0.0
    for i, (p, ok) in enumerate(zip(points, feasible, strict=True)):
        # Only a point no front member weakly dominates changes the hypervolume.
        if ok and not np.any(np.all(front <= p, axis=1)):
            front = np.vstack([front[~np.all(p <= front, axis=1)], p])
            hv = normalised_hypervolume(front, ideal, nadir, reference)
        curve[i] = hv
    return curve


def evaluations_to_match(curve: Sequence[float], target: float) -> int | None:
    """The first evaluation count at which `curve` (one value per evaluation) reaches `target`.

    Returns:
        1-based count, or None when the curve never gets within `MATCH_TOLERANCE` of it.
    """
    reached = np.flatnonzero(np.asarray(curve, dtype=float) >= target - MATCH_TOLERANCE)
    return int(reached[0]) + 1 if len(reached) else None


def common_length(curves: Sequence[Sequence[float]]) -> np.ndarray:
    """Seed curves cut to the shortest one's length, stacked (seeds, n): what a mean over
    seeds is taken of (`hypervolume.png` draws it; `mean_curve_match` reads it)."""
    n = min((len(c) for c in curves), default=0)
    return np.array([np.asarray(c, dtype=float)[:n] for c in curves]).reshape(len(curves), n)


def mean_curve_match(nsga: Sequence[np.ndarray], random: Sequence[np.ndarray]) -> int | None:
    """Evaluations at which the mean of random search's curves reaches the mean of NSGA-II's
    final hypervolumes (curves cut to the shortest random run); None when it does not."""
    stack = common_length(random)
    if not stack.size:
        return None
    target = float(np.mean([c[-1] if len(c) else 0.0 for c in nsga]))
    return evaluations_to_match(stack.mean(axis=0), target)


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None for fewer than 1 and 2 values)."""
    if not values:
        return None, None
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), std


def _natural(archive: Archive, signs: list[float], point: np.ndarray) -> dict[str, float]:
    """A minimised point back in each objective's natural units, by name."""
    return {o.name: float(s * v) for o, s, v in zip(archive.objectives, signs, point, strict=True)}


@dataclass(frozen=True)
class Efficiency:
    """What `measure` found.

    Attributes:
        summary: JSON-ready numbers for the stage's metrics (`efficiency` block).
        rows: One CSV row per seed, method and recorded point of the run's history.
        curves: Method ("nsga2", "random") -> one per-evaluation hypervolume curve per seed.
    """

    summary: dict
    rows: list[dict] = field(default_factory=list)
    curves: dict[str, list[np.ndarray]] = field(default_factory=dict)


def measure(archive: Archive, pairs: Sequence[SeedPair], budget_factor: float) -> Efficiency:
    """Normalised hypervolumes and evaluations-to-match of every pair (see the module doc).

    Args:
        archive: Holds every architecture the runs evaluated.
        pairs: The seeds' runs, each with a random-search result.
        budget_factor: Random search's budget over NSGA-II's (for the "not reached" note).

    Raises:
        ValueError: A pair without a random-search result.
    """
    if any(p.random is None for p in pairs):
        raise ValueError("search efficiency needs random search in every pair")
    points = {
        (p.index, method): run_points(archive, result.evaluated_ids)
        for p in pairs
        for method, result in ((NSGA2_METHOD, p.nsga), (RANDOM_METHOD, p.random))
    }
    feasible = [F[ok] for F, ok in points.values() if ok.any()]
    if feasible:
        ideal, nadir = bounds(np.vstack(feasible))
    else:  # nothing feasible: every hypervolume is 0
        m = len(archive.objectives)
        ideal, nadir = np.zeros(m), np.ones(m)
    signs = [-1.0 if o.sense == "max" else 1.0 for o in archive.objectives]
    per_seed, rows = {}, []
    curves: dict[str, list[np.ndarray]] = {NSGA2_METHOD: [], RANDOM_METHOD: []}
    for p in pairs:
        by_method = {}
        for method, result, seed in (
            (NSGA2_METHOD, p.nsga, p.nsga_seed),
            (RANDOM_METHOD, p.random, p.random_seed),
        ):
            curve = hv_curve(*points[(p.index, method)], ideal, nadir)
            by_method[method] = curve
            curves[method].append(curve)
            for evals, hv in zip(result.evals_history, result.hv_history, strict=True):
                rows.append(
                    {
                        "seed_index": p.index,
                        "method": method,
                        "seed": seed,
                        "evaluations": evals,
                        "hypervolume": hv,
                        "hv_normalised": float(curve[evals - 1]) if evals else 0.0,
                    }
                )
        nsga_curve, random_curve = by_method[NSGA2_METHOD], by_method[RANDOM_METHOD]
        n, m = len(nsga_curve), len(random_curve)
        hv_nsga = float(nsga_curve[-1]) if n else 0.0
        match = evaluations_to_match(random_curve, hv_nsga)
        entry = {
            "nsga2_seed": p.nsga_seed,
            "random_seed": p.random_seed,
            "evaluations_nsga2": n,
            "evaluations_random": m,
            "hv_norm_nsga2": hv_nsga,
            "hv_norm_random": float(random_curve[min(n, m) - 1]) if min(n, m) else 0.0,
            "hv_norm_random_final": float(random_curve[-1]) if m else 0.0,
            "evaluations_random_to_match": match,
            "match_ratio": match / n if match is not None and n else None,
        }
        if match is None:
            entry["note"] = f"not reached within {budget_factor:g} x budget ({m} evaluations)"
        per_seed[f"seed_{p.index}"] = entry
    entries = list(per_seed.values())
    summary: dict = {
        "seeds": len(pairs),
        "random_budget_factor": budget_factor,
        "reference": REFERENCE,
        "ideal": _natural(archive, signs, ideal),
        "nadir": _natural(archive, signs, nadir),
    }
    for key in ("hv_norm_nsga2", "hv_norm_random"):
        summary[f"{key}_mean"], summary[f"{key}_std"] = _mean_std([e[key] for e in entries])
    ratios = [e["match_ratio"] for e in entries]
    summary["seeds_matched"] = sum(r is not None for r in ratios)
    mean, std = _mean_std([r for r in ratios if r is not None])
    complete = summary["seeds_matched"] == len(entries)
    summary["match_ratio_mean"] = mean if complete else None
    summary["match_ratio_std"] = std if complete else None
    # A seed that never matched needed more than its whole budget: count it at the budget.
    bounded = [
        r if r is not None else e["evaluations_random"] / max(e["evaluations_nsga2"], 1)
        for r, e in zip(ratios, entries, strict=True)
    ]
    summary["match_ratio_lower_bound"] = _mean_std(bounded)[0]
    crossing = mean_curve_match(curves[NSGA2_METHOD], curves[RANDOM_METHOD])
    nsga_evaluations = float(np.mean([e["evaluations_nsga2"] for e in entries]))
    summary["mean_curve_match_evaluations"] = crossing
    summary["mean_curve_match_ratio"] = (
        crossing / nsga_evaluations if crossing is not None and nsga_evaluations else None
    )
    summary["per_seed"] = per_seed
    return Efficiency(summary, rows, curves)
