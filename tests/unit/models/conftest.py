"""Search-space configs and helpers shared by the tests of hyctas.models."""

from __future__ import annotations

from typing import Any

from hyctas.search.published import BUNDLED_DIR
from hyctas.space.arch import OP_NAMES, Arch
from hyctas.space.config import SpaceConfig

PUBLISHED_DIR = BUNDLED_DIR
WIDTHS = [0.333333, 0.5, 0.666667, 0.833333, 1.0]


def space(**overrides: Any) -> SpaceConfig:
    """A tiny search space (fch 2) with some keys replaced."""
    block: dict[str, Any] = {
        "ops": list(OP_NAMES),
        "widths": WIDTHS,
        "max_branches": 3,
        "min_depth": 1,
        "max_depth": 5,
        "branch_ratios": [0.2, 0.3, 0.5],
        "fch": 2,
        "sa_heads": 2,
        "sa_head_dim": 8,
        "head_skip_channels": 4,
    }
    block.update(overrides)
    return SpaceConfig.from_params(block)


def arch(*branches: str) -> Arch:
    """Architecture from compact branch bodies, e.g. arch('conv1|sa1/2', 'skip1')."""
    return Arch.from_compact(";".join(f"b{b}:{body}" for b, body in enumerate(branches)))
