"""pymoo operators over architectures, wrapping `hyctas.space.evolve`.

A pymoo individual holds one `Arch` in an object array of shape (1,); a population is an
object array of shape (n, 1). pymoo 0.6.2 hands every operator the algorithm's
`numpy.random.Generator` (`random_state`, made from the `seed` given to `minimize`), so a
search depends on its seed only, never on numpy's global state. An operator called without
one falls back to its own generator seeded from the search seed.

Example:
    >>> NSGA2(pop_size=20, sampling=ArchSampling(cfg, seed), crossover=ArchCrossover(cfg, 0.9),
    ...       mutation=ArchMutation(cfg, 0.1), repair=ArchRepair(cfg, seed),
    ...       eliminate_duplicates=ArchDuplicateElimination())
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymoo.core.crossover import Crossover
from pymoo.core.duplicate import DuplicateElimination
from pymoo.core.mutation import Mutation
from pymoo.core.repair import Repair
from pymoo.core.sampling import Sampling

from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig
from hyctas.space.evolve import crossover, mutate, repair, sample_arch

# Draws per wanted sample before sampling gives up looking for unseen architectures (only a
# tiny search space runs out; pymoo then tops the population up through mating).
_SAMPLE_TRIES = 50


def _column(archs: list[Arch]) -> np.ndarray:
    """An object array of shape (n, 1); filled by index so numpy never looks inside an Arch."""
    X = np.empty((len(archs), 1), dtype=object)
    for i, arch in enumerate(archs):
        X[i, 0] = arch
    return X


def sample_unique(cfg: SpaceConfig, rng: np.random.Generator, n: int, seen: set[str]) -> list[Arch]:
    """Up to `n` random architectures whose ids are not in `seen` (which is updated)."""
    archs: list[Arch] = []
    for _ in range(_SAMPLE_TRIES * n):
        if len(archs) == n:
            break
        arch = sample_arch(cfg, rng)
        if arch.id not in seen:
            seen.add(arch.id)
            archs.append(arch)
    return archs


class ArchSampling(Sampling):
    """Initial population: distinct random architectures (`sample_arch`)."""

    def __init__(self, cfg: SpaceConfig, seed: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)

    def _do(self, problem: Any, n_samples: int, *args: Any, random_state=None, **kwargs: Any):
        rng = random_state if random_state is not None else self.rng
        return _column(sample_unique(self.cfg, rng, n_samples, set()))


class ArchCrossover(Crossover):
    """Two parents -> two children (`evolve.crossover`), applied with probability `prob`."""

    def __init__(self, cfg: SpaceConfig, prob: float, seed: int = 0) -> None:
        super().__init__(2, 2, prob=prob)
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)

    def _do(self, problem: Any, X: np.ndarray, *args: Any, random_state=None, **kwargs: Any):
        # X: (2 parents, n_matings, 1) -> (2 children, n_matings, 1)
        rng = random_state if random_state is not None else self.rng
        Y = np.empty_like(X)
        for k in range(X.shape[1]):
            Y[0, k, 0], Y[1, k, 0] = crossover(X[0, k, 0], X[1, k, 0], self.cfg, rng)
        return Y


class ArchMutation(Mutation):
    """Mutates every offspring (`evolve.mutate`) with per-cell rate `rate`."""

    def __init__(self, cfg: SpaceConfig, rate: float, seed: int = 0) -> None:
        super().__init__(prob=1.0)
        self.cfg = cfg
        self.rate = rate
        self.rng = np.random.default_rng(seed)

    def _do(self, problem: Any, X: np.ndarray, *args: Any, random_state=None, **kwargs: Any):
        rng = random_state if random_state is not None else self.rng
        return _column([mutate(x[0], self.cfg, rng, self.rate) for x in X])


class ArchRepair(Repair):
    """Makes each individual valid and canonical (`evolve.repair`; a no-op on valid ones)."""

    def __init__(self, cfg: SpaceConfig, seed: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)

    def _do(self, problem: Any, X: np.ndarray, random_state=None, **kwargs: Any):
        rng = random_state if random_state is not None else self.rng
        return _column([repair(x[0], self.cfg, rng) for x in X])


class ArchDuplicateElimination(DuplicateElimination):
    """Drops individuals whose `Arch.id` is already in the population (or in `other`)."""

    def _do(self, pop: Any, other: Any, is_duplicate: np.ndarray) -> np.ndarray:
        seen = set() if other is None else {ind.X[0].id for ind in other}
        for i, ind in enumerate(pop):
            arch_id = ind.X[0].id
            if arch_id in seen:
                is_duplicate[i] = True
            else:
                seen.add(arch_id)
        return is_duplicate
