"""Fixed reference sub-networks of a search space: the largest and the smallest.

Used by the sandwich rule of supernet training and as probes of its progress.
"""

from __future__ import annotations

from hyctas.space.arch import LAST_WIDTH, MAX_SCALE, Arch, Cell
from hyctas.space.config import SpaceConfig

# Ops from cheapest to most expensive at equal shape: the extremes take the ends allowed.
COST_ORDER = ("skip", "conv_downup", "conv", "conv_2x_downup", "sa")


def _branch(cfg: SpaceConfig, depth: int, final: int, op: str, width: float) -> tuple[Cell, ...]:
    strides = [2 if i < final else 1 for i in range(depth)]  # go down early: cheapest layout
    return tuple(
        Cell(op=op, width=LAST_WIDTH if i == depth - 1 else width, stride=strides[i])
        for i in range(depth)
    )


def largest_arch(cfg: SpaceConfig) -> Arch:
    """Most branches, deepest, widest; each cell runs the most expensive allowed op but `sa`
    (attention everywhere at 1/8 is not a meaningful network); strides come last."""
    ops = [op for op in COST_ORDER if op in cfg.ops and op != "sa"] or list(cfg.ops)
    depth = cfg.max_depth
    finals = range(min(cfg.max_branches, MAX_SCALE + 1, depth + 1))
    branches = []
    for final in finals:
        strides = [2 if i >= depth - final else 1 for i in range(depth)]
        branches.append(
            tuple(
                Cell(
                    op=ops[-1],
                    width=LAST_WIDTH if i == depth - 1 else max(cfg.widths),
                    stride=strides[i],
                )
                for i in range(depth)
            )
        )
    return Arch(tuple(branches))


def smallest_arch(cfg: SpaceConfig) -> Arch:
    """One branch, shallowest, narrowest, cheapest op, ending at 1/32 (or as low as it can)."""
    op = next(o for o in COST_ORDER if o in cfg.ops)
    final = min(MAX_SCALE, cfg.min_depth)
    return Arch((_branch(cfg, cfg.min_depth, final, op, min(cfg.widths)),))
