"""NSGA-II over the search space (pymoo), and a random-search baseline on the same budget.

The searcher is handed its objectives and constraints; it knows nothing about networks.
Constraints are pymoo inequality constraints `g = value - upper <= 0`: NSGA-II's
constraint-domination ranks any feasible architecture above any infeasible one and
infeasible ones by total violation, so no penalty weight has to be tuned; the fronts and
hypervolumes reported count feasible architectures only.

NSGA-II runs generation by generation through pymoo's algorithm object (`setup`, then `next`
while `has_next`: what `pymoo.optimize.minimize` does), so that with a `SearchCheckpoint`
both searches save their progress after every generation (or chunk) and resume exactly after
a stop signal. For NSGA-II that progress is plain JSON: the population (ids, in order, with
pymoo's per-individual data such as rank and crowding distance), the state of pymoo's random
generator, which drives every operator, and the generation count; its objective values come
back from the archive. No pickle: nothing of the objectives (the supernet) is captured.

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

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.evaluator import Evaluator
from pymoo.core.population import Population
from pymoo.core.problem import Problem
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
from hyctas.search.result import RunState, SearchCheckpoint, SearchResult, check_positive_int
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig

NSGA2_METHOD, RANDOM_METHOD = "nsga2", "random"


class _ArchProblem(Problem):
    """pymoo's view of the search: one object variable (an Arch), values from `lookup`."""

    def __init__(
        self,
        state: RunState,
        lookup: Callable[[Arch, int], tuple[list[float], list[float]]],
    ) -> None:
        # requires_kwargs: pymoo then passes `algorithm`, whose n_iter is the generation.
        super().__init__(
            n_var=1,
            n_obj=len(state.objectives),
            n_ieq_constr=len(state.constraints),
            vtype=object,
            requires_kwargs=True,
        )
        self.lookup = lookup

    def _evaluate(self, X: np.ndarray, out: dict, *args: Any, **kwargs: Any) -> None:
        generation = int(kwargs["algorithm"].n_iter)
        rows = [self.lookup(x[0], generation) for x in X]
        out["F"] = np.array([f for f, _ in rows], dtype=float).reshape(len(X), self.n_obj)
        if self.n_ieq_constr:
            out["G"] = np.array([g for _, g in rows], dtype=float)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _algorithm_state(algorithm: NSGA2) -> dict[str, Any]:
    """What the next generation of `algorithm` depends on, as plain JSON."""
    return {
        "generation": int(algorithm.n_iter) - 1,  # pymoo counts on after a generation ends
        "rng": algorithm.random_state.bit_generator.state,
        "n_eval": int(algorithm.evaluator.n_eval),
        "force_termination": bool(algorithm.termination.force_termination),
        "population": [
            {"id": ind.X[0].id, "data": {k: _plain(v) for k, v in ind.data.items()}}
            for ind in algorithm.pop
        ],
    }


def _restore_algorithm(algorithm: NSGA2, saved: Mapping[str, Any], state: RunState) -> None:
    """Puts a set-up `algorithm` where `_algorithm_state` found it, values from the archive.

    Sets what pymoo 0.6.2 (pinned) sets when a generation ends (`Algorithm.advance`); the
    resume tests compare a resumed run with an unstopped one, row for row.
    """
    algorithm.n_iter = int(saved["generation"])
    X = np.empty((len(saved["population"]), 1), dtype=object)  # filled by index, as pymoo's
    for i, p in enumerate(saved["population"]):
        X[i, 0] = state.archive.get(p["id"]).arch
    pop = Population.new(X=X)
    # The evaluator sets F, G, H as a fresh evaluation would; the values are read, not computed.
    problem = _ArchProblem(state, lambda arch, generation: state.values(state.archive.get(arch.id)))
    Evaluator().eval(problem, pop, algorithm=algorithm)
    for ind, p in zip(pop, saved["population"], strict=True):
        ind.data.update(p["data"])
    algorithm.pop = pop
    algorithm.is_initialized = True
    algorithm.start_time = time.time()
    algorithm.random_state.bit_generator.state = saved["rng"]
    algorithm.evaluator.n_eval = int(saved["n_eval"])
    algorithm.termination.force_termination = bool(saved["force_termination"])
    algorithm.termination.update(algorithm)  # as pymoo did at the end of that generation
    algorithm._set_optimum()
    algorithm.n_iter += 1


def _restored(
    checkpoint: SearchCheckpoint | None,
    run_name: str,
    method: str,
    settings: dict[str, Any],
    archive: Archive,
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint],
    hv_reference: Mapping[str, float],
) -> tuple[RunState, dict[str, Any] | None]:
    """The run's state: restored from the checkpoint's progress when it fits, else new.

    Progress is kept under `run_name` ("nsga2", or "nsga2_s1" for a further seed of the
    search-efficiency measurement); `method` is what the archive records for new rows.
    A new run saves its (empty) progress at once: which archive rows predate it must survive
    a stop inside its first generation, whose rows are in the cache by the time it resumes.
    """
    saved = checkpoint.progress(run_name, settings) if checkpoint is not None else None
    state = None
    if saved is not None:
        state = RunState.restore(
            saved["run"], archive, objectives, constraints, hv_reference, method
        )
    if state is None:
        state, saved = RunState(archive, objectives, constraints, hv_reference, method), None
        if checkpoint is not None:
            checkpoint.restart(run_name)
            checkpoint.save(archive, run_name, settings, {"run": state.to_dict()})
    return state, saved


def _postfix(bar: tqdm, state: RunState, **extra: Any) -> None:
    hv = state.hv_history[-1]
    bar.set_postfix({**extra, "front": len(state.front.front_ids()), "hv": f"{hv:.4g}"})


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
    checkpoint: SearchCheckpoint | None = None,
    run_name: str = NSGA2_METHOD,
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
        checkpoint: Resume from its progress (same settings), save progress after every
            generation and stop on its signals.
        run_name: The name its progress is saved under (and messages use): several runs
            of one method share a checkpoint under distinct names.

    Returns:
        The result; `hv_history` has one entry per generation.

    Raises:
        ConfigError: A bad argument, or an archive built for other objectives.
        Preempted: The checkpoint's stop signal arrived (progress saved).
    """
    check_positive_int(population, "population", minimum=2)
    check_positive_int(generations, "generations")
    crossover_prob = _check_probability(crossover_prob, "crossover_prob", low_open=False)
    mutation_rate = _check_probability(mutation_rate, "mutation_rate", low_open=True)
    check_positive_int(seed, "seed", minimum=0)
    settings = {
        "population": population,
        "generations": generations,
        "crossover_prob": crossover_prob,
        "mutation_rate": mutation_rate,
        "seed": seed,
        "hv_reference": dict(hv_reference),
    }
    state, saved = _restored(
        checkpoint, run_name, NSGA2_METHOD, settings, archive, objectives, constraints, hv_reference
    )
    algorithm = NSGA2(
        pop_size=population,
        sampling=ArchSampling(space_cfg, seed),
        crossover=ArchCrossover(space_cfg, crossover_prob, seed),
        mutation=ArchMutation(space_cfg, mutation_rate, seed),
        repair=ArchRepair(space_cfg, seed),
        eliminate_duplicates=ArchDuplicateElimination(),
    )

    def ask(arch: Arch, generation: int) -> tuple[list[float], list[float]]:
        if checkpoint is not None:
            checkpoint.stop_if_requested(
                archive, f"in {run_name} generation {generation}/{generations}"
            )
        return state.ask(arch, generation)

    algorithm.setup(
        _ArchProblem(state, ask), termination=("n_gen", generations), seed=seed, verbose=False
    )
    if saved is not None and "algorithm" in saved:  # else stopped inside generation 1
        _restore_algorithm(algorithm, saved["algorithm"], state)
    done = len(state.hv_history)
    with tqdm(
        total=generations, initial=done, desc=run_name, unit="gen", disable=not progress
    ) as bar:
        if done:
            _postfix(bar, state, gen=done)
        while algorithm.has_next():
            algorithm.next()  # ask, evaluate, tell: one generation
            state.checkpoint()
            generation = int(algorithm.n_iter) - 1
            _postfix(bar, state, gen=generation)
            bar.update(1)
            if checkpoint is not None:
                checkpoint.save(
                    archive,
                    run_name,
                    settings,
                    {"run": state.to_dict(), "algorithm": _algorithm_state(algorithm)},
                )
                checkpoint.stop_if_requested(
                    archive, f"after {run_name} generation {generation}/{generations}"
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
    checkpoint: SearchCheckpoint | None = None,
    run_name: str = RANDOM_METHOD,
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
        checkpoint: Resume from its progress (same settings), save progress after every
            chunk and stop on its signals.
        run_name: The name its progress is saved under (and messages use).

    Returns:
        The result; chunk k (from 1) is recorded as the rows' generation. A space too small
        to hold `evaluations` distinct architectures stops early (fewer evaluations).

    Raises:
        ConfigError: A bad argument, or an archive built for other objectives.
        Preempted: The checkpoint's stop signal arrived (progress saved).
    """
    check_positive_int(evaluations, "evaluations")
    check_positive_int(seed, "seed", minimum=0)
    marks = _check_checkpoints(evaluations, checkpoints)
    settings = {
        "evaluations": evaluations,
        "seed": seed,
        "checkpoints": marks,
        "hv_reference": dict(hv_reference),
    }
    state, saved = _restored(
        checkpoint,
        run_name,
        RANDOM_METHOD,
        settings,
        archive,
        objectives,
        constraints,
        hv_reference,
    )
    rng = np.random.default_rng(seed)
    if saved is not None and "rng" in saved:  # else stopped inside chunk 1
        rng.bit_generator.state = saved["rng"]
    seen = set(state.front.ids)  # every id sampled so far was asked for
    done = len(state.hv_history)
    with tqdm(
        total=len(marks), initial=done, desc=run_name, unit="chunk", disable=not progress
    ) as bar:
        if done:
            bar.set_postfix({"evals": len(state.front), "hv": f"{state.hv_history[-1]:.4g}"})
        for chunk, mark in enumerate(marks[done:], start=done + 1):
            where = f"{run_name} search chunk {chunk}/{len(marks)}"
            for arch in sample_unique(space_cfg, rng, mark - len(state.front), seen):
                if checkpoint is not None:
                    checkpoint.stop_if_requested(archive, f"in {where}")
                state.ask(arch, chunk)
            hv = state.checkpoint()
            bar.set_postfix({"evals": len(state.front), "hv": f"{hv:.4g}"})
            bar.update(1)
            if checkpoint is not None:
                checkpoint.save(
                    archive,
                    run_name,
                    settings,
                    {"rng": rng.bit_generator.state, "run": state.to_dict()},
                )
                checkpoint.stop_if_requested(archive, f"after {where}")
    return state.result()
