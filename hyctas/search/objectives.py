"""Objectives and constraints the searcher is handed (it knows nothing else about a network).

An objective maps an architecture to a float and says whether it is minimised or maximised;
a constraint maps an architecture to a float that must stay at or below an upper bound.
Internally the search minimises everything: a "max" objective is negated.

Example:
    >>> acc = Objective("miou", predict_miou, "max")
    >>> lat = Objective("latency_ms", predict_latency, "min")
    >>> params = Constraint("params_m", count_params, upper=20.0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hyctas.errors import ConfigError
from hyctas.space.arch import Arch

SENSES = ("min", "max")
# The two objectives every search has: archive columns, the names select and report read.
ACCURACY, LATENCY = "miou", "latency_ms"
# Archive columns that objective or constraint names must not shadow.
RESERVED_NAMES = frozenset({"id", "compact", "arch_json", "generation", "method", "eval_seconds"})


@dataclass(frozen=True)
class Objective:
    """A named function of an architecture to minimise or maximise.

    Attributes:
        name: Column name in the archive and key in results (unique per search).
        fn: Maps an architecture to a finite float.
        sense: "min" or "max".
    """

    name: str
    fn: Callable[[Arch], float]
    sense: str

    def __post_init__(self) -> None:
        if self.sense not in SENSES:
            raise ConfigError(
                f"objective {self.name!r}: sense {self.sense!r} invalid (allowed: min, max)"
            )

    def minimised(self, value: float) -> float:
        """The value as the search minimises it (negated for a "max" objective)."""
        return -value if self.sense == "max" else value

    def better(self, a: float, b: float) -> bool:
        """True when value `a` is strictly better than `b` in this objective's sense."""
        return self.minimised(a) < self.minimised(b)


@dataclass(frozen=True)
class Constraint:
    """A named function of an architecture that must satisfy `fn(arch) <= upper`.

    Attributes:
        name: Column name in the archive (unique per search).
        fn: Maps an architecture to a finite float.
        upper: Inclusive upper bound.
    """

    name: str
    fn: Callable[[Arch], float]
    upper: float

    def violation(self, value: float) -> float:
        """pymoo's inequality form `g = value - upper` (feasible when <= 0)."""
        return value - self.upper

    def satisfied(self, value: float) -> bool:
        """True when `value` is within the bound."""
        return value <= self.upper


def check_names(objectives: Sequence[Objective], constraints: Sequence[Constraint]) -> None:
    """Checks that there is an objective and that every name is usable as an archive column.

    Raises:
        ConfigError: No objective, a duplicate name or a reserved column name.
    """
    if not objectives:
        raise ConfigError("search: at least one objective is required")
    names = [o.name for o in objectives] + [c.name for c in constraints]
    for name in names:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"search: objective/constraint name {name!r} must be non-empty")
        if name in RESERVED_NAMES:
            raise ConfigError(
                f"search: name {name!r} is reserved for an archive column "
                f"(reserved: {', '.join(sorted(RESERVED_NAMES))})"
            )
        if names.count(name) > 1:
            raise ConfigError(
                f"search: name {name!r} is used by more than one objective/constraint"
            )


def reference_point(
    objectives: Sequence[Objective], hv_reference: Mapping[str, float]
) -> np.ndarray:
    """The hypervolume reference point in the minimised space.

    Args:
        objectives: The search objectives, in order.
        hv_reference: Reference value of each objective by name, in its natural units (for
            example {"miou": 0.0, "latency_ms": 50.0}): the worst value still worth counting.

    Returns:
        One float per objective, negated for "max" objectives.

    Raises:
        ConfigError: A name is missing or unknown, or a value is not finite.
    """
    names = [o.name for o in objectives]
    missing = [n for n in names if n not in hv_reference]
    unknown = sorted(set(hv_reference) - set(names))
    if missing or unknown:
        raise ConfigError(
            f"search.hv_reference: needs exactly one value per objective ({', '.join(names)}); "
            f"missing {missing}, unknown {unknown}"
        )
    ref = np.array([o.minimised(float(hv_reference[o.name])) for o in objectives])
    if not np.all(np.isfinite(ref)):
        raise ConfigError(f"search.hv_reference: values must be finite, got {dict(hv_reference)}")
    return ref
