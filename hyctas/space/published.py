"""Import and export of the published HyCTAS/FasterSeg architecture encoding.

One inner list per branch: `ops` (indices into `OP_NAMES`), `paths` (scale of each cell's
input), `downs` (1 where the cell has stride 2), `widths` (output width of every cell but
the last, whose width is 1.0) and `lasts` (final scale of each branch).

Example:
    >>> arch = from_published(json.load(open("HRTNET_S.json")), cfg)
    >>> to_published(arch)["lasts"]
    [2]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyctas.errors import ArchError
from hyctas.space.arch import LAST_WIDTH, MAX_SCALE, OP_NAMES, Arch, Cell, scale_name, snap_width

if TYPE_CHECKING:
    from hyctas.space.config import SpaceConfig

FIELDS = ("ops", "paths", "downs", "widths", "lasts")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_shapes(d: dict[str, Any]) -> int:
    """Checks the five fields exist and agree in branch and cell counts; returns branches."""
    for key in FIELDS:
        if key not in d:
            raise ArchError(f"{key}: missing (published format needs {', '.join(FIELDS)})")
    lasts = d["lasts"]
    if not isinstance(lasts, list) or not lasts or not all(_is_int(x) for x in lasts):
        raise ArchError(f"lasts: expected a non-empty list of scales, got {lasts!r}")
    n = len(lasts)
    for key in FIELDS[:4]:
        value = d[key]
        if not isinstance(value, list) or not all(isinstance(b, list) for b in value):
            raise ArchError(f"{key}: expected one list per branch")
        if len(value) != n:
            raise ArchError(f"{key}: {len(value)} branches but lasts has {n}")
    for b in range(n):
        depth = len(d["ops"][b])
        if depth == 0:
            raise ArchError(f"ops, branch {b}: has no cells")
        for key, want in (("paths", depth), ("downs", depth), ("widths", depth - 1)):
            got = len(d[key][b])
            if got != want:
                extra = " (one per cell but the last)" if key == "widths" else ""
                raise ArchError(
                    f"{key}, branch {b}: {got} entries but ops has {depth} cells, "
                    f"expected {want}{extra}"
                )
    return n


def _parse_branch(d: dict[str, Any], b: int, cfg: SpaceConfig | None) -> tuple[Cell, ...]:
    ops, paths, downs, widths = (d[k][b] for k in FIELDS[:4])
    cells = []
    for i, index in enumerate(ops):
        if not _is_int(index) or not 0 <= index < len(OP_NAMES):
            allowed = ", ".join(f"{k}={name}" for k, name in enumerate(OP_NAMES))
            raise ArchError(f"ops, branch {b}, cell {i}: op index {index!r} unknown ({allowed})")
        if downs[i] not in (0, 1) or not _is_int(downs[i]):
            raise ArchError(f"downs, branch {b}, cell {i}: must be 0 or 1, got {downs[i]!r}")
        if not _is_int(paths[i]) or not 0 <= paths[i] <= MAX_SCALE:
            raise ArchError(
                f"paths, branch {b}, cell {i}: scale {paths[i]!r} invalid (allowed: 0..{MAX_SCALE})"
            )
        if i == 0 and paths[0] != 0:
            raise ArchError(
                f"paths, branch {b}, cell 0: a branch starts at scale 0, got {paths[0]}"
            )
        if i > 0 and not 0 <= paths[i] - paths[i - 1] <= 1:
            raise ArchError(
                f"paths, branch {b}, cell {i}: scale goes from {paths[i - 1]} to {paths[i]} "
                "(a path may only stay or go down one scale)"
            )
        if i > 0 and paths[i] != paths[i - 1] + downs[i - 1]:
            raise ArchError(
                f"downs, branch {b}, cell {i - 1}: downs is {downs[i - 1]} but paths goes "
                f"from {paths[i - 1]} to {paths[i]} (paths[i+1] must be paths[i] + downs[i])"
            )
        if paths[i] + downs[i] > MAX_SCALE:
            raise ArchError(
                f"downs, branch {b}, cell {i}: stride 2 would go below {scale_name(MAX_SCALE)}"
            )
        width = LAST_WIDTH if i == len(ops) - 1 else widths[i]
        if not _is_number(width) or width <= 0:
            raise ArchError(f"widths, branch {b}, cell {i}: {width!r} is not a number > 0")
        if cfg is not None and i < len(ops) - 1:
            snapped = snap_width(width, cfg.widths)
            if snapped is None:
                raise ArchError(
                    f"widths, branch {b}, cell {i}: width {width} not in search_space.widths "
                    f"(allowed: {', '.join(str(w) for w in cfg.widths)})"
                )
            width = snapped
        cells.append(Cell(OP_NAMES[index], width, 2 if downs[i] else 1))
    final = paths[-1] + downs[-1]
    if d["lasts"][b] != final:
        raise ArchError(
            f"lasts, branch {b}: says scale {d['lasts'][b]} but the cells end at scale {final}"
        )
    return tuple(cells)


def from_published(d: dict[str, Any], cfg: SpaceConfig | None = None) -> Arch:
    """Imports the published encoding (extra keys are ignored).

    Args:
        d: Parsed JSON with keys ops, paths, downs, widths, lasts.
        cfg: When given, widths are snapped to and checked against it, and the result is
            validated against the search space.

    Returns:
        The architecture, branches in the order of the file.

    Raises:
        ArchError: One error naming the field and branch/cell at fault.
    """
    if not isinstance(d, dict):
        raise ArchError(f"published architecture: expected a JSON object, got {type(d).__name__}")
    n = _check_shapes(d)
    arch = Arch(tuple(_parse_branch(d, b, cfg) for b in range(n)))
    first: dict[int, int] = {}
    for b, last in enumerate(d["lasts"]):
        if last in first:
            raise ArchError(
                f"lasts: branches {first[last]} and {b} both end at scale {last} "
                f"({scale_name(last)}): final scales must be distinct"
            )
        first[last] = b
    try:
        arch.check()
        if cfg is not None:
            arch.validate(cfg)
    except ArchError as err:
        raise ArchError(f"published architecture: {err}") from err
    return arch


def to_published(arch: Arch) -> dict[str, list[Any]]:
    """Exports to the published encoding.

    Raises:
        ArchError: The architecture fails `check()` (for example a last width other than 1.0).
    """
    arch.check()
    out: dict[str, list[Any]] = {key: [] for key in FIELDS}
    for b, branch in enumerate(arch.branches):
        out["ops"].append([OP_NAMES.index(c.op) for c in branch])
        out["paths"].append(arch.input_scales(b))
        out["downs"].append([1 if c.stride == 2 else 0 for c in branch])
        out["widths"].append([c.width for c in branch[:-1]])
        out["lasts"].append(arch.final_scale(b))
    return out
