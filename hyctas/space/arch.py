"""Architectures of the search space as plain, hashable data.

An architecture is 1..3 branches; each branch is a sequence of cells that starts at scale 0
(1/8), moves one scale down at each stride-2 cell, never goes below scale 2 (1/32), and ends
at a final scale no other branch ends at. The last cell of a branch always has width 1.0
(the fusion reads full-width features, as in the published encoding).

Example:
    >>> arch = Arch.from_dict(json.load(open("arch.json")), cfg)
    >>> arch.id, arch.compact()
    ('3f9a0c1b2d4e', 'b0:conv.5|sa1/2|skip1')
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from hyctas.errors import ArchError

if TYPE_CHECKING:
    from hyctas.space.config import SpaceConfig

OP_NAMES = (
    "skip",
    "conv",
    "conv_downup",
    "conv_2x_downup",
    "sa",
)  # published index order
MAX_SCALE = 2  # scales 0 = 1/8, 1 = 1/16, 2 = 1/32
LAST_WIDTH = 1.0  # width of every branch's last cell
WIDTH_TOL = 1e-3  # widths this close to an allowed width are that width
FORMAT = "hyctas-arch/1"
_CELL_KEYS = ("op", "width", "stride")
_COMPACT_CELL = re.compile(r"^([a-z][a-z0-9_]*?[a-z_])(\d+(?:\.\d*)?|\.\d+)(/2)?$")


def scale_name(scale: int) -> str:
    """Human name of a scale index, e.g. 2 -> '1/32'."""
    return f"1/{8 * 2**scale}"


def snap_width(width: float, allowed: tuple[float, ...]) -> float | None:
    """Returns the allowed width within `WIDTH_TOL` of `width`, or None."""
    best = min(allowed, key=lambda a: abs(a - width), default=None)
    return best if best is not None and abs(best - width) <= WIDTH_TOL else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Cell:
    """One cell of a branch.

    Attributes:
        op: Op name, one of `OP_NAMES`.
        width: Output width multiplier (stored rounded to 6 decimals).
        stride: 1 keeps the scale, 2 moves the branch one scale down.
    """

    op: str
    width: float
    stride: int

    def __post_init__(self) -> None:
        # Rounding here makes 2/3 and 0.666667 the same cell (equality, hash and id).
        if _is_number(self.width):
            object.__setattr__(self, "width", round(float(self.width), 6))


@dataclass(frozen=True)
class Arch:
    """A multi-branch architecture; construct, then `check()`/`validate(cfg)`."""

    branches: tuple[tuple[Cell, ...], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "branches", tuple(tuple(b) for b in self.branches))

    # --- scales -------------------------------------------------------------------------
    def input_scales(self, b: int) -> list[int]:
        """Scale of each cell's input in branch `b` (the first is 0 = 1/8)."""
        return [0] + self.output_scales(b)[:-1]

    def output_scales(self, b: int) -> list[int]:
        """Scale of each cell's output in branch `b`."""
        scales, scale = [], 0
        for cell in self.branches[b]:
            scale += 1 if cell.stride == 2 else 0
            scales.append(scale)
        return scales

    def final_scale(self, b: int) -> int:
        """Scale at which branch `b` ends."""
        return sum(1 for c in self.branches[b] if c.stride == 2)

    def final_scales(self) -> list[int]:
        """Final scale of every branch, in branch order."""
        return [self.final_scale(b) for b in range(len(self.branches))]

    # --- identity -----------------------------------------------------------------------
    def canonical(self) -> Arch:
        """The same network with branches ordered by final scale (order does not matter)."""
        order = sorted(range(len(self.branches)), key=self.final_scale)
        return Arch(tuple(self.branches[b] for b in order))

    def canonical_json(self) -> str:
        """Compact, key-sorted JSON of the canonical form; the input of `id`."""
        return json.dumps(self.canonical().to_dict(), sort_keys=True, separators=(",", ":"))

    @cached_property  # hashed once per object: the search asks for ids many times
    def id(self) -> str:
        """12 hex characters of the sha256 of `canonical_json()`."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:12]

    @property
    def depths(self) -> tuple[int, ...]:
        """Number of cells of each branch."""
        return tuple(len(b) for b in self.branches)

    # --- our JSON format ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Our JSON format: {"format": ..., "branches": [[{"op", "width", "stride"}, ...]]}."""
        return {
            "format": FORMAT,
            "branches": [
                [{"op": c.op, "width": round(c.width, 6), "stride": c.stride} for c in branch]
                for branch in self.branches
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], cfg: SpaceConfig | None = None) -> Arch:
        """Parses our JSON format and validates it (against `cfg` when given).

        With `cfg`, widths within `WIDTH_TOL` of an allowed width are snapped to it.

        Raises:
            ArchError: Malformed or invalid; the message names the field and branch/cell.
        """
        if not isinstance(d, dict):
            raise ArchError(f"architecture: expected a JSON object, got {type(d).__name__}")
        if d.get("format") != FORMAT:
            raise ArchError(f"format: expected {FORMAT!r}, got {d.get('format')!r}")
        extra = sorted(set(d) - {"format", "branches"})
        if extra:
            raise ArchError(f"{extra[0]}: unknown key (allowed: format, branches)")
        raw = d.get("branches")
        if not isinstance(raw, list) or not raw:
            raise ArchError("branches: expected a non-empty list of branches")
        branches = []
        for b, branch in enumerate(raw):
            if not isinstance(branch, list):
                raise ArchError(f"branches, branch {b}: expected a list of cells")
            branches.append(tuple(_parse_cell(cell, b, i) for i, cell in enumerate(branch)))
        arch = cls(tuple(branches))
        if cfg is None:
            arch.check()
            return arch
        arch = arch.snapped(cfg)
        arch.validate(cfg)
        return arch

    def snapped(self, cfg: SpaceConfig) -> Arch:
        """Copy with each width within `WIDTH_TOL` of an allowed one replaced by it."""
        allowed = tuple(cfg.widths) + (LAST_WIDTH,)

        def snap(c: Cell) -> Cell:
            w = snap_width(c.width, allowed) if _is_number(c.width) else None
            return Cell(c.op, w, c.stride) if w is not None else c

        return Arch(tuple(tuple(snap(c) for c in branch) for branch in self.branches))

    # --- compact string -----------------------------------------------------------------
    def compact(self) -> str:
        """Readable one-liner: 'b0:conv.5|sa1/2|...;b1:...' (op, width, '/2' when stride 2)."""
        return ";".join(
            f"b{b}:" + "|".join(_compact_cell(c) for c in branch)
            for b, branch in enumerate(self.branches)
        )

    @classmethod
    def from_compact(cls, s: str) -> Arch:
        """Parses `compact()` output (no validation; call `check`/`validate`)."""
        branches = []
        for b, part in enumerate(s.strip().split(";")):
            prefix, sep, body = part.partition(":")
            if not sep or prefix != f"b{b}" or not body:
                raise ArchError(f"compact arch, branch {b}: expected 'b{b}:<cells>', got {part!r}")
            branches.append(
                tuple(_parse_compact_cell(tok, b, i) for i, tok in enumerate(body.split("|")))
            )
        return cls(tuple(branches))

    # --- validation ---------------------------------------------------------------------
    def check(self) -> None:
        """Validates what holds in every search space (ops known, scales, last widths).

        Raises:
            ArchError: Names the field and branch/cell at fault.
        """
        if not self.branches:
            raise ArchError("branches: at least one branch is required")
        if len(self.branches) > MAX_SCALE + 1:
            raise ArchError(
                f"branches: {len(self.branches)} branches, at most {MAX_SCALE + 1} "
                "(one per final scale)"
            )
        for b, branch in enumerate(self.branches):
            if not branch:
                raise ArchError(f"branch {b}: has no cells")
            scale = 0
            for i, c in enumerate(branch):
                where = f"branch {b}, cell {i}"
                if c.op not in OP_NAMES:
                    raise ArchError(
                        f"{where}: op {c.op!r} unknown (allowed: {', '.join(OP_NAMES)})"
                    )
                if not _is_number(c.width) or c.width <= 0:
                    raise ArchError(f"{where}: width {c.width!r} must be a number > 0")
                if type(c.stride) is not int or c.stride not in (1, 2):
                    raise ArchError(f"{where}: stride {c.stride!r} invalid (allowed: 1, 2)")
                if c.stride == 2:
                    scale += 1
                    if scale > MAX_SCALE:
                        raise ArchError(f"{where}: stride 2 would go below {scale_name(MAX_SCALE)}")
            last = branch[-1]
            if abs(last.width - LAST_WIDTH) > WIDTH_TOL:
                raise ArchError(
                    f"branch {b}, cell {len(branch) - 1}: width {last.width} of a branch's last "
                    f"cell must be {LAST_WIDTH}"
                )
        seen: dict[int, int] = {}
        for b in range(len(self.branches)):
            f = self.final_scale(b)
            if f in seen:
                raise ArchError(
                    f"branches {seen[f]} and {b} both end at scale {f} ({scale_name(f)}): "
                    "final scales must be distinct"
                )
            seen[f] = b

    def validate(self, cfg: SpaceConfig) -> None:
        """Validates against a search space: `check()` plus ops, widths, depths, branches.

        Raises:
            ArchError: Names the field and branch/cell at fault.
        """
        self.check()
        if len(self.branches) > cfg.max_branches:
            raise ArchError(
                f"branches: {len(self.branches)} branches but search_space.max_branches is "
                f"{cfg.max_branches}"
            )
        for b, branch in enumerate(self.branches):
            if not cfg.min_depth <= len(branch) <= cfg.max_depth:
                raise ArchError(
                    f"branch {b}: depth {len(branch)} outside [{cfg.min_depth}, {cfg.max_depth}] "
                    "(search_space.min_depth/max_depth)"
                )
            for i, c in enumerate(branch):
                where = f"branch {b}, cell {i}"
                if c.op not in cfg.ops:
                    raise ArchError(
                        f"{where}: op {c.op!r} not in search_space.ops "
                        f"(allowed: {', '.join(cfg.ops)})"
                    )
                if i < len(branch) - 1 and snap_width(c.width, cfg.widths) is None:
                    raise ArchError(
                        f"{where}: width {c.width} not in search_space.widths "
                        f"(allowed: {', '.join(str(w) for w in cfg.widths)})"
                    )


def _parse_cell(cell: Any, b: int, i: int) -> Cell:
    where = f"branches, branch {b}, cell {i}"
    if not isinstance(cell, dict):
        raise ArchError(f"{where}: expected an object with keys op, width, stride")
    for key in _CELL_KEYS:
        if key not in cell:
            raise ArchError(f"{where}: missing key {key!r}")
    extra = sorted(set(cell) - set(_CELL_KEYS))
    if extra:
        raise ArchError(f"{where}: unknown key {extra[0]!r} (allowed: op, width, stride)")
    if not isinstance(cell["op"], str):
        raise ArchError(f"{where}: op must be a string, got {cell['op']!r}")
    if not _is_number(cell["width"]):
        raise ArchError(f"{where}: width must be a number, got {cell['width']!r}")
    if not isinstance(cell["stride"], int) or isinstance(cell["stride"], bool):
        raise ArchError(f"{where}: stride must be 1 or 2, got {cell['stride']!r}")
    return Cell(cell["op"], cell["width"], cell["stride"])


def _compact_cell(c: Cell) -> str:
    width = f"{c.width:.6f}".rstrip("0").rstrip(".")
    width = width[1:] if width.startswith("0.") else width
    return f"{c.op}{width}{'/2' if c.stride == 2 else ''}"


def _parse_compact_cell(token: str, b: int, i: int) -> Cell:
    match = _COMPACT_CELL.match(token)
    if match is None:
        raise ArchError(f"compact arch, branch {b}, cell {i}: cannot parse {token!r}")
    op, width, down = match.groups()
    return Cell(op, float(width), 2 if down else 1)
