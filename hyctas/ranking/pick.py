"""A stratified pick of architectures: every branch count, each over its latency range.

Example:
    >>> pool = candidate_pool(cfg, predictor.predict, seed=0, size=200)
    >>> picks = stratified_pick(pool, 12)   # 4 per branch count, from fastest to slowest
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hyctas.errors import ConfigError
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig
from hyctas.space.evolve import sample_arch

POOL_SEED_TAG = 3  # random streams of one seed: 1 supernet steps, 2 probes, 3 this pool


@dataclass(frozen=True)
class Candidate:
    """An architecture and its predicted latency."""

    arch: Arch
    latency_ms: float

    @property
    def branches(self) -> int:
        """Number of branches."""
        return len(self.arch.branches)


def candidate_pool(
    cfg: SpaceConfig, latency: Callable[[Arch], float], seed: int, size: int
) -> list[Candidate]:
    """`size` distinct random architectures (`sample_arch`, so `cfg.branch_ratios` sets the
    share of each branch count), drawn from `seed`, with their predicted latency.

    Fewer come back only when the space has fewer than `size` architectures that 20 x `size`
    draws find.
    """
    rng = np.random.default_rng([seed, POOL_SEED_TAG])
    found: dict[str, Arch] = {}
    for _ in range(20 * size):
        if len(found) == size:
            break
        arch = sample_arch(cfg, rng)
        found.setdefault(arch.id, arch)
    return [Candidate(arch, float(latency(arch))) for arch in found.values()]


def spread_order(n: int) -> list[int]:
    """0..n-1 ordered so that every prefix spreads out: both ends, then the middles.

    `spread_order(5)` is [0, 4, 2, 1, 3]: the first K of a pick sorted by latency span it.
    """
    if n <= 2:
        return list(range(n))
    order = [0, n - 1]
    while len(order) < n:
        rest = [i for i in range(n) if i not in order]
        order.append(max(rest, key=lambda i: (min(abs(i - j) for j in order), -i)))
    return order


def _allocate(n: int, sizes: dict[int, int]) -> dict[int, int]:
    """`n` picks dealt over branch counts in turn (fewest branches first), each capped by
    how many candidates it has."""
    alloc = dict.fromkeys(sizes, 0)
    while sum(alloc.values()) < n:
        for k in sorted(sizes):
            if sum(alloc.values()) < n and alloc[k] < sizes[k]:
                alloc[k] += 1
    return alloc


def _along_latency(group: list[Candidate], m: int) -> list[Candidate]:
    """`m` candidates of one branch count nearest to evenly spaced latencies from its
    fastest to its slowest (the middle one when `m` is 1), fastest first."""
    lo, hi = group[0].latency_ms, group[-1].latency_ms
    targets = [lo + (hi - lo) * q for q in (np.linspace(0, 1, m) if m > 1 else [0.5])]
    chosen: list[Candidate] = []
    for target in targets:
        free = [c for c in group if c not in chosen]
        chosen.append(min(free, key=lambda c: (abs(c.latency_ms - target), c.latency_ms)))
    return sorted(chosen, key=lambda c: c.latency_ms)


def stratified_pick(pool: list[Candidate], n: int) -> list[Candidate]:
    """`n` candidates spread over the branch counts and, within each, over its latency range.

    The picks are dealt over the branch counts in the pool in turn; each count's share goes
    to the candidates nearest evenly spaced latencies from its fastest to its slowest. The
    result is ordered so that any first K still spread out: branch counts in turn, and within
    each, its fastest, its slowest, then the middles (`spread_order`). Deterministic: ties
    go to the faster candidate, and the pool's order (its seed) decides nothing else.

    Raises:
        ConfigError: `n` is larger than the pool.
    """
    if n > len(pool):
        raise ConfigError(
            f"rank_check.architectures = {n}: the pool holds only {len(pool)} distinct "
            "architectures; raise rank_check.pool or lower rank_check.architectures"
        )
    groups: dict[int, list[Candidate]] = {}
    for c in sorted(pool, key=lambda c: (c.latency_ms, c.arch.id)):
        groups.setdefault(c.branches, []).append(c)
    alloc = _allocate(n, {k: len(g) for k, g in groups.items()})
    spread = {
        k: [picks[i] for i in spread_order(len(picks))]
        for k, picks in ((k, _along_latency(groups[k], m)) for k, m in alloc.items() if m)
    }
    ordered = []
    for r in range(max(len(p) for p in spread.values())):
        ordered += [spread[k][r] for k in sorted(spread) if r < len(spread[k])]
    return ordered
