"""pymoo operators over architectures: shapes, validity, determinism, duplicates."""

from __future__ import annotations

import numpy as np
from pymoo.core.population import Population
from pymoo.core.problem import Problem

from hyctas.search.operators import (
    ArchCrossover,
    ArchDuplicateElimination,
    ArchMutation,
    ArchRepair,
    ArchSampling,
)
from hyctas.space import Arch


def _ids(X):
    return [x.id for x in X.ravel()]


def test_sampling_gives_distinct_valid_archs_from_the_given_generator(space):
    sampling = ArchSampling(space, seed=0)
    X = sampling._do(None, 20, random_state=np.random.default_rng(3))
    assert X.shape == (20, 1) and X.dtype == object
    assert len(set(_ids(X))) == 20
    for arch in X[:, 0]:
        assert isinstance(arch, Arch)
        arch.validate(space)
    np.random.seed(123)  # numpy's global state must not matter
    again = sampling._do(None, 20, random_state=np.random.default_rng(3))
    assert _ids(again) == _ids(X)
    other = sampling._do(None, 20, random_state=np.random.default_rng(4))
    assert _ids(other) != _ids(X)


def test_crossover_mutation_repair_shapes_and_validity(space):
    rng = np.random.default_rng(0)
    parents = ArchSampling(space, 0)._do(None, 10, random_state=rng)
    X = parents[:, 0].reshape(2, 5, 1)
    Y = ArchCrossover(space, prob=1.0)._do(None, X, random_state=rng)
    assert Y.shape == (2, 5, 1)
    M = ArchMutation(space, rate=0.3)._do(None, Y.reshape(-1, 1), random_state=rng)
    R = ArchRepair(space, seed=0)._do(None, M, random_state=rng)
    assert M.shape == R.shape == (10, 1)
    for arch in [*Y.ravel(), *M.ravel()]:
        arch.validate(space)
    assert _ids(R) == _ids(M)  # repair leaves valid architectures unchanged
    assert _ids(M) != _ids(Y.reshape(-1, 1))  # a rate of 0.3 changes something


def test_crossover_probability_through_pymoo(space):
    parents = ArchSampling(space, 0)._do(None, 8, random_state=np.random.default_rng(1))
    pop = Population.new("X", parents)
    mating = np.arange(8).reshape(4, 2)
    problem = Problem(n_var=1, n_obj=2, vtype=object)
    off = ArchCrossover(space, prob=0.0).do(
        problem, pop, mating, random_state=np.random.default_rng(2)
    )
    # prob 0: children are copies of their parents (pymoo lists first children, then second)
    assert _ids(off.get("X")) == _ids(parents[0::2]) + _ids(parents[1::2])
    off = ArchCrossover(space, prob=1.0).do(
        problem, pop, mating, random_state=np.random.default_rng(2)
    )
    assert _ids(off.get("X")) != _ids(parents[0::2]) + _ids(parents[1::2])


def test_duplicate_elimination_by_id(space):
    X = ArchSampling(space, 0)._do(None, 4, random_state=np.random.default_rng(5))
    dup = np.array([[Arch.from_dict(X[1, 0].to_dict())]], dtype=object)  # equal, not identical
    pop = Population.new("X", np.concatenate([X, dup, X[:1]]))
    kept = ArchDuplicateElimination().do(pop)
    assert _ids(kept.get("X")) == _ids(X)
    other = Population.new("X", X[2:])
    kept = ArchDuplicateElimination().do(Population.new("X", X), other)
    assert _ids(kept.get("X")) == _ids(X[:2])
