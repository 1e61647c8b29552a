"""Built-in search-space config at the scale of the published HyCTAS models.

Used to size architectures given in the published encoding when no params.yaml is at hand
(`hyctas arch info HRTNET_S.json`). Fch 16, the 48-channel head skip and the five widths
are the released settings. The reference attention is single-head with q/k reduced to
C/8 and v = C; ours projects q, k and v to one per-head dim (so the fused kernel runs):
2 heads x 32 keeps the parameter counts of the three published models within 1 % of the
reference code's.

Example:
    >>> cfg = published_space_config()
    >>> cfg.channels(2, 1.0)
    512
"""

from __future__ import annotations

from typing import Any

from hyctas.space.arch import OP_NAMES
from hyctas.space.config import SpaceConfig

PUBLISHED_SEARCH_SPACE: dict[str, Any] = {
    "ops": list(OP_NAMES),
    "widths": [4 / 12, 6 / 12, 8 / 12, 10 / 12, 1.0],
    "max_branches": 3,
    "min_depth": 1,
    "max_depth": 64,  # published models have 11..20 cells; accept any depth the schema does
    "branch_ratios": [0.4, 0.3, 0.3],
    "fch": 16,
    "sa_heads": 2,
    "sa_head_dim": 32,
    "head_skip_channels": 48,
}


def published_space_config() -> SpaceConfig:
    """The published-scale search-space config (see the module docstring)."""
    return SpaceConfig.from_params(dict(PUBLISHED_SEARCH_SPACE))
