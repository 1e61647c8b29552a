"""The largest and smallest reference architectures are valid for every config."""

from __future__ import annotations

import itertools

import pytest

from hyctas.space.config import SpaceConfig
from hyctas.space.extremes import largest_arch, smallest_arch


@pytest.mark.parametrize(
    ("branches", "min_depth", "max_depth", "ops"),
    list(
        itertools.product(
            [1, 2, 3], [1, 2], [2, 5], [("conv", "sa"), ("sa",), ("skip", "conv_downup")]
        )
    ),
)
def test_extremes_are_valid(branches, min_depth, max_depth, ops):
    ratios = [1.0 / branches] * branches
    cfg = SpaceConfig(
        ops=ops,
        widths=(0.5, 1.0),
        max_branches=branches,
        min_depth=min_depth,
        max_depth=max_depth,
        branch_ratios=tuple(ratios),
        fch=2,
        sa_heads=1,
        sa_head_dim=4,
        head_skip_channels=4,
    )
    big, small = largest_arch(cfg), smallest_arch(cfg)
    big.validate(cfg)
    small.validate(cfg)
    assert len(big.branches) == min(branches, max_depth + 1) and len(small.branches) == 1
    assert sum(big.depths) > sum(small.depths) or branches == 1
