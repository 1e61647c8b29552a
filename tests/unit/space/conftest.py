"""Search-space configs shared by the tests of hyctas.space."""

from __future__ import annotations

from typing import Any

import pytest

from hyctas.search.published import BUNDLED_DIR
from hyctas.space import OP_NAMES, SpaceConfig

PUBLISHED_DIR = BUNDLED_DIR  # copies of the releases, shipped with the package
WIDTHS = (0.333333, 0.5, 0.666667, 0.833333, 1.0)


def params(**overrides: Any) -> dict[str, Any]:
    """A valid `search_space` block (as params.yaml gives it) with some keys replaced."""
    block: dict[str, Any] = {
        "ops": list(OP_NAMES),
        "widths": list(WIDTHS),
        "max_branches": 3,
        "min_depth": 2,
        "max_depth": 6,
        "branch_ratios": [0.4, 0.3, 0.3],
        "fch": 4,
        "sa_heads": 2,
        "sa_head_dim": 16,
        "head_skip_channels": 12,
    }
    block.update(overrides)
    return block


def make_cfg(**overrides: Any) -> SpaceConfig:
    return SpaceConfig.from_params(params(**overrides))


# Named configs the property tests run over: defaults, one branch, a subset of ops and
# widths, tight depths (1 cell, where 1/32 is out of reach), and the published scale.
CONFIGS = {
    "default": make_cfg(),
    "one_branch": make_cfg(max_branches=1, branch_ratios=[1.0], min_depth=1, max_depth=4),
    "three_branches_subset": make_cfg(
        ops=["conv", "sa"], widths=[0.5, 1.0], branch_ratios=[0.0, 0.0, 1.0], max_depth=3
    ),
    "two_branches_no_full_width": make_cfg(
        ops=["skip", "conv_downup"],
        widths=[0.25, 0.75],
        max_branches=2,
        branch_ratios=[0.5, 0.5],
        min_depth=1,
        max_depth=1,
    ),
    "published_scale": make_cfg(
        min_depth=11, max_depth=20, fch=16, sa_heads=1, head_skip_channels=48
    ),
}


@pytest.fixture(params=sorted(CONFIGS))
def cfg(request: pytest.FixtureRequest) -> SpaceConfig:
    """Each named config in turn."""
    return CONFIGS[request.param]


@pytest.fixture
def published_cfg() -> SpaceConfig:
    """The published search space (Fch 16, up to 20 cells per branch)."""
    return CONFIGS["published_scale"]
