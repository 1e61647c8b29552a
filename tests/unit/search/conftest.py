"""A cheap analytic proxy problem for the searcher: conflicting accuracy and latency.

Accuracy grows with capacity (cells x width x op strength) with diminishing returns, gains
context from coarse scales and attention, and gains from extra branches; latency is a sum of
per-cell costs by op, width and scale plus a cost per branch. Deeper, wider, more branched
networks are more accurate and slower, so the front is a real trade-off.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from hyctas.search import Archive, Constraint, Objective
from hyctas.space import Arch, SpaceConfig

OP_GAIN = {"skip": 0.1, "conv": 1.0, "conv_downup": 0.8, "conv_2x_downup": 1.2, "sa": 1.5}
OP_COST = {"skip": 0.05, "conv": 1.0, "conv_downup": 0.6, "conv_2x_downup": 0.9, "sa": 2.5}
HV_REFERENCE = {"acc": 0.0, "lat_ms": 20.0}


def proxy_accuracy(arch: Arch) -> float:
    """Saturating capacity + context + multi-branch terms, in [0, 1)."""
    capacity, context = 0.0, 0.0
    for b, branch in enumerate(arch.branches):
        for cell, scale in zip(branch, arch.input_scales(b), strict=True):
            capacity += OP_GAIN[cell.op] * cell.width * (1.0 + 0.3 * scale)
            context += (0.5 * scale + (1.0 if cell.op == "sa" else 0.0)) * cell.width
    ops = Counter(c.op for br in arch.branches for c in br)
    diversity = len([o for o in ops if o != "skip"])
    score = (
        0.55 * (1.0 - math.exp(-capacity / 6.0))
        + 0.25 * (1.0 - math.exp(-context / 3.0))
        + 0.05 * math.sqrt(len(arch.branches) - 1)
        + 0.02 * diversity
    )
    return score


def proxy_latency(arch: Arch) -> float:
    """Per-cell cost by op, width squared and scale (coarser = cheaper) + per-branch cost."""
    total = 0.5
    for b, branch in enumerate(arch.branches):
        total += 0.4
        for cell, scale in zip(branch, arch.input_scales(b), strict=True):
            total += OP_COST[cell.op] * cell.width**2 * 0.5**scale
    return total


def proxy_params(arch: Arch) -> float:
    """A second cost to constrain: roughly width-weighted cell count."""
    return sum(c.width * (0.2 if c.op == "skip" else 1.0) for br in arch.branches for c in br)


@pytest.fixture
def space() -> SpaceConfig:
    """The default CPU-sized search space of params.yaml."""
    return SpaceConfig(
        ops=("skip", "conv", "conv_downup", "conv_2x_downup", "sa"),
        widths=(0.333333, 0.5, 0.666667, 0.833333, 1.0),
        max_branches=3,
        min_depth=2,
        max_depth=6,
        branch_ratios=(0.4, 0.3, 0.3),
        fch=4,
        sa_heads=2,
        sa_head_dim=16,
        head_skip_channels=12,
    )


@pytest.fixture
def objectives() -> list[Objective]:
    return [Objective("acc", proxy_accuracy, "max"), Objective("lat_ms", proxy_latency, "min")]


class FakeClock:
    """Advances 1 ms per call, so eval_seconds (the only timing column) is reproducible."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.001
        return self.t


@pytest.fixture
def make_archive(objectives):
    """Factory of empty archives over the proxy objectives (optionally with constraints)."""

    def make(constraints: tuple[Constraint, ...] = ()) -> Archive:
        return Archive(objectives, constraints, clock=FakeClock())

    return make


# Small but real: 16 x 12 = ~190 evaluations in ~0.2 s.
POPULATION, GENERATIONS = 16, 12


@pytest.fixture
def nsga(space, objectives):
    """Runs NSGA-II on the proxy problem with the test settings (overridable)."""

    def run(archive: Archive, seed: int = 0, generations: int = GENERATIONS, constraints=()):
        from hyctas.search import run_nsga2

        return run_nsga2(
            space,
            objectives,
            constraints,
            population=POPULATION,
            generations=generations,
            crossover_prob=0.9,
            mutation_rate=0.15,
            seed=seed,
            archive=archive,
            hv_reference=HV_REFERENCE,
            progress=False,
        )

    return run
