"""Class tables: which label values of a dataset are classes (trainIds 0..N-1), which are ignored.

A `ClassTable` lists, in trainId order, each class's name, colour and *value* (the pixel value
that marks the class in the source's label maps), plus the values mapped to the ignore label.
Any other value is unknown: a frame holding one is bad (`prepare_data.on_bad_file`).
Built in: `cityscapes_table()` (the 19 trainIds; values are Cityscapes labelIds) and
`voc_table()` (the 21 PASCAL VOC classes, value = class index, 255 = void). Your own table is a
small YAML or CSV file, read by `load_class_table`:

YAML (`.yaml` / `.yml`): a `classes` list in trainId order, each with a `name`, its label
`value` (0..255) and an optional `color` ([r, g, b] or "#rrggbb"); an optional `ignore` list of
values mapped to the ignore label:

    classes:
      - {name: sky, value: 1, color: [70, 130, 180]}
      - {name: road, value: 2, color: "#804080"}
      - {name: car, value: 5}            # no colour: VOC colour map entry trainId + 1
    ignore: [0, 255]

CSV (`.csv`): a header `name,value` or `name,value,color`, then one class per row in trainId
order (colour `r g b` or `#rrggbb`, may be empty); a row named `ignore` lists an ignored value:

    name,value,color
    sky,1,70 130 180
    road,2,#804080
    car,5,
    ignore,0,
    ignore,255,

`prepare_data` writes the table it used as `classes.json` beside its lists (`write_classes`);
later stages read it with `load_classes(lists_dir)`:

    table = load_classes(Path("data/prepare_data/lists"))
    table.check_num_classes(params["base"]["num_classes"])
    names, colors = table.names, table.colors
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from cityscapesscripts.helpers.labels import labels as CITYSCAPES_LABELS

from hyctas.atomic import write_json
from hyctas.errors import ConfigError, DataError

CLASSES_FILE = "classes.json"  # written by prepare_data into its lists folder
UNKNOWN = -1  # `ClassTable.lut` entry of a value that is neither a class nor ignored
FORMAT_HINT = "the format is described in hyctas/data/classes.py"
VOC_NAMES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
VOC_VOID = 255


def voc_colormap(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map (`labelcolormap`): entry i spreads the bits of i over R, G, B.

    Bit 3k of i sets bit 7-k of red, bit 3k+1 of green, bit 3k+2 of blue.
    """
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, rgb = i, [0, 0, 0]
        for j in range(8):
            for channel in range(3):
                rgb[channel] |= ((c >> channel) & 1) << (7 - j)
            c >>= 3
        cmap[i] = rgb
    return cmap


@dataclass(frozen=True, eq=False)
class ClassTable:
    """Classes of a dataset in trainId order, with their label values and the ignored values."""

    names: list[str]
    colors: np.ndarray  # (N, 3) uint8 RGB
    values: list[int]  # label value of each class in the source's label maps
    ignore_values: list[int]  # label values mapped to the ignore label
    origin: str = field(default="")  # where the table came from (a file, or "voc (built-in)")

    def __post_init__(self) -> None:
        problem = _table_problem(self.names, self.colors, self.values, self.ignore_values)
        if problem:
            raise ValueError(problem)
        object.__setattr__(self, "colors", np.asarray(self.colors, dtype=np.uint8))

    def __len__(self) -> int:
        return len(self.names)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClassTable):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def lut(self, ignore_label: int) -> np.ndarray:
        """A 256-entry int16 map label value -> trainId (`ignore_label` for ignored values,
        `UNKNOWN` (-1) for values neither a class nor ignored)."""
        if not 0 <= ignore_label <= 255 or ignore_label < len(self):
            raise ConfigError(
                f"base.ignore_label = {ignore_label}: expected a value in {len(self)}..255 "
                f"(the class table {self.origin} has trainIds 0..{len(self) - 1})"
            )
        table = np.full(256, UNKNOWN, dtype=np.int16)
        table[self.ignore_values] = ignore_label
        table[self.values] = np.arange(len(self))
        return table

    def check_num_classes(self, num_classes: int, key: str = "base.num_classes") -> None:
        """ConfigError naming `key` when `num_classes` is not the table's length."""
        if num_classes != len(self):
            raise ConfigError(
                f"{key} = {num_classes}, but the class table {self.origin} has {len(self)} "
                f"classes ({', '.join(self.names[:5])}{', ...' if len(self) > 5 else ''}); "
                f"set {key}: {len(self)}, or use a class table with {num_classes} classes"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: names, colours, values, ignore values, origin."""
        return {
            "names": list(self.names),
            "colors": np.asarray(self.colors).tolist(),
            "values": list(self.values),
            "ignore_values": list(self.ignore_values),
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassTable:
        """Inverse of `to_dict` (ValueError or KeyError on malformed data)."""
        return cls(
            names=[str(n) for n in data["names"]],
            colors=_color_array(data["colors"]),
            values=[int(v) for v in data["values"]],
            ignore_values=[int(v) for v in data["ignore_values"]],
            origin=str(data.get("origin", "")),
        )


def _color_array(colors: Any) -> np.ndarray:
    array = np.asarray(colors)
    if array.ndim != 2 or array.shape[1:] != (3,) or ((array < 0) | (array > 255)).any():
        raise ValueError(f"colours must be [r, g, b] triples of 0..255, got {colors!r}")
    return array.astype(np.uint8)


def _table_problem(names, colors, values, ignore_values) -> str | None:
    """What is wrong with a table's fields, or None."""
    if not names:
        return "no classes"
    if any(not isinstance(n, str) or not n.strip() for n in names):
        return f"every class needs a non-empty name, got {list(names)!r}"
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        return f"class name(s) {repeated} appear more than once"
    if len(values) != len(names) or np.shape(colors) != (len(names), 3):
        return f"{len(names)} names, {len(values)} values and {len(colors)} colours"
    if ((np.asarray(colors) < 0) | (np.asarray(colors) > 255)).any():
        return "colours must be [r, g, b] triples of 0..255"
    for kind, group in (("value", values), ("ignored value", ignore_values)):
        bad = [v for v in group if isinstance(v, bool) or not isinstance(v, int | np.integer)]
        bad += [v for v in group if v not in bad and not 0 <= v <= 255]
        if bad:
            return f"{kind}(s) {bad}: expected integers 0..255 (8-bit label maps)"
        repeated = sorted({v for v in group if list(group).count(v) > 1})
        if repeated:
            return f"{kind}(s) {repeated} appear more than once"
    both = sorted(set(values) & set(ignore_values))
    if both:
        return f"value(s) {both} are both a class and ignored"
    return None


def cityscapes_table() -> ClassTable:
    """The 19 Cityscapes trainIds; values are the labelIds, other labelIds are ignored."""
    classes = sorted(
        (label.trainId, label) for label in CITYSCAPES_LABELS if 0 <= label.trainId < 255
    )
    ignored = sorted(
        {
            label.id
            for label in CITYSCAPES_LABELS
            if 0 <= label.id < 256 and not 0 <= label.trainId < 255
        }
    )
    return ClassTable(
        names=[label.name for _, label in classes],
        colors=np.array([label.color for _, label in classes], dtype=np.uint8),
        values=[label.id for _, label in classes],
        ignore_values=ignored,
        origin="cityscapes (built-in)",
    )


def voc_table() -> ClassTable:
    """The 21 PASCAL VOC classes (value = class index, VOC colour map), 255 (void) ignored."""
    return ClassTable(
        names=list(VOC_NAMES),
        colors=voc_colormap(len(VOC_NAMES)),
        values=list(range(len(VOC_NAMES))),
        ignore_values=[VOC_VOID],
        origin="voc (built-in)",
    )


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def _parse_color(value: Any, where: str) -> list[int] | None:
    """A colour cell/entry: None or "" (none), [r, g, b], "r g b" or "#rrggbb"."""
    if value is None or value == "":
        return None
    parts = value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("#") and len(text) == 7:
            parts = [
                int(text[i : i + 2], 16) if _is_hex(text[i : i + 2]) else "x" for i in (1, 3, 5)
            ]
        else:
            parts = text.replace(",", " ").split()
    try:
        rgb = [int(c) for c in parts]
    except (TypeError, ValueError):
        rgb = []
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise ValueError(f"{where}: colour {value!r}: expected [r, g, b] (0..255) or '#rrggbb'")
    return rgb


def _parse_value(value: Any, where: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise ValueError(f"{where}: value {value!r}: expected an integer 0..255")
    return value


def _rows_from_yaml(text: str) -> tuple[list[dict], list[Any]]:
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("classes"), list):
        raise ValueError("expected a mapping with a `classes` list (and an optional `ignore` list)")
    unknown = sorted(set(data) - {"classes", "ignore"})
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}; expected `classes` and `ignore`")
    ignore = data.get("ignore") or []
    if not isinstance(ignore, list):
        raise ValueError(f"ignore: {ignore!r}: expected a list of values")
    rows = []
    for i, entry in enumerate(data["classes"]):
        if not isinstance(entry, dict) or not {"name", "value"} <= set(entry):
            raise ValueError(f"classes[{i}]: {entry!r}: expected {{name: ..., value: ...}}")
        extra = sorted(set(entry) - {"name", "value", "color"})
        if extra:
            raise ValueError(f"classes[{i}]: unknown key(s) {extra}; expected name, value, color")
        rows.append({**entry, "where": f"classes[{i}]"})
    return rows, [_parse_value(v, f"ignore[{i}]") for i, v in enumerate(ignore)]


def _rows_from_csv(text: str) -> tuple[list[dict], list[int]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if header not in (["name", "value"], ["name", "value", "color"]):
        raise ValueError(f"header {header}: expected `name,value` or `name,value,color`")
    reader.fieldnames = header
    rows, ignore = [], []
    for row in reader:
        line = reader.line_num
        if None in row or any(v is None for v in row.values()):
            raise ValueError(f"line {line}: expected {len(header)} comma-separated cells")
        name = row["name"].strip()
        if not name and not row["value"].strip():
            continue  # blank line
        if name == "ignore":
            ignore.append(_parse_value(row["value"], f"line {line}"))
        else:
            where = f"line {line}"
            rows.append(
                {"name": name, "value": row["value"], "color": row.get("color"), "where": where}
            )
    return rows, ignore


def load_class_table(path: str | Path) -> ClassTable:
    """Read a class table file (YAML or CSV, see the module docstring).

    Raises:
        DataError: the file is missing, unreadable or malformed; the message names it and the fix.
    """
    path = Path(path)
    if path.suffix.lower() not in (".yaml", ".yml", ".csv"):
        raise DataError(f"{path}: a class table must be a .yaml, .yml or .csv file; {FORMAT_HINT}")
    if not path.is_file():
        raise DataError(
            f"{path}: class table not found; write it ({FORMAT_HINT}) or fix the path "
            "in params.yaml"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's CSV may start with a BOM
        if path.suffix.lower() == ".csv":
            rows, ignore = _rows_from_csv(text)
        else:
            rows, ignore = _rows_from_yaml(text)
        if not rows:
            raise ValueError("no classes")
        values = [_parse_value(r["value"], r["where"]) for r in rows]
        colors = [_parse_color(r.get("color"), r["where"]) for r in rows]
        # VOC colour map entries from 1 on: entry 0 is black, the colour overlays give void.
        default = voc_colormap(len(rows) + 1)[1:]
        return ClassTable(
            names=[r["name"] for r in rows],
            colors=np.array(
                [c if c is not None else default[i] for i, c in enumerate(colors)], np.uint8
            ),
            values=values,
            ignore_values=ignore,
            origin=str(path),
        )
    except (OSError, UnicodeDecodeError, yaml.YAMLError, csv.Error, ValueError) as exc:
        raise DataError(f"{path}: malformed class table: {exc}; {FORMAT_HINT}") from None


def write_classes(folder: Path, table: ClassTable, source: str) -> Path:
    """Write `table` (and the prepare_data source it served) as `folder/classes.json`."""
    path = Path(folder) / CLASSES_FILE
    write_json(path, {"source": source, **table.to_dict()})
    return path


def load_classes(lists_dir: str | Path) -> ClassTable:
    """The class table prepare_data used, from `lists_dir/classes.json`.

    Raises:
        DataError: the file is missing (lists written by an older prepare_data) or malformed.
    """
    path = Path(lists_dir) / CLASSES_FILE
    if not path.is_file():
        raise DataError(
            f"{path}: class table not found; run the prepare_data stage again "
            "(it writes classes.json beside the file lists)"
        )
    try:
        return ClassTable.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{path}: malformed class table ({exc}); run the prepare_data stage again"
        ) from None
