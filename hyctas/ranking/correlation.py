"""Rank correlations between two scorings of the same architectures.

Example:
    >>> rank_correlations([0.1, 0.2, 0.3], [0.15, 0.1, 0.4])
    {'kendall_tau': 0.333..., 'kendall_tau_sparse': 0.333..., 'spearman_rho': 0.5}
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import kendalltau, spearmanr

# "Sparse" Kendall tau (Yu et al., ICLR 2020): scores rounded to 0.1 % first, so differences
# below what an evaluation can resolve count as ties rather than as an order.
SPARSE_DECIMALS = 3


def _defined(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def rank_correlations(x: Sequence[float], y: Sequence[float]) -> dict[str, float | None]:
    """Kendall tau-b, sparse Kendall tau (scores rounded to 0.001) and Spearman rho.

    None where undefined: fewer than two pairs, or one side constant.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} scores against {len(y)}")
    if len(x) < 2:
        return dict.fromkeys(("kendall_tau", "kendall_tau_sparse", "spearman_rho"))
    rx, ry = np.round(x, SPARSE_DECIMALS), np.round(y, SPARSE_DECIMALS)
    varies, rounded_varies = np.ptp(x) > 0 and np.ptp(y) > 0, np.ptp(rx) > 0 and np.ptp(ry) > 0
    return {
        "kendall_tau": _defined(kendalltau(x, y).statistic) if varies else None,
        "kendall_tau_sparse": _defined(kendalltau(rx, ry).statistic) if rounded_varies else None,
        "spearman_rho": _defined(spearmanr(x, y).statistic) if varies else None,
    }
