"""Every latency-table key a search space can produce, found through probe architectures.

A cell's key depends on its op, its input scale and stride, whether it is the first cell of
its branch (input: the stem) or the last (width 1), the width of the cell before it and its
own width. A fusion's key depends on what it reads from each branch: the channels of the
branch's last feature at each scale (the stem's at 1/8 when the branch's first cell has
stride 2). Rather than re-deriving channels here, we list the positions a branch can have,
build small valid probe architectures that put every (position, op, widths) choice in
place, and collect `plan_keys` of their plans: the keys come from `build_plan` itself.

Example:
    >>> keys = enumerate_keys(cfg, num_classes=19, input_size=(256, 512))
    >>> len(keys)   # default search space (fch 4, depth 2..6, all ops, 3 branches)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from hyctas.latency.keys import OpKey, plan_keys
from hyctas.models.plan import build_plan
from hyctas.space.arch import LAST_WIDTH, MAX_SCALE, Arch, Cell
from hyctas.space.config import SpaceConfig
from hyctas.space.evolve import enumerate_final_scales


@dataclass(frozen=True)
class CellSlot:
    """A kind of position in a branch, with one branch layout (strides) that has it.

    Attributes:
        in_scale: Scale of the cell's input.
        stride: The cell's stride.
        first: First cell of its branch (reads the stem's 1/8 feature).
        last: Last cell of its branch (width 1).
        strides: Strides of a representative branch.
        index: Position of the cell in that branch.
    """

    in_scale: int
    stride: int
    first: bool
    last: bool
    strides: tuple[int, ...]
    index: int


def branch_depths(cfg: SpaceConfig) -> dict[int, range]:
    """Feasible depths of a branch by final scale, for the final scales `cfg` can use."""
    finals = sorted({s for combo in enumerate_final_scales(cfg) for s in combo})
    return {f: range(max(cfg.min_depth, f), cfg.max_depth + 1) for f in finals}


def cell_slots(cfg: SpaceConfig) -> list[CellSlot]:
    """Every distinct (in_scale, stride, first, last) a cell of `cfg` can have."""
    slots: dict[tuple[int, int, bool, bool], CellSlot] = {}
    for final, depths in branch_depths(cfg).items():
        for depth, i in ((d, i) for d in depths for i in range(d)):
            for scale, stride in itertools.product(range(min(i, final) + 1), (1, 2)):
                rest = final - scale - (stride == 2)  # stride-2 cells still to come
                if rest < 0 or rest > depth - 1 - i or scale + (stride == 2) > MAX_SCALE:
                    continue
                kind = (scale, stride, i == 0, i == depth - 1)
                if kind not in slots:
                    # `scale` downs first, this cell, the remaining downs at the end.
                    strides = [2] * scale + [1] * (depth - scale)
                    strides[i] = stride
                    for j in range(depth - rest, depth):
                        strides[j] = 2
                    slots[kind] = CellSlot(*kind, tuple(strides), i)
    return list(slots.values())


def _branch(
    cfg: SpaceConfig, strides: tuple[int, ...], ops: dict[int, str], widths: dict[int, float]
) -> tuple[Cell, ...]:
    """A branch with the given strides; cells not in `ops`/`widths` take the first choice."""
    depth = len(strides)
    return tuple(
        Cell(
            ops.get(i, cfg.ops[0]),
            LAST_WIDTH if i == depth - 1 else widths.get(i, cfg.widths[0]),
            s,
        )
        for i, s in enumerate(strides)
    )


def cell_probes(cfg: SpaceConfig) -> Iterator[Arch]:
    """Single-branch archs placing every op and (previous, own) width at every slot."""
    for slot in cell_slots(cfg):
        before = (None,) if slot.first else cfg.widths
        own = (LAST_WIDTH,) if slot.last else cfg.widths
        for op, w_prev, w in itertools.product(cfg.ops, before, own):
            widths = {slot.index: w}
            if w_prev is not None:
                widths[slot.index - 1] = w_prev
            yield Arch((_branch(cfg, slot.strides, {slot.index: op}, widths),))


def end_probes(cfg: SpaceConfig) -> dict[int, list[tuple[Cell, ...]]]:
    """Branches by final scale, one per distinct set of channels the fusion reads from it."""
    out: dict[int, list[tuple[Cell, ...]]] = {}
    for final, depths in branch_depths(cfg).items():
        layouts = []  # (strides, scales whose last feature is a cell of free width)
        # Downs first: the fusion reads 1/8 from the stem (a 1/8 branch: its one layout).
        layouts.append(((2,) * final + (1,) * (depths.start - final), range(1, final)))
        if final > 0 and depths.stop - 1 >= final + 1:  # a cell at 1/8 before the downs
            depth = max(depths.start, final + 1)
            layouts.append(((1,) + (2,) * final + (1,) * (depth - final - 1), range(final)))
        seen: dict[tuple[int, ...], tuple[Cell, ...]] = {}
        for strides, free in layouts:
            out_scales = list(itertools.accumulate(s == 2 for s in strides))
            for choice in itertools.product(cfg.widths, repeat=len(free)):
                by_scale = dict(zip(free, choice, strict=True))
                widths = {i: by_scale.get(s, cfg.widths[0]) for i, s in enumerate(out_scales)}
                branch = _branch(cfg, strides, {}, widths)
                channels = build_plan(Arch((branch,)), cfg).ends[0].channels
                seen.setdefault(channels, branch)
        out[final] = list(seen.values())
    return out


def fusion_probes(cfg: SpaceConfig) -> Iterator[Arch]:
    """Archs covering every feasible set of final scales with every fusion input."""
    ends = end_probes(cfg)
    for combo in enumerate_final_scales(cfg):
        for branches in itertools.product(*(ends[f] for f in combo)):
            yield Arch(tuple(branches))


def enumerate_keys(cfg: SpaceConfig, num_classes: int, input_size: tuple[int, int]) -> list[OpKey]:
    """Sorted, distinct keys of every piece any architecture of `cfg` can run.

    Args:
        cfg: The search space.
        num_classes: Output classes (the head's size).
        input_size: Image (height, width), multiples of 64.

    Returns:
        The keys, sorted (deterministic for given arguments).
    """
    keys: set[OpKey] = set()
    for arch in itertools.chain(cell_probes(cfg), fusion_probes(cfg)):
        arch.validate(cfg)  # a probe outside the space would add a key no search can use
        keys.update(plan_keys(build_plan(arch, cfg), cfg, num_classes, input_size))
    return sorted(keys)
