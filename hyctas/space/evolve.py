"""Genetic operators over architectures: sampling, mutation, crossover and repair.

Every operator takes a `numpy.random.Generator`, so one seed gives one result, and
returns a valid, canonical architecture (branches ordered by final scale) for its config.

Example:
    >>> rng = np.random.default_rng(0)
    >>> a, b = sample_arch(cfg, rng), sample_arch(cfg, rng)
    >>> child, _ = crossover(a, b, cfg, rng)
    >>> child = mutate(child, cfg, rng, rate=0.1)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from hyctas.space.arch import LAST_WIDTH, MAX_SCALE, Arch, Cell
from hyctas.space.config import SpaceConfig

Branch = list[Cell]
T = TypeVar("T")


def enumerate_final_scales(cfg: SpaceConfig, sampled_only: bool = False) -> list[tuple[int, ...]]:
    """All sorted tuples of distinct final scales an architecture of `cfg` can have.

    Args:
        cfg: The search space.
        sampled_only: Leave out branch counts whose `branch_ratios` entry is 0.

    Returns:
        Tuples such as (2,), (0, 1), (0, 1, 2); scale s needs a depth of at least s.
    """
    combos = []
    for k in range(1, cfg.max_branches + 1):
        if sampled_only and cfg.branch_ratios[k - 1] <= 0:
            continue
        for combo in itertools.combinations(range(MAX_SCALE + 1), k):
            if max(combo) <= cfg.max_depth:
                combos.append(combo)
    return combos


def _pick(rng: np.random.Generator, items: Sequence[T]) -> T:
    return items[int(rng.integers(len(items)))]


def _new_cell(cfg: SpaceConfig, rng: np.random.Generator, stride: int = 1) -> Cell:
    return Cell(_pick(rng, cfg.ops), _pick(rng, cfg.widths), stride)


def sample_branch(cfg: SpaceConfig, rng: np.random.Generator, final: int) -> tuple[Cell, ...]:
    """A random branch ending at scale `final`: depth, ops, widths and stride positions."""
    depth = int(rng.integers(max(cfg.min_depth, final), cfg.max_depth + 1))
    downs = {int(i) for i in rng.choice(depth, size=final, replace=False)}
    cells = [_new_cell(cfg, rng, 2 if i in downs else 1) for i in range(depth)]
    cells[-1] = Cell(cells[-1].op, LAST_WIDTH, cells[-1].stride)
    return tuple(cells)


def sample_arch(cfg: SpaceConfig, rng: np.random.Generator) -> Arch:
    """A random architecture: branch count from `branch_ratios`, then uniform choices.

    The set of final scales is uniform over the feasible sets of that size, so every
    combination (for example a single branch at 1/8, 1/16 or 1/32) can be drawn.
    """
    ratios = np.asarray(cfg.branch_ratios, dtype=float)
    k = 1 + int(rng.choice(cfg.max_branches, p=ratios / ratios.sum()))
    combos = [c for c in enumerate_final_scales(cfg) if len(c) == k]
    finals = _pick(rng, combos)
    return Arch(tuple(sample_branch(cfg, rng, f) for f in finals))


def _other(rng: np.random.Generator, options: Sequence[T], current: T) -> T:
    rest = [o for o in options if o != current]
    return _pick(rng, rest) if rest else current


def _strides(branch: Branch, stride: int) -> list[int]:
    return [i for i, c in enumerate(branch) if c.stride == stride]


def _set_stride(branch: Branch, i: int, stride: int) -> None:
    c = branch[i]
    branch[i] = Cell(c.op, c.width, stride)


def _mutate_depth(branch: Branch, cfg: SpaceConfig, rng: np.random.Generator) -> None:
    grow = rng.random() < 0.5
    if grow and len(branch) < cfg.max_depth:
        branch.insert(int(rng.integers(len(branch) + 1)), _new_cell(cfg, rng))
    elif not grow and len(branch) > cfg.min_depth:
        removed = branch.pop(int(rng.integers(len(branch))))
        ones = _strides(branch, 1)
        if removed.stride == 2 and ones:  # keep the final scale: move the stride elsewhere
            _set_stride(branch, _pick(rng, ones), 2)


def _mutate_strides(branch: Branch, rng: np.random.Generator, rate: float) -> None:
    twos, ones = _strides(branch, 2), _strides(branch, 1)
    if twos and ones and rng.random() < rate:  # move a downsampling step
        i, j = _pick(rng, twos), _pick(rng, ones)
        _set_stride(branch, i, 1)
        _set_stride(branch, j, 2)
    if rng.random() < rate / 2:  # change the final scale by one
        twos, ones = _strides(branch, 2), _strides(branch, 1)
        if ones and len(twos) < MAX_SCALE and (not twos or rng.random() < 0.5):
            _set_stride(branch, _pick(rng, ones), 2)
        elif twos:
            _set_stride(branch, _pick(rng, twos), 1)


def mutate(arch: Arch, cfg: SpaceConfig, rng: np.random.Generator, rate: float) -> Arch:
    """Mutates ops and widths per cell with probability `rate`; more rarely the structure.

    Each branch may also (probability `rate`) gain or lose a cell and move a stride-2 step,
    and (probability `rate / 2`) change its final scale; the architecture may (probability
    `rate / 2`) gain a branch at a free scale or lose one. The result is repaired.
    """
    branches = [list(b) for b in arch.branches]
    for branch in branches:
        for i, c in enumerate(branch):
            op = _other(rng, cfg.ops, c.op) if rng.random() < rate else c.op
            last = i == len(branch) - 1
            width = (
                _other(rng, cfg.widths, c.width) if not last and rng.random() < rate else c.width
            )
            branch[i] = Cell(op, width, c.stride)
        if rng.random() < rate:
            _mutate_depth(branch, cfg, rng)
        _mutate_strides(branch, rng, rate)
    if rng.random() < rate / 2:
        used = {sum(c.stride == 2 for c in b) for b in branches}
        free = [s for s in range(MAX_SCALE + 1) if s not in used and s <= cfg.max_depth]
        if free and len(branches) < cfg.max_branches and (len(branches) == 1 or rng.random() < 0.5):
            branches.append(list(sample_branch(cfg, rng, _pick(rng, free))))
        elif len(branches) > 1:
            branches.pop(int(rng.integers(len(branches))))
    return repair(Arch(tuple(tuple(b) for b in branches)), cfg, rng)


def _boundary_scales(branch: tuple[Cell, ...]) -> list[int]:
    """Scale before cell j for j = 0..len (the last entry is the final scale)."""
    return [0, *itertools.accumulate(1 if c.stride == 2 else 0 for c in branch)]


def _one_point(
    x: tuple[Cell, ...], y: tuple[Cell, ...], rng: np.random.Generator
) -> tuple[tuple[Cell, ...], tuple[Cell, ...]]:
    """One-point crossover of two branches with the same final scale, cut at equal scales."""
    if len(x) < 2:
        return x, y
    sx, sy = _boundary_scales(x), _boundary_scales(y)
    p = int(rng.integers(1, len(x)))
    cuts = [q for q in range(1, len(y)) if sy[q] == sx[p]] or [
        q for q in range(len(y) + 1) if sy[q] == sx[p]
    ]
    # The cut nearest p keeps cells near their position (identical parents -> themselves).
    nearest = min(abs(q - p) for q in cuts)
    q = _pick(rng, [q for q in cuts if abs(q - p) == nearest])
    return x[:p] + y[q:], y[:q] + x[p:]


def crossover(a: Arch, b: Arch, cfg: SpaceConfig, rng: np.random.Generator) -> tuple[Arch, Arch]:
    """Recombines two parents into two children.

    Branches are matched by final scale: where both parents have one, the children get a
    one-point crossover of the pair (cut where both are at the same scale); a branch only
    one parent has goes to either child with probability 1/2. Children are repaired.
    """
    by_a = {a.final_scale(i): br for i, br in enumerate(a.branches)}
    by_b = {b.final_scale(i): br for i, br in enumerate(b.branches)}
    c1: list[tuple[Cell, ...]] = []
    c2: list[tuple[Cell, ...]] = []
    for s in sorted(set(by_a) | set(by_b)):
        if s in by_a and s in by_b:
            x, y = _one_point(by_a[s], by_b[s], rng)
            c1.append(x)
            c2.append(y)
        else:
            (c1 if rng.random() < 0.5 else c2).append(by_a.get(s) or by_b[s])
    if not c1:
        c1.append(_pick(rng, a.branches))
    if not c2:
        c2.append(_pick(rng, b.branches))
    return repair(Arch(tuple(c1)), cfg, rng), repair(Arch(tuple(c2)), cfg, rng)


def _sanitize(c: Cell, cfg: SpaceConfig, rng: np.random.Generator) -> Cell:
    op = c.op if c.op in cfg.ops else _pick(rng, cfg.ops)
    if isinstance(c.width, (int, float)) and not isinstance(c.width, bool):
        width = min(cfg.widths, key=lambda w: abs(w - c.width))
    else:
        width = _pick(rng, cfg.widths)
    stride = 2 if isinstance(c.stride, (int, float)) and c.stride > 1 else 1
    return Cell(op, width, stride)


def _fix_depth(branch: Branch, cfg: SpaceConfig, rng: np.random.Generator) -> None:
    twos = _strides(branch, 2)
    for i in twos[MAX_SCALE:]:  # strides that would go below the coarsest scale
        _set_stride(branch, i, 1)
    while len(branch) > cfg.max_depth:
        ones = _strides(branch, 1)
        branch.pop(_pick(rng, ones) if ones else len(branch) - 1)
    while len(branch) < cfg.min_depth:
        branch.insert(int(rng.integers(len(branch) + 1)), _new_cell(cfg, rng))


def _move_final(branch: Branch, target: int, cfg: SpaceConfig, rng: np.random.Generator) -> None:
    twos = _strides(branch, 2)
    if target < len(twos):
        for i in rng.choice(twos, size=len(twos) - target, replace=False):
            _set_stride(branch, int(i), 1)
        return
    while len(branch) < target:  # target <= max_depth, so this stays within depth limits
        branch.insert(int(rng.integers(len(branch) + 1)), _new_cell(cfg, rng))
    ones = _strides(branch, 1)
    for i in rng.choice(ones, size=target - len(twos), replace=False):
        _set_stride(branch, int(i), 2)


def repair(arch: Arch, cfg: SpaceConfig, rng: np.random.Generator) -> Arch:
    """Returns a valid, canonical architecture for `cfg` close to `arch`.

    Unknown ops are redrawn, widths snapped to the nearest allowed one, strides below 1/32
    removed, depths clipped to [min_depth, max_depth], extra branches dropped at random and
    clashing final scales moved to the nearest free scale (or the branch dropped). A valid
    architecture comes back unchanged apart from branch order.
    """
    branches = [[_sanitize(c, cfg, rng) for c in br] for br in arch.branches if len(br) > 0]
    while len(branches) > cfg.max_branches:
        branches.pop(int(rng.integers(len(branches))))
    for branch in branches:
        _fix_depth(branch, cfg, rng)
    kept: list[Branch] = []
    used: set[int] = set()
    for branch in branches:
        final = len(_strides(branch, 2))
        if final in used:
            free = [s for s in range(MAX_SCALE + 1) if s not in used and s <= cfg.max_depth]
            if not free:
                continue
            best = min(abs(s - final) for s in free)
            final = _pick(rng, [s for s in free if abs(s - final) == best])
            _move_final(branch, final, cfg, rng)
        used.add(final)
        kept.append(branch)
    if not kept:
        return sample_arch(cfg, rng)
    for branch in kept:
        for i, c in enumerate(branch):
            width = LAST_WIDTH if i == len(branch) - 1 else _sanitize(c, cfg, rng).width
            branch[i] = Cell(c.op, width, c.stride)
    result = Arch(tuple(tuple(b) for b in kept)).canonical()
    result.validate(cfg)  # a failure here is a bug in the operators, not bad input
    return result
