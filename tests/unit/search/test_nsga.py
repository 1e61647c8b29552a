"""NSGA-II and the random baseline on the analytic proxy problem."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from hyctas.errors import ConfigError
from hyctas.search import (
    Archive,
    Constraint,
    Objective,
    non_dominated,
    run_nsga2,
    run_random,
)
from hyctas.search.selection import select_targets

from .conftest import (
    GENERATIONS,
    HV_REFERENCE,
    POPULATION,
    FakeClock,
    proxy_accuracy,
    proxy_latency,
    proxy_params,
)

TARGETS = {
    "fast": {"front_quantile": 0.0},
    "mid": {"front_quantile": 0.5},
    "top": {"max_latency_ms": 99.0},
}


def _selected_ids(archive):
    chosen = select_targets(archive, TARGETS, accuracy="acc", latency="lat_ms")
    return {name: s.arch_id for name, s in chosen.items()}


def test_same_seed_same_archive_bytes_and_selection(nsga, make_archive, tmp_path):
    paths, selections, fronts = [], [], []
    for run, seed in enumerate([0, 0, 1]):
        np.random.seed(run)  # numpy's global state must not matter
        archive = make_archive()
        result = nsga(archive, seed=seed)
        path = tmp_path / f"archive{run}.csv"
        archive.save(path)
        paths.append(path.read_bytes())
        selections.append(_selected_ids(archive))
        fronts.append(result.front_ids)
    assert paths[0] == paths[1] and selections[0] == selections[1] and fronts[0] == fronts[1]
    assert paths[0] != paths[2] and fronts[0] != fronts[2]


def test_rerun_with_more_generations_reuses_every_evaluation(
    nsga, make_archive, objectives, tmp_path
):
    archive = make_archive()
    short = nsga(archive, generations=5)
    path = tmp_path / "archive.csv"
    archive.save(path)
    first_rows = list(archive)
    loaded = Archive.load(path, objectives, clock=FakeClock())
    longer = nsga(loaded, generations=10)
    assert short.n_computed == len(first_rows)
    assert longer.n_reused == len(first_rows)  # every earlier evaluation is a cache hit
    assert longer.n_cache_hits >= len(first_rows)
    assert longer.n_computed == len(loaded) - len(first_rows) > 0
    assert list(loaded)[: len(first_rows)] == first_rows  # old rows kept, first, unchanged
    assert longer.hv_history[:5] == short.hv_history  # same seed: same first generations


def test_no_architecture_is_evaluated_twice(space):
    # A tiny space (1 branch, 2-3 cells, 2 ops, 2 widths) makes the run revisit architectures.
    tiny = dataclasses.replace(
        space,
        ops=("conv", "sa"),
        widths=(0.5, 1.0),
        max_branches=1,
        branch_ratios=(1.0,),
        max_depth=3,
    )
    calls = Counter()

    def counted(fn):
        def wrapped(arch):
            calls[arch.id] += 1
            return fn(arch)

        return wrapped

    objectives = [
        Objective("acc", counted(proxy_accuracy), "max"),
        Objective("lat_ms", counted(proxy_latency), "min"),
    ]
    archive = Archive(objectives)
    result = run_nsga2(
        tiny,
        objectives,
        (),
        population=POPULATION,
        generations=GENERATIONS,
        crossover_prob=0.9,
        mutation_rate=0.15,
        seed=0,
        archive=archive,
        hv_reference=HV_REFERENCE,
        progress=False,
    )
    assert result.n_cache_hits > 0  # the run did ask for some architectures again
    # each objective function ran exactly once per architecture (2 objectives -> 2 calls)
    assert set(calls.values()) == {2}
    assert len(calls) == len(archive) == result.n_evaluations == result.n_computed


def test_hypervolume_is_monotone_and_front_is_non_dominated(nsga, make_archive):
    archive = make_archive()
    result = nsga(archive)
    hv = np.array(result.hv_history)
    assert len(hv) == GENERATIONS and np.all(np.diff(hv) >= 0) and hv[-1] > hv[0] > 0
    evals = np.array(result.evals_history)
    assert evals[0] == POPULATION and np.all(np.diff(evals) > 0)
    assert evals[-1] == result.n_evaluations == len(archive)
    assert sorted({r.generation for r in archive}) == list(range(1, GENERATIONS + 1))
    F = np.array([[-v["acc"], v["lat_ms"]] for v in result.front_values])
    assert non_dominated(F).all() and len(F) >= 5
    everything = np.array([[-r.values["acc"], r.values["lat_ms"]] for r in archive])
    front_mask = non_dominated(everything)
    assert {r.arch_id for r, m in zip(archive, front_mask, strict=True) if m} == set(
        result.front_ids
    )


def test_constraints_keep_the_front_feasible(space, objectives, nsga):
    constraints = (Constraint("params", proxy_params, upper=6.0),)
    archive = Archive(objectives, constraints)
    result = nsga(archive, constraints=constraints)
    assert any(not archive.feasible(r) for r in archive)  # the bound binds
    assert all(v["params"] <= 6.0 for v in result.front_values)


def test_nsga2_beats_random_search_at_equal_evaluations(space, objectives, nsga):
    ratios = []
    for seed in range(3):
        result = nsga(Archive(objectives), seed=seed)
        rand = run_random(
            space,
            objectives,
            (),
            evaluations=result.n_evaluations,
            seed=seed,
            archive=Archive(objectives),
            hv_reference=HV_REFERENCE,
            checkpoints=result.evals_history,
            progress=False,
        )
        assert rand.n_evaluations == result.n_evaluations
        assert rand.evals_history == result.evals_history
        assert len(set(rand.evaluated_ids)) == rand.n_evaluations
        ratios.append(result.hypervolume / rand.hypervolume)
    print("NSGA-II / random hypervolume:", [round(r, 4) for r in ratios])
    assert min(ratios) > 1.0 and np.mean(ratios) > 1.02


def test_random_search_labels_chunks_and_shares_the_archive(space, objectives, make_archive):
    archive = make_archive()
    result = run_random(
        space,
        objectives,
        (),
        evaluations=30,
        seed=3,
        archive=archive,
        hv_reference=HV_REFERENCE,
        checkpoints=[10, 20, 30],
        progress=False,
    )
    assert [r.generation for r in archive] == [1] * 10 + [2] * 10 + [3] * 10
    assert {r.method for r in archive} == {"random"}
    again = run_random(
        space,
        objectives,
        (),
        evaluations=30,
        seed=3,
        archive=archive,
        hv_reference=HV_REFERENCE,
        progress=False,
    )
    assert (
        again.n_reused == 30
        and again.n_computed == 0
        and again.hv_history == result.hv_history[-1:]
    )
    with pytest.raises(ConfigError, match="last checkpoint"):
        run_random(
            space,
            objectives,
            (),
            evaluations=30,
            seed=3,
            archive=archive,
            hv_reference=HV_REFERENCE,
            checkpoints=[10, 20],
            progress=False,
        )


def test_bad_arguments_and_mismatched_archive(space, objectives, nsga, make_archive):
    kwargs = dict(
        population=8,
        generations=2,
        crossover_prob=0.9,
        mutation_rate=0.1,
        seed=0,
        hv_reference=HV_REFERENCE,
        progress=False,
    )
    with pytest.raises(ConfigError, match="search.population"):
        run_nsga2(space, objectives, (), archive=make_archive(), **{**kwargs, "population": 1})
    with pytest.raises(ConfigError, match="search.mutation_rate"):
        run_nsga2(space, objectives, (), archive=make_archive(), **{**kwargs, "mutation_rate": 0})
    with pytest.raises(ConfigError, match="other objectives"):
        run_nsga2(space, objectives[:1], (), archive=make_archive(), **kwargs)
