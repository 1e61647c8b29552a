"""The build plan of an architecture: its cells as a prefix tree, with channels and scales.

While two branches have taken identical cells (op, width, stride) they compute the same
features, so they share those cells: a cell is one node of a prefix tree, named after the
first branch that reaches it (`b0c3` = cell 3 of branch 0, maybe shared with branches 1, 2).
Both the stand-alone network and the supernet run an architecture through its plan, which
is what makes their forward passes identical.

Example:
    >>> plan = build_plan(arch, cfg)
    >>> [n.name for n in plan.nodes][:3], plan.final_scales
    (['b0c0', 'b0c1', 'b1c1'], (0, 1))
"""

from __future__ import annotations

from dataclasses import dataclass

from hyctas.space.arch import Arch, Cell
from hyctas.space.config import SpaceConfig


@dataclass(frozen=True)
class Node:
    """One cell of the prefix tree.

    Attributes:
        name: Module key, `b{branch}c{index}` of the first branch using the cell.
        parent: Name of the node feeding it, None for the stem's 1/8 feature.
        index: Position of the cell in its branch(es).
        cell: The cell (op, width, stride).
        in_scale: Scale of its input (0 = 1/8).
        c_in: Input channels.
        c_out: Output channels.
    """

    name: str
    parent: str | None
    index: int
    cell: Cell
    in_scale: int
    c_in: int
    c_out: int

    @property
    def out_scale(self) -> int:
        """Scale of the output."""
        return self.in_scale + (1 if self.cell.stride == 2 else 0)


@dataclass(frozen=True)
class BranchEnd:
    """What the fusion reads from one branch.

    Attributes:
        final_scale: Scale of the branch's last cell output.
        last: For each scale up to `final_scale`, the node whose output is the branch's last
            feature at that scale (None: the stem's 1/8 feature).
        channels: Channels of those features, by scale.
    """

    final_scale: int
    last: tuple[str | None, ...]
    channels: tuple[int, ...]


@dataclass(frozen=True)
class Plan:
    """Nodes in execution order (parents first) and the ends of the branches.

    Attributes:
        nodes: Every distinct cell once.
        branches: For each branch, its node names in order.
        ends: For each branch, its `BranchEnd`.
        stem_channels: Channels of the stem's 1/8 feature.
    """

    nodes: tuple[Node, ...]
    branches: tuple[tuple[str, ...], ...]
    ends: tuple[BranchEnd, ...]
    stem_channels: int

    @property
    def final_scales(self) -> tuple[int, ...]:
        """Sorted final scales of the branches."""
        return tuple(sorted(e.final_scale for e in self.ends))

    def end_at(self, scale: int) -> BranchEnd | None:
        """The branch ending at `scale`, or None."""
        return next((e for e in self.ends if e.final_scale == scale), None)


def build_plan(arch: Arch, cfg: SpaceConfig) -> Plan:
    """Lays out `arch` as a prefix tree of cells with their scales and channels.

    Args:
        arch: The architecture (its `check()` must pass).
        cfg: Search space; gives the channels of each (scale, width).

    Returns:
        The plan.
    """
    arch.check()
    stem_c = cfg.channels(0, 1.0)
    by_prefix: dict[tuple[Cell, ...], Node] = {}
    nodes: list[Node] = []
    branches, ends = [], []
    for b, cells in enumerate(arch.branches):
        names: list[str] = []
        parent: Node | None = None
        last: dict[int, tuple[str | None, int]] = {0: (None, stem_c)}
        for i, cell in enumerate(cells):
            prefix = cells[: i + 1]
            node = by_prefix.get(prefix)
            if node is None:
                in_scale = parent.out_scale if parent else 0
                node = Node(
                    name=f"b{b}c{i}",
                    parent=parent.name if parent else None,
                    index=i,
                    cell=cell,
                    in_scale=in_scale,
                    c_in=parent.c_out if parent else stem_c,
                    c_out=cfg.channels(in_scale + (cell.stride == 2), cell.width),
                )
                by_prefix[prefix] = node
                nodes.append(node)
            names.append(node.name)
            last[node.out_scale] = (node.name, node.c_out)
            parent = node
        final = arch.final_scale(b)
        branches.append(tuple(names))
        ends.append(
            BranchEnd(
                final_scale=final,
                last=tuple(last[s][0] for s in range(final + 1)),
                channels=tuple(last[s][1] for s in range(final + 1)),
            )
        )
    return Plan(tuple(nodes), tuple(branches), tuple(ends), stem_c)
