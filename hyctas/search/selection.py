"""Picks one architecture per named target (`search.targets` in params.yaml) from an archive.

A target sets a budget on the latency objective, either absolute or relative to the front:

    targets:
      fast:     {max_latency_ms: 8.0}     # latency <= 8.0
      balanced: {front_quantile: 0.5}     # latency <= median latency of the front
      accurate: {front_quantile: 1.0}     # latency <= slowest front latency (most accurate)

The candidates are the feasible architectures of `among` (the select stage passes the ids
NSGA-II visited in the search run, `Archive.runs["nsga2"]`, so neither a random-search sample
nor a cached row of an earlier run is ever a target). The front is their non-dominated set
over the accuracy and latency objectives, so a quantile budget carries over to another
machine's latencies. Each target gets the best-accuracy candidate within its budget, which is
on that front; ties go to lower latency, then to the smaller id.

`draw_in_band` picks the other kind of target: a random-search architecture whose latency is
within a relative band around another selection's, drawn in a seeded order (`select` uses it
for the `band_of` targets, the chance level a searched target is compared with).

Example:
    >>> chosen = select_targets(archive, params["select"]["targets"], accuracy="miou",
    ...                         latency="latency_ms", among=archive.runs["nsga2"])
    >>> chosen["fast"].arch_id
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from hyctas.errors import ConfigError, HyctasError
from hyctas.search.archive import Archive, Record
from hyctas.search.front import non_dominated
from hyctas.search.objectives import Objective
from hyctas.space.arch import Arch

RULES = ("max_latency_ms", "front_quantile")


class NoArchitectureInBudget(HyctasError):
    """No archived architecture meets a target's latency budget.

    Attributes:
        target: The target's name.
        budget: Its latency budget.
        fastest: The lowest latency among the feasible archived architectures.
    """

    def __init__(
        self, target: str, budget: float, fastest: float, latency: str, key: str = "search.targets"
    ) -> None:
        self.target, self.budget, self.fastest = target, budget, fastest
        super().__init__(
            f"{key}.{target}: no architecture has {latency} <= {budget:.6g} (the "
            f"fastest found has {latency} = {fastest:.6g}); in params.yaml raise "
            f"{key}.{target}.max_latency_ms to at least {fastest:.6g}, or use "
            f"{key}.{target}.front_quantile (0 = fastest on the front), or search "
            "longer (search.generations) or with a smaller search space"
        )


@dataclass(frozen=True)
class Selection:
    """The architecture chosen for one target.

    Attributes:
        target: The target's name.
        rule: The rule as written, e.g. "max_latency_ms=8.0" or "front_quantile=0.5".
        budget: The latency budget the rule gave.
        arch_id: Id of the chosen architecture.
        arch: The chosen architecture.
        values: Its objective and constraint values.
    """

    target: str
    rule: str
    budget: float
    arch_id: str
    arch: Arch
    values: dict[str, float]


def _check_target(name: str, spec: object, key: str) -> tuple[str, float]:
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in RULES:
        raise ConfigError(f"{key}.{name}: expected exactly one of {', '.join(RULES)}, got {spec!r}")
    rule, value = next(iter(spec.items()))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ConfigError(f"{key}.{name}.{rule}: must be a number, got {value!r}")
    if rule == "front_quantile" and not 0.0 <= value <= 1.0:
        raise ConfigError(f"{key}.{name}.front_quantile: must be in [0, 1], got {value}")
    return rule, float(value)


def _candidates(archive: Archive, among: Collection[str] | None) -> list[Record]:
    """Feasible records, of the ids in `among` only when given (in archive order)."""
    keep = None if among is None else set(among)
    return [r for r in archive if archive.feasible(r) and (keep is None or r.arch_id in keep)]


def front_records(
    archive: Archive, accuracy: str, latency: str, among: Collection[str] | None = None
) -> list[Record]:
    """Feasible records non-dominated in (accuracy, latency), by latency then id.

    Args:
        archive: The evaluated architectures.
        accuracy: Name of the accuracy objective.
        latency: Name of the latency objective.
        among: Only these ids (default: every archived architecture).
    """
    acc = _objective(archive, accuracy)
    _objective(archive, latency)  # fail early on an unknown name
    records = _candidates(archive, among)
    if not records:
        return []
    F = np.array([[acc.minimised(r.values[accuracy]), r.values[latency]] for r in records])
    front = [records[k] for k in np.flatnonzero(non_dominated(F))]
    return sorted(front, key=lambda r: (r.values[latency], r.arch_id))


def _objective(archive: Archive, name: str) -> Objective:
    for o in archive.objectives:
        if o.name == name:
            return o
    names = ", ".join(o.name for o in archive.objectives)
    raise ConfigError(f"search: no objective named {name!r} (objectives: {names})")


def select_targets(
    archive: Archive,
    targets: Mapping[str, Mapping[str, float]],
    *,
    accuracy: str,
    latency: str,
    key: str = "search.targets",
    among: Collection[str] | None = None,
) -> dict[str, Selection]:
    """One architecture per target: the most accurate feasible candidate within its budget.

    Args:
        archive: The evaluated architectures.
        targets: Target name -> {"max_latency_ms": budget} or {"front_quantile": q}.
        accuracy: Name of the accuracy objective (its sense says which way is better).
        latency: Name of the latency objective (must be minimised).
        key: Where the targets live in params.yaml, for error messages.
        among: The candidate ids, e.g. every architecture NSGA-II visited in the run
            (`Archive.runs["nsga2"]`); default: every archived architecture.

    Returns:
        Target name -> selection, in the order of `targets`.

    Raises:
        ConfigError: A malformed target, an unknown objective name or an empty archive.
        NoArchitectureInBudget: No feasible architecture meets a target's budget.
    """
    acc = _objective(archive, accuracy)
    if _objective(archive, latency).sense != "min":
        raise ConfigError(f"search: latency objective {latency!r} must be minimised")
    rules = {name: _check_target(name, spec, key) for name, spec in targets.items()}
    front = front_records(archive, accuracy, latency, among)
    if not front:
        raise ConfigError("search: the archive has no feasible architecture to select from")
    front_latencies = np.array([r.values[latency] for r in front])
    candidates = _candidates(archive, among)
    fastest = min(r.values[latency] for r in candidates)
    chosen = {}
    for name, (rule, value) in rules.items():
        if rule == "max_latency_ms":
            budget = value
        else:
            budget = float(np.quantile(front_latencies, value))
        within = [r for r in candidates if r.values[latency] <= budget]
        if not within:
            raise NoArchitectureInBudget(name, budget, fastest, latency, key)
        best = min(
            within,
            key=lambda r: (acc.minimised(r.values[accuracy]), r.values[latency], r.arch_id),
        )
        chosen[name] = Selection(
            name, f"{rule}={value:g}", budget, best.arch_id, best.arch, dict(best.values)
        )
    return chosen


@dataclass(frozen=True)
class BandDraw:
    """A random architecture drawn from a predicted-latency band.

    Attributes:
        record: The drawn architecture's archive row.
        low: The band's lowest latency (inclusive).
        high: The band's highest latency (inclusive).
        candidates: How many architectures the band held (the center excluded).
    """

    record: Record
    low: float
    high: float
    candidates: int


def _draw_key(seed: int, arch_id: str) -> str:
    """A per-architecture random key: sorting by it is a seeded shuffle that does not depend on
    the order (or the number) of the candidates, so one draw stays the same architecture when
    another architecture joins the band."""
    return hashlib.sha256(f"{seed}:{arch_id}".encode()).hexdigest()


def draw_in_band(
    archive: Archive,
    *,
    center: Record,
    band: float,
    draw: int,
    seed: int,
    latency: str,
    among: Collection[str],
    key: str,
) -> BandDraw:
    """The `draw`-th of the feasible `among` architectures within +-`band` of `center`'s latency.

    The candidates are put in a seeded random order (by `seed` and their ids), so draws
    0, 1, ... are distinct architectures, each a uniform pick from the band when `among` are
    uniform samples of the space (the select stage passes random search's, `in_random`).

    Args:
        archive: The evaluated architectures.
        center: The architecture whose latency is the band's center (never drawn).
        band: Relative half-width: latencies in [(1 - band) L, (1 + band) L] qualify.
        draw: Which of the shuffled candidates, from 0.
        seed: Seeds the order (`base.seed`).
        latency: Name of the latency objective.
        among: Ids to draw from.
        key: Where the target lives in params.yaml, for error messages.

    Raises:
        ConfigError: A bad band or draw, or a band holding `draw` candidates or fewer.
    """
    if isinstance(band, bool) or not isinstance(band, (int, float)) or not 0 < band <= 1:
        raise ConfigError(f"{key}.band: must be a number in (0, 1], got {band!r}")
    if isinstance(draw, bool) or not isinstance(draw, int) or draw < 0:
        raise ConfigError(f"{key}.draw: must be an integer >= 0, got {draw!r}")
    center_latency = center.values[latency]
    low, high = (1.0 - band) * center_latency, (1.0 + band) * center_latency
    inside = [
        r
        for r in _candidates(archive, among)
        if low <= r.values[latency] <= high and r.arch_id != center.arch_id
    ]
    if draw >= len(inside):
        raise ConfigError(
            f"{key}.draw = {draw}: only {len(inside)} random-search architecture(s) have "
            f"{latency} within +-{band:g} of {center_latency:.4g} ({low:.4g} to {high:.4g}), "
            f"the band of {center.compact}; in params.yaml lower {key}.draw, widen "
            f"{key}.band, or sample more (search.random_budget_factor, search.generations)"
        )
    inside.sort(key=lambda r: _draw_key(seed, r.arch_id))
    return BandDraw(inside[draw], low, high, len(inside))
