"""Genetic operators: validity over random architectures, coverage, determinism."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from hyctas.space import (
    MAX_SCALE,
    OP_NAMES,
    Arch,
    Cell,
    SpaceConfig,
    crossover,
    enumerate_final_scales,
    mutate,
    repair,
    sample_arch,
)

from .conftest import CONFIGS, make_cfg

N = 200


def _population(cfg: SpaceConfig, seed: int, n: int = N) -> list[Arch]:
    rng = np.random.default_rng(seed)
    return [sample_arch(cfg, rng) for _ in range(n)]


def test_enumerate_final_scales() -> None:
    assert enumerate_final_scales(CONFIGS["default"]) == [
        (0,),
        (1,),
        (2,),
        (0, 1),
        (0, 2),
        (1, 2),
        (0, 1, 2),
    ]
    assert enumerate_final_scales(CONFIGS["one_branch"]) == [(0,), (1,), (2,)]
    assert enumerate_final_scales(CONFIGS["two_branches_no_full_width"]) == [(0,), (1,), (0, 1)]
    assert enumerate_final_scales(CONFIGS["three_branches_subset"], sampled_only=True) == [
        (0, 1, 2)
    ]


def test_sample_is_valid_canonical_and_covers_the_space(cfg: SpaceConfig) -> None:
    archs = _population(cfg, seed=0, n=600)
    for arch in archs:
        arch.validate(cfg)
        assert arch == arch.canonical()
    combos = Counter(tuple(a.final_scales()) for a in archs)
    assert set(combos) == set(enumerate_final_scales(cfg, sampled_only=True))
    depths = {d for a in archs for d in a.depths}
    assert min(depths) == cfg.min_depth and max(depths) == cfg.max_depth
    assert {c.op for a in archs for b in a.branches for c in b} == set(cfg.ops)
    inner = {c.width for a in archs for b in a.branches for c in b[:-1]}
    assert inner == (set(cfg.widths) if cfg.max_depth > 1 else set())
    # Downsampling can happen at any cell, including the first and the last.
    downs = {i for a in archs for b in a.branches for i, c in enumerate(b) if c.stride == 2}
    assert downs == set(range(cfg.max_depth))


def test_branch_counts_follow_ratios() -> None:
    cfg = CONFIGS["default"]
    counts = Counter(len(a.branches) for a in _population(cfg, seed=5, n=3000))
    for k, ratio in enumerate(cfg.branch_ratios, start=1):
        assert abs(counts[k] / 3000 - ratio) < 0.04
    never_two = make_cfg(branch_ratios=[0.5, 0.0, 0.5])
    assert 2 not in {len(a.branches) for a in _population(never_two, seed=5)}


def test_mutate_and_crossover_stay_valid(cfg: SpaceConfig) -> None:
    rng = np.random.default_rng(1)
    pop = _population(cfg, seed=2)
    changed = 0
    for i, arch in enumerate(pop):
        other = pop[(i * 7 + 3) % len(pop)]
        for child in crossover(arch, other, cfg, rng):
            child.validate(cfg)
            assert set(child.final_scales()) <= set(arch.final_scales()) | set(other.final_scales())
        for rate in (0.05, 0.3, 1.0):
            mutant = mutate(arch, cfg, rng, rate)
            mutant.validate(cfg)
            assert mutant == mutant.canonical()
            changed += mutant != arch
        assert mutate(arch, cfg, rng, 0.0) == arch
    assert changed > 1.5 * N  # mutation does change architectures


def test_mutation_explores_structure() -> None:
    cfg = CONFIGS["default"]
    rng = np.random.default_rng(4)
    start = sample_arch(cfg, rng)
    seen_counts, seen_finals, seen_depths = set(), set(), set()
    arch = start
    for _ in range(400):
        arch = mutate(arch, cfg, rng, 0.3)
        seen_counts.add(len(arch.branches))
        seen_finals.add(tuple(arch.final_scales()))
        seen_depths.update(arch.depths)
    assert seen_counts == {1, 2, 3}
    assert len(seen_finals) == len(enumerate_final_scales(cfg))
    assert seen_depths == set(range(cfg.min_depth, cfg.max_depth + 1))
    # With one branch allowed, depth and final scale can only change inside the branch.
    one = CONFIGS["one_branch"]
    arch, depths, finals = sample_arch(one, rng), set(), set()
    for _ in range(300):
        arch = mutate(arch, one, rng, 0.3)
        depths.add(arch.depths[0])
        finals.add(arch.final_scale(0))
    assert depths == set(range(one.min_depth, one.max_depth + 1)) and finals == {0, 1, 2}


def test_crossover_recombines() -> None:
    cfg = CONFIGS["default"]
    rng = np.random.default_rng(9)
    a = Arch(((Cell("conv", 0.5, 1), Cell("conv", 0.5, 1), Cell("conv", 1.0, 1)),))
    b = Arch(((Cell("sa", 0.5, 2), Cell("sa", 0.5, 2), Cell("sa", 1.0, 1)),))
    c = Arch(((Cell("skip", 0.5, 2), Cell("skip", 0.5, 1), Cell("skip", 1.0, 2)),))
    assert crossover(b, b, cfg, rng) == (b, b)  # identical parents give themselves back
    # Different final scales: each branch goes to one child or the other, unchanged.
    pairs = {crossover(a, b, cfg, rng) for _ in range(50)}
    for x, y in pairs:
        assert set(x.branches) | set(y.branches) == set(a.branches) | set(b.branches)
    assert any(len(x.branches) == 2 for x, _ in pairs)  # a union appears
    # Same final scale: one-point crossover mixes the cells and keeps the scale.
    mixed = {crossover(b, c, cfg, rng) for _ in range(50)}
    ops = {tuple(cell.op for cell in x.branches[0]) for pair in mixed for x in pair}
    assert any(len(set(o)) == 2 for o in ops)
    assert all(x.final_scales() == [2] for pair in mixed for x in pair)


def _garbage(rng: np.random.Generator) -> Arch:
    ops = (*OP_NAMES, "bogus")
    branches = []
    for _ in range(int(rng.integers(0, 6))):
        branches.append(
            tuple(
                Cell(
                    ops[int(rng.integers(len(ops)))],
                    float(rng.uniform(0.01, 1.5)) if rng.random() < 0.9 else "wide",
                    int(rng.choice([0, 1, 1, 2, 2, 3])),
                )
                for _ in range(int(rng.integers(0, 26)))
            )
        )
    return Arch(tuple(branches))


def test_repair_always_returns_valid(cfg: SpaceConfig) -> None:
    rng = np.random.default_rng(6)
    for _ in range(N):
        fixed = repair(_garbage(rng), cfg, rng)
        fixed.validate(cfg)
        assert max(fixed.final_scales()) <= MAX_SCALE


def test_repair_keeps_valid_archs_and_fixes_known_faults() -> None:
    cfg = CONFIGS["default"]
    rng = np.random.default_rng(8)
    for arch in _population(cfg, seed=3):
        assert repair(arch, cfg, rng) == arch
        assert repair(Arch(arch.branches[::-1]), cfg, rng) == arch
    clash = Arch(((Cell("conv", 0.5, 1), Cell("sa", 1.0, 1)),) * 3)
    fixed = repair(clash, cfg, rng)
    assert sorted(fixed.final_scales()) == [0, 1, 2]
    assert {c.op for b in fixed.branches for c in b} == {"conv", "sa"}
    one = make_cfg(max_branches=1, branch_ratios=[1.0])
    assert len(repair(clash, one, rng).branches) == 1
    deep = Arch((tuple(Cell("conv", 0.51, 2 if i in (3, 9) else 1) for i in range(15)),))
    fixed = repair(deep, cfg, rng)
    assert fixed.depths == (6,) and fixed.final_scales() == [2]
    assert fixed.branches[0][0].width == 0.5 and fixed.branches[0][-1].width == 1.0


@pytest.mark.parametrize("name", ["default", "published_scale", "one_branch"])
def test_same_seed_same_results(name: str) -> None:
    cfg = CONFIGS[name]

    def run(seed: int) -> list[str]:
        rng = np.random.default_rng(seed)
        pop = [sample_arch(cfg, rng) for _ in range(20)]
        for _ in range(5):
            children = []
            for i in range(0, len(pop), 2):
                children.extend(crossover(pop[i], pop[i + 1], cfg, rng))
            pop = [mutate(a, cfg, rng, 0.2) for a in children]
        return [a.id for a in pop]

    assert run(123) == run(123)
    assert run(123) != run(124)
