"""Rank correlations between two scorings of the same architectures.

Example:
    >>> rank_correlations([0.1, 0.2, 0.3], [0.15, 0.1, 0.4])
    {'kendall_tau': 0.333..., 'kendall_tau_sparse': 0.333..., 'spearman_rho': 0.5}
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import DegenerateDataWarning, bootstrap, kendalltau, spearmanr

# "Sparse" Kendall tau (Yu et al., ICLR 2020): scores rounded to 0.1 % first, so differences
# below what an evaluation can resolve count as ties rather than as an order.
SPARSE_DECIMALS = 3
# Resamples of the architectures for a tau's bootstrap spread: at 4000 its standard error
# moves by about 1 % of itself between generator seeds; the generator is seeded so the
# figure is reproducible.
BOOTSTRAP_RESAMPLES = 4000


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


def tau_spread(
    x: Sequence[float], y: Sequence[float], confidence: float = 0.9
) -> dict[str, float | None]:
    """Bootstrap spread of Kendall tau-b between `x` and `y` over the architectures.

    The architectures are resampled with replacement (pairs kept together,
    `BOOTSTRAP_RESAMPLES` times, a fixed generator seed): what the tau would do over another
    draw of as many architectures from the same space. Resamples with a constant side have
    no tau and are left out.

    Returns:
        `se` (standard deviation of the resampled taus) and `low`, `high` (the percentile
        interval at `confidence`): all None with fewer than 3 architectures or no tau.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} scores against {len(y)}")
    if len(x) < 3 or not (np.ptp(x) > 0 and np.ptp(y) > 0):
        return dict.fromkeys(("se", "low", "high"))
    return _bootstrap((x, y), lambda a, b: kendalltau(a, b).statistic, confidence)


def tau_gap(
    x_a: Sequence[float], x_b: Sequence[float], y: Sequence[float], confidence: float = 0.9
) -> dict[str, float | None]:
    """How much better scoring `x_a` ranks than `x_b` against the same reference `y`.

    The gap tau(x_a, y) - tau(x_b, y) and its paired bootstrap spread: each resample draws
    the architectures once for both scorings, so what they share (the reference's noise, the
    draw of architectures) cancels, and a gap far smaller than either tau's own spread can
    be resolved. Two supernets, or a supernet and a zero-cost proxy, scored on the same
    architectures.

    Returns:
        `gap`, `se`, `low`, `high` (as `tau_spread`'s): all None with fewer than 3
        architectures or a constant side.
    """
    x_a, x_b, y = (np.asarray(v, float) for v in (x_a, x_b, y))
    if not len(x_a) == len(x_b) == len(y):
        raise ValueError(f"{len(x_a)} and {len(x_b)} scores against {len(y)}")
    if len(y) < 3 or not all(np.ptp(v) > 0 for v in (x_a, x_b, y)):
        return dict.fromkeys(("gap", "se", "low", "high"))

    def gap(a: np.ndarray, b: np.ndarray, reference: np.ndarray) -> float:
        return kendalltau(a, reference).statistic - kendalltau(b, reference).statistic

    return {"gap": float(gap(x_a, x_b, y)), **_bootstrap((x_a, x_b, y), gap, confidence)}


def _bootstrap(
    data: tuple[np.ndarray, ...], statistic: Callable[..., float], confidence: float
) -> dict[str, float | None]:
    """`se`, `low`, `high` of `statistic` over `BOOTSTRAP_RESAMPLES` paired resamples of the
    architectures (a fixed generator seed); resamples where it is undefined are left out."""
    with warnings.catch_warnings():
        # A perfect order resamples to tau 1 every time: scipy warns that its own interval is
        # degenerate; the spread below (0) is the right answer.
        warnings.simplefilter("ignore", DegenerateDataWarning)
        values = bootstrap(
            data,
            statistic,
            paired=True,
            vectorized=False,
            n_resamples=BOOTSTRAP_RESAMPLES,
            method="percentile",
            confidence_level=confidence,
            rng=np.random.default_rng(0),
        ).bootstrap_distribution
    # The interval is read here rather than from scipy's result, which is NaN as soon as one
    # resample has no value.
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return dict.fromkeys(("se", "low", "high"))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return {"se": float(np.std(values, ddof=1)), "low": float(low), "high": float(high)}


def tau_within_groups(
    x: Sequence[float], y: Sequence[float], groups: Sequence[object]
) -> dict[str, object]:
    """Kendall tau-b of `x` against `y` inside each group, and over all of them.

    Over a space whose groups (branch counts) differ in mean accuracy, a scoring that only
    orders the groups reaches a fair tau over everything while ranking nothing inside a
    group, where a search's pick competes with the other networks of its latency band.

    Returns:
        `by_group` ({group: tau, None where it has fewer than two members or a constant
        side}) and `pooled`: the groups' taus averaged with weights of their pair counts
        (a single group's tau; None where no group has one).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if not len(x) == len(y) == len(groups):
        raise ValueError(f"{len(x)} and {len(y)} scores in {len(groups)} groups")
    by_group: dict[object, float | None] = {}
    weighted = weights = 0.0
    for group in sorted(set(groups), key=str):
        inside = np.array([g == group for g in groups])
        tau = rank_correlations(x[inside], y[inside])["kendall_tau"]
        by_group[group] = tau
        if tau is not None:
            pairs = inside.sum() * (inside.sum() - 1) / 2
            weighted, weights = weighted + pairs * tau, weights + pairs
    return {"by_group": by_group, "pooled": float(weighted / weights) if weights else None}


def group_order_tau(y: Sequence[float], groups: Sequence[object]) -> float | None:
    """Kendall tau-b against `y` of a scoring that knows only each group's mean of `y`.

    What ordering the groups by their means, and nothing inside them, is worth against this
    reference: read off the reference itself, so a measure of how much of the reference's
    order lies between the groups, not a proxy. None where undefined (one group, or a
    constant side).
    """
    y = np.asarray(y, float)
    if len(y) != len(groups):
        raise ValueError(f"{len(y)} scores in {len(groups)} groups")
    members: dict[object, list[float]] = {}
    for value, group in zip(y, groups, strict=True):
        members.setdefault(group, []).append(value)
    return rank_correlations([np.mean(members[g]) for g in groups], y)["kendall_tau"]


def noise_ceilings(first: Sequence[float], second: Sequence[float]) -> dict[str, float | None]:
    """How well a perfect proxy could rank against stand-alone mIoU, given two seeds' runs.

    The model: the stand-alone mIoU of architecture i under a seed is its true mIoU plus
    noise of one variance for every architecture, independent across seeds. From K pairs
    (`first[i]`, `second[i]`) the noise variance is var(a - b) / 2 (a shift of one seed's
    mIoU as a whole changes no order, so it is not noise); the reliability of a reference is
    1 - its noise variance / its variance over the architectures (one seed: the noise
    variance; the mean of two: half of it). A proxy equal to the true mIoU has Pearson
    sqrt(reliability) against the reference and, for normal scores, Kendall tau
    (2 / pi) arcsin of that (Greiner's relation). On average the measured seed-to-seed tau
    is lower than the first: two noisy runs agree less than one of them with the truth. At
    K = 12 the estimates run a little low (about 0.02) and spread by about 0.1.

    Returns:
        `seed_noise_std` (mIoU), `ceiling_tau_one_seed`, `ceiling_tau_seed_mean`: all None
        with fewer than 3 pairs or when neither seed varies; a ceiling alone is None when its
        reference does not vary (the two seeds' mean can be constant while each seed is not).
    """
    a, b = np.asarray(first, float), np.asarray(second, float)
    if len(a) != len(b):
        raise ValueError(f"{len(a)} first-seed scores against {len(b)} second-seed ones")
    keys = ("seed_noise_std", "ceiling_tau_one_seed", "ceiling_tau_seed_mean")
    one_seed_var = (np.var(a, ddof=1) + np.var(b, ddof=1)) / 2 if len(a) >= 3 else 0.0
    if one_seed_var <= 0:
        return dict.fromkeys(keys)
    mean_var = float(np.var((a + b) / 2, ddof=1))
    noise = float(np.var(a - b, ddof=1) / 2)

    def ceiling(noise_var: float, var: float) -> float | None:
        if var <= 0:
            return None
        reliability = min(1.0, max(0.0, 1 - noise_var / var))
        return float(2 / math.pi * math.asin(math.sqrt(reliability)))

    return {
        "seed_noise_std": math.sqrt(noise),
        "ceiling_tau_one_seed": ceiling(noise, one_seed_var),
        "ceiling_tau_seed_mean": ceiling(noise / 2, mean_var),
    }


def band_pair_agreement(
    latency: Sequence[float],
    x: Sequence[float],
    y: Sequence[float],
    band: float,
    *,
    symmetric: bool = False,
) -> dict[str, int]:
    """How often a scoring `x` orders the architectures of one latency band as the
    reference `y` does.

    A pair is in a band when its predicted latencies differ by at most a factor `1 + band`
    (comparable to the +-band `select` draws random architectures from): that is where a
    search's pick competes. A pair the reference ties has no order to agree with and is
    counted apart (`ties`); a pair `x` ties but `y` orders is a disagreement. With
    `symmetric` (two runs of the reference, neither more the reference than the other) a
    pair either ties is counted apart. Pairs closer than the reference's noise agree by
    chance, so read the count beside the seeds' own.

    Returns:
        `pairs` (in a band, not tied), `agree` (of those, ordered alike by `x` and `y`) and
        `ties` (in a band, tied by `y`, or by either with `symmetric`).
    """
    t, a, b = (np.asarray(v, float) for v in (latency, x, y))
    if not len(t) == len(a) == len(b):
        raise ValueError(f"{len(t)} latencies, {len(a)} and {len(b)} scores")
    pairs = agree = ties = 0
    for i in range(len(t)):
        for j in range(i + 1, len(t)):
            if max(t[i], t[j]) > (1 + band) * min(t[i], t[j]):
                continue
            if b[i] == b[j] or (symmetric and a[i] == a[j]):
                ties += 1
                continue
            pairs += 1
            agree += int(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) > 0)
    return {"pairs": pairs, "agree": agree, "ties": ties}
