"""The `search_space` block of params.yaml as a validated, frozen dataclass.

Example:
    >>> cfg = SpaceConfig.from_params(yaml.safe_load(open("params.yaml"))["search_space"])
    >>> cfg.channels(scale=1, width=0.5)
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields
from typing import Any

from hyctas.errors import ConfigError
from hyctas.space.arch import MAX_SCALE, OP_NAMES, WIDTH_TOL

# Tolerance on sum(branch_ratios) == 1: YAML users write 0.33/0.33/0.34 or 1/3 rounded.
_RATIO_SUM_TOL = 1e-6
_POSITIVE_INTS = (
    "max_branches",
    "min_depth",
    "max_depth",
    "fch",
    "sa_heads",
    "sa_head_dim",
    "head_skip_channels",
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class SpaceConfig:
    """Shape of the search space; every field comes from params.yaml (no defaults).

    Attributes:
        ops: Allowed op names, a subset of `OP_NAMES`.
        widths: Allowed width multipliers (stored rounded to 6 decimals).
        max_branches: Most branches an architecture may have (1..3).
        min_depth: Fewest cells per branch.
        max_depth: Most cells per branch.
        branch_ratios: Probability of sampling 1, 2, ... max_branches branches.
        fch: Base channel factor; see `channels`.
        sa_heads: Attention heads of the `sa` op.
        sa_head_dim: Per-head dimension of q, k and v in the `sa` op.
        head_skip_channels: Channels of the projected 1/4 stem feature used by the head.
    """

    ops: tuple[str, ...]
    widths: tuple[float, ...]
    max_branches: int
    min_depth: int
    max_depth: int
    branch_ratios: tuple[float, ...]
    fch: int
    sa_heads: int
    sa_head_dim: int
    head_skip_channels: int

    def __post_init__(self) -> None:
        # Normalise sequences so a config built from YAML lists hashes and compares like one
        # built from tuples; validation runs here so direct construction is checked too.
        if isinstance(self.ops, (list, tuple)):
            object.__setattr__(self, "ops", tuple(self.ops))
        if isinstance(self.widths, (list, tuple)):
            widths = tuple(round(float(w), 6) if _is_number(w) else w for w in self.widths)
            object.__setattr__(self, "widths", widths)
        if isinstance(self.branch_ratios, (list, tuple)):
            object.__setattr__(self, "branch_ratios", tuple(self.branch_ratios))
        self._validate()

    @classmethod
    def from_params(cls, block: dict[str, Any]) -> SpaceConfig:
        """Builds the config from the `search_space` block of params.yaml.

        Args:
            block: The parsed `search_space` mapping.

        Returns:
            The validated config.

        Raises:
            ConfigError: A key is missing, unknown or has a bad value; the message names
                `search_space.<key>` and what is allowed.
        """
        if not isinstance(block, dict):
            raise ConfigError(f"search_space: expected a mapping, got {type(block).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(block) - set(names))
        if unknown:
            raise ConfigError(
                f"search_space.{unknown[0]}: unknown key (allowed: {', '.join(names)})"
            )
        missing = [n for n in names if n not in block]
        if missing:
            raise ConfigError(f"search_space.{missing[0]}: missing (every key must be set)")
        return cls(**{n: block[n] for n in names})

    def channels(self, scale: int, width: float) -> int:
        """Channels of a feature at `scale` (0 = 1/8) with width multiplier `width`.

        Rounds half up (not Python's banker's rounding) so the count never depends on
        float parity quirks; at least 1 channel.
        """
        return max(1, math.floor(8 * 2**scale * self.fch * width + 0.5))

    def to_params(self) -> dict[str, Any]:
        """Returns the block as plain lists/ints, the inverse of `from_params`."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def _validate(self) -> None:
        self._check_ops()
        self._check_widths()
        for key in _POSITIVE_INTS:
            value = getattr(self, key)
            if not _is_int(value) or value < 1:
                raise ConfigError(f"search_space.{key}: must be an integer >= 1, got {value!r}")
        if self.max_branches > MAX_SCALE + 1:
            raise ConfigError(
                f"search_space.max_branches: {self.max_branches} is too many (allowed: 1.."
                f"{MAX_SCALE + 1}, one branch per final scale 1/8, 1/16, 1/32)"
            )
        if self.max_depth < self.min_depth:
            raise ConfigError(
                f"search_space.max_depth: {self.max_depth} is below search_space.min_depth "
                f"{self.min_depth}"
            )
        # k branches need k distinct final scales 0..k-1 at least; scale s needs s cells.
        if self.max_depth < self.max_branches - 1:
            raise ConfigError(
                f"search_space.max_depth: {self.max_depth} cells cannot reach "
                f"{self.max_branches} distinct final scales (need max_depth >= "
                f"{self.max_branches - 1} or a smaller search_space.max_branches)"
            )
        self._check_ratios()

    def _check_ops(self) -> None:
        ops = self.ops
        if not isinstance(ops, tuple) or not ops:
            raise ConfigError(
                f"search_space.ops: must be a non-empty list (allowed: {', '.join(OP_NAMES)})"
            )
        for op in ops:
            if op not in OP_NAMES:
                raise ConfigError(
                    f"search_space.ops: op {op!r} unknown (allowed: {', '.join(OP_NAMES)})"
                )
        if len(set(ops)) != len(ops):
            raise ConfigError(f"search_space.ops: repeated op in {list(ops)}")

    def _check_widths(self) -> None:
        widths = self.widths
        if not isinstance(widths, tuple) or not widths:
            raise ConfigError("search_space.widths: must be a non-empty list of numbers > 0")
        for w in widths:
            if not _is_number(w) or w <= 0:
                raise ConfigError(f"search_space.widths: {w!r} is not a number > 0")
        ordered = sorted(widths)
        for lo, hi in itertools.pairwise(ordered):
            if hi - lo <= 2 * WIDTH_TOL:
                raise ConfigError(
                    f"search_space.widths: {lo} and {hi} are closer than {2 * WIDTH_TOL} "
                    "(widths are matched with tolerance; make them distinct)"
                )

    def _check_ratios(self) -> None:
        ratios = self.branch_ratios
        if not isinstance(ratios, tuple) or len(ratios) != self.max_branches:
            raise ConfigError(
                f"search_space.branch_ratios: needs one probability per branch count "
                f"(length {self.max_branches} = search_space.max_branches), got {ratios!r}"
            )
        if any(not _is_number(r) or r < 0 for r in ratios):
            raise ConfigError(
                f"search_space.branch_ratios: probabilities must be numbers >= 0, got {ratios!r}"
            )
        if abs(sum(ratios) - 1.0) > _RATIO_SUM_TOL:
            raise ConfigError(
                f"search_space.branch_ratios: must sum to 1, got {sum(ratios)} for {list(ratios)}"
            )
