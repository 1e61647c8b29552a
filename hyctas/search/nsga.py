"""NSGA-II over the search space (pymoo), and a random-search baseline on the same budget.

The searcher is handed its objectives and constraints; it knows nothing about networks.
Constraints are pymoo inequality constraints `g = value - upper <= 0`: NSGA-II's
constraint-domination ranks any feasible architecture above any infeasible one and
infeasible ones by total violation, so no penalty weight has to be tuned; the fronts and
hypervolumes reported count feasible architectures only.

Example:
    >>> archive = Archive(objectives, constraints)
    >>> nsga = run_nsga2(cfg, objectives, constraints, population=32, generations=20,
    ...                  crossover_prob=0.9, mutation_rate=0.1, seed=0, archive=archive,
    ...                  hv_reference={"miou": 0.0, "latency_ms": 50.0})
    >>> rand = run_random(cfg, objectives, constraints, evaluations=nsga.n_evaluations,
    ...                   seed=0, archive=archive, hv_reference={"miou": 0.0, "latency_ms": 50.0},
    ...                   checkpoints=nsga.evals_history)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.callback import Callback
from pymoo.core.problem import Problem
from pymoo.optimize import minimize
from tqdm import tqdm

from hyctas.errors import ConfigError
from hyctas.search.archive import Archive
from hyctas.search.objectives import Constraint, Objective
from hyctas.search.operators import (
    ArchCrossover,
    ArchDuplicateElimination,
    ArchMutation,
    ArchRepair,
    ArchSampling,
    sample_unique,
)
from hyctas.search.result import RunState, SearchResult, check_positive_int
from hyctas.space.config import SpaceConfig


class _ArchProblem(Problem):
    """pymoo's view of the search: one object variable (an Arch), values from the archive."""

    def __init__(self, state: RunState) -> None:
        # requires_kwargs: pymoo then passes `algorithm`, whose n_iter is the generation.
        super().__init__(
            n_var=1,
            n_obj=len(state.objectives),
            n_ieq_constr=len(state.constraints),
            vtype=object,
            requires_kwargs=True,
        )
        self.state = state

    def _evaluate(self, X: np.ndarray, out: dict, *args: Any, **kwargs: Any) -> None:
        generation = int(kwargs["algorithm"].n_iter)
        rows = [self.state.ask(x[0], generation) for x in X]
        out["F"] = np.array([f for f, _ in rows], dtype=float).reshape(len(X), self.n_obj)
        if self.n_ieq_constr:
            out["G"] = np.array([g for _, g in rows], dtype=float)


class _Checkpoint(Callback):
    """After each generation: record the hypervolume and update the progress bar."""

    def __init__(self, state: RunState, bar: tqdm) -> None:
        super().__init__()
        self.state, self.bar = state, bar

    def notify(self, algorithm: Any) -> None:
        hv = self.state.checkpoint()
        front = len(self.state.front.front_ids())
        self.bar.set_postfix({"gen": algorithm.n_iter, "front": front, "hv": f"{hv:.4g}"})
        self.bar.update(1)


def _check_probability(value: Any, name: str, low_open: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (0.0 < value <= 1.0 if low_open else 0.0 <= value <= 1.0)
    if not ok:
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise ConfigError(f"search.{name}: must be a number in {interval}, got {value!r}")
    return float(value)


def run_nsga2(
    space_cfg: SpaceConfig,
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint],
    *,
    population: int,
    generations: int,
    crossover_prob: float,
    mutation_rate: float,
    seed: int,
    archive: Archive,
    hv_reference: Mapping[str, float],
    progress: bool = True,
) -> SearchResult:
    """Runs NSGA-II and returns its front, hypervolume history and evaluation counts.

    Args:
        space_cfg: The search space.
        objectives: What to optimise (the archive must have been built with the same).
        constraints: Upper bounds that must hold (the archive must have the same).
        population: Population size, also the number of offspring per generation (>= 2).
        generations: Generations, the initial population being the first (>= 1).
        crossover_prob: Probability that a pair of parents is recombined.
        mutation_rate: Per-cell mutation rate of `evolve.mutate`.
        seed: Seeds pymoo's generator, which drives every operator.
        archive: Cache and record of evaluations; new rows are added to it.
        hv_reference: Hypervolume reference value per objective name (natural units).
        progress: Show a tqdm bar (generation, front size, hypervolume).

    Returns:
        The result; `hv_history` has one entry per generation.

    Raises:
        ConfigError: A bad argument, or an archive built for other objectives.
    """
    check_positive_int(population, "population", minimum=2)
    check_positive_int(generations, "generations")
    crossover_prob = _check_probability(crossover_prob, "crossover_prob", low_open=False)
    mutation_rate = _check_probability(mutation_rate, "mutation_rate", low_open=True)
    check_positive_int(seed, "seed", minimum=0)
    state = RunState(archive, objectives, constraints, hv_reference, "nsga2")
    algorithm = NSGA2(
        pop_size=population,
        sampling=ArchSampling(space_cfg, seed),
        crossover=ArchCrossover(space_cfg, crossover_prob, seed),
        mutation=ArchMutation(space_cfg, mutation_rate, seed),
        repair=ArchRepair(space_cfg, seed),
        eliminate_duplicates=ArchDuplicateElimination(),
    )
    with tqdm(total=generations, desc="nsga2", unit="gen", disable=not progress) as bar:
        minimize(
            _ArchProblem(state),
            algorithm,
            ("n_gen", generations),
            seed=seed,
            callback=_Checkpoint(state, bar),
            verbose=False,
            copy_algorithm=False,
        )
    return state.result()


def _check_checkpoints(evaluations: int, checkpoints: Sequence[int] | None) -> list[int]:
    marks = [evaluations] if checkpoints is None else [int(c) for c in checkpoints]
    if not marks or any(b <= a for a, b in zip(marks, marks[1:], strict=False)) or marks[0] < 1:
        raise ConfigError(f"random search: checkpoints must increase from >= 1, got {marks}")
    if marks[-1] != evaluations:
        raise ConfigError(
            f"random search: the last checkpoint ({marks[-1]}) must equal evaluations "
            f"({evaluations})"
        )
    return marks


def run_random(
    space_cfg: SpaceConfig,
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint],
    *,
    evaluations: int,
    seed: int,
    archive: Archive,
    hv_reference: Mapping[str, float],
    checkpoints: Sequence[int] | None = None,
    progress: bool = True,
) -> SearchResult:
    """Random search over `evaluations` distinct architectures (`sample_arch`).

    Args:
        space_cfg: The search space.
        objectives: What to optimise (the archive must have been built with the same).
        constraints: Upper bounds that must hold (the archive must have the same).
        evaluations: Distinct architectures to evaluate; pass NSGA-II's `n_evaluations`
            for a comparison at equal cost.
        seed: Seeds the sampling generator.
        archive: Cache and record of evaluations; new rows are added as method "random".
        hv_reference: Hypervolume reference value per objective name (natural units).
        checkpoints: Cumulative evaluation counts after which the hypervolume is recorded;
            pass NSGA-II's `evals_history` to plot both curves on one axis. Default: the end.
        progress: Show a tqdm bar.

    Returns:
        The result; chunk k (from 1) is recorded as the rows' generation. A space too small
        to hold `evaluations` distinct architectures stops early (fewer evaluations).

    Raises:
        ConfigError: A bad argument, or an archive built for other objectives.
    """
    check_positive_int(evaluations, "evaluations")
    check_positive_int(seed, "seed", minimum=0)
    marks = _check_checkpoints(evaluations, checkpoints)
    state = RunState(archive, objectives, constraints, hv_reference, "random")
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    with tqdm(total=len(marks), desc="random", unit="chunk", disable=not progress) as bar:
        for chunk, mark in enumerate(marks, start=1):
            for arch in sample_unique(space_cfg, rng, mark - len(state.front), seen):
                state.ask(arch, chunk)
            hv = state.checkpoint()
            bar.set_postfix({"evals": len(state.front), "hv": f"{hv:.4g}"})
            bar.update(1)
    return state.result()
