"""Generate the embedded synthetic street-scene dataset in the official Cityscapes layout.

The frames are procedural street scenes (see `synthetic_scene`, `synthetic_things`,
`synthetic_render`) written exactly like Cityscapes, so the same conversion code runs on them
and on the real dataset:

    root/leftImg8bit/<split>/<city>/<city>_<seq:06d>_000019_leftImg8bit.png
    root/gtFine/<split>/<city>/<city>_<seq:06d>_000019_gtFine_polygons.json
    root/gtFine/<split>/<city>/<city>_<seq:06d>_000019_gtFine_labelIds.png

Example:
    cfg = SyntheticConfig.from_params(params["prepare_data"]["synthetic"])
    summary = generate_dataset(Path("data/prepare_data/dataset"), cfg, seed=0, workers=2)
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from cityscapesscripts.helpers.labels import id2label
from PIL import Image
from tqdm import tqdm

from hyctas.atomic import atomic_path, write_json
from hyctas.data.synthetic_render import make_frame
from hyctas.errors import ConfigError
from hyctas.workers import process_pool

# Bump when the frames made from one (config, seed) change, so older markers are not trusted.
GENERATOR_VERSION = 1
MARKER = ".synthetic_complete.json"
FRAME = 19  # Cityscapes gtFine frames are the 20th of each 30-frame snippet: _000019
SPLIT_CODES = {"train": 0, "val": 1}  # part of each frame's seed: never reorder
CITY_RE = re.compile(r"^[A-Za-z0-9-]+$")  # no "_" : file names are split on it


@dataclass(frozen=True)
class SyntheticConfig:
    """Size of the synthetic dataset (the `prepare_data.synthetic` block of params.yaml)."""

    height: int
    width: int
    train_images: int
    val_images: int
    cities_train: tuple[str, ...]
    cities_val: tuple[str, ...]

    def __post_init__(self) -> None:
        for key, low in (("height", 32), ("width", 32), ("train_images", 1), ("val_images", 1)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(
                    f"prepare_data.synthetic.{key} = {value!r}: expected an integer >= {low}"
                )
        for key in ("cities_train", "cities_val"):
            cities = getattr(self, key)
            bad = [c for c in cities if not isinstance(c, str) or not CITY_RE.match(c)]
            if not cities or bad or len(set(cities)) != len(cities):
                raise ConfigError(
                    f"prepare_data.synthetic.{key} = {list(cities)!r}: expected a non-empty list "
                    "of distinct city names made of letters, digits and '-' (no '_')"
                )

    @classmethod
    def from_params(cls, block: dict[str, Any]) -> SyntheticConfig:
        """Build from `params["prepare_data"]["synthetic"]`; ConfigError names a bad key."""
        if not isinstance(block, dict):
            raise ConfigError(f"prepare_data.synthetic = {block!r}: expected a mapping")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in block]
        unknown = sorted(set(block) - set(names))
        if missing or unknown:
            raise ConfigError(
                f"prepare_data.synthetic: missing keys {missing}, unknown keys {unknown}; "
                f"expected exactly {names}"
            )
        values = dict(block)
        for key in ("cities_train", "cities_val"):
            if not isinstance(values[key], list | tuple):
                raise ConfigError(
                    f"prepare_data.synthetic.{key} = {values[key]!r}: expected a list"
                )
            values[key] = tuple(values[key])
        return cls(**values)

    def frames(self) -> list[tuple[str, int, str]]:
        """Every frame as (split, index, file stem), cities taken in turn."""
        out = []
        for split, n, cities in (
            ("train", self.train_images, self.cities_train),
            ("val", self.val_images, self.cities_val),
        ):
            for i in range(n):
                city = cities[i % len(cities)]
                out.append((split, i, f"{city}_{i // len(cities):06d}_{FRAME:06d}"))
        return out


def frame_paths(root: Path, split: str, stem: str) -> tuple[Path, Path, Path]:
    """Image, polygon JSON and labelIds PNG paths of one frame."""
    city = stem.split("_")[0]
    gt = root / "gtFine" / split / city / f"{stem}_gtFine"
    return (
        root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png",
        Path(f"{gt}_polygons.json"),
        Path(f"{gt}_labelIds.png"),
    )


def _write_frame(task: tuple[str, int, str, int, int, int, str]) -> list[int]:
    """Generate and write one frame; returns its labelIds pixel counts (ids 0..255)."""
    split, index, stem, height, width, seed, root = task
    rng = np.random.default_rng(np.random.SeedSequence([seed, SPLIT_CODES[split], index]))
    polygons, image, label_ids = make_frame(rng, height, width)
    image_path, json_path, ids_path = frame_paths(Path(root), split, stem)
    ok, png = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    if not ok:
        raise RuntimeError(f"{image_path}: PNG encoding failed")
    with atomic_path(image_path) as tmp:
        tmp.write_bytes(png.tobytes())
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(polygons, indent=1) + "\n", encoding="utf-8")
    with atomic_path(ids_path) as tmp:
        Image.fromarray(label_ids).save(tmp, format="PNG")  # uint8 2D: mode "L"
    return np.bincount(label_ids.ravel(), minlength=256).tolist()


def _marker(cfg: SyntheticConfig, seed: int) -> dict[str, Any]:
    return {"generator_version": GENERATOR_VERSION, "config": asdict(cfg), "seed": seed}


def _is_complete(root: Path, cfg: SyntheticConfig, seed: int) -> dict[str, Any] | None:
    """The stored summary if root holds every frame of this exact (config, seed)."""
    try:
        stored = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    key = json.loads(json.dumps(_marker(cfg, seed)))  # tuples -> lists, as stored
    if {k: stored.get(k) for k in key} != key:
        return None
    for split, _, stem in cfg.frames():
        if not all(p.is_file() for p in frame_paths(root, split, stem)):
            return None
    return stored.get("summary")


def _remove_stale(root: Path, cfg: SyntheticConfig) -> None:
    """Delete files of our city folders that this generation does not write.

    Stale frames of a larger earlier run, and files derived from the old frames (such as
    `*_labelTrainIds.png`, which converters skip when present), must not survive.
    """
    planned = {p.name for split, _, stem in cfg.frames() for p in frame_paths(root, split, stem)}
    old_cfg = {}
    try:
        old_cfg = json.loads((root / MARKER).read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    (root / MARKER).unlink(missing_ok=True)
    for split in SPLIT_CODES:
        cities = set(getattr(cfg, f"cities_{split}")) | set(old_cfg.get(f"cities_{split}", []))
        for kind in ("leftImg8bit", "gtFine"):
            for city in sorted(cities):
                folder = root / kind / split / city
                if not folder.is_dir():
                    continue
                for path in folder.iterdir():
                    ours = path.name.startswith((f"{city}_", f".{city}_"))
                    if ours and path.is_file() and path.name not in planned:
                        path.unlink()


def generate_dataset(
    root: Path, cfg: SyntheticConfig, seed: int, workers: int = 1, progress: bool = True
) -> dict[str, Any]:
    """Write the dataset under `root` (skipped when its marker says it is already complete).

    Args:
        root: output folder, owned by the generator (stale files of its cities are deleted).
        cfg: dataset size and city names.
        seed: base seed; frame seeds derive from (seed, split, index), so output files are
            byte-identical for the same (cfg, seed) whatever `workers` is.
        workers: processes; 1 generates in this process.
        progress: show a tqdm progress bar.

    Returns:
        Summary: frames per split, image size, labelIds pixel shares by label name, seconds,
        and `skipped` (True when an identical complete dataset was already there).
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed = {seed!r}: expected a non-negative integer (base.seed)")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"workers = {workers!r}: expected an integer >= 1 (prepare_data.workers)")
    start = time.perf_counter()
    root = Path(root)
    stored = _is_complete(root, cfg, seed)
    if stored is not None:
        return {**stored, "skipped": True, "seconds": round(time.perf_counter() - start, 3)}
    _remove_stale(root, cfg)
    frames = cfg.frames()
    tasks = [(s, i, stem, cfg.height, cfg.width, seed, str(root)) for s, i, stem in frames]
    counts = np.zeros(256, np.int64)
    bar = tqdm(total=len(tasks), desc="synthetic frames", unit="img", disable=not progress)
    if workers == 1:
        for task in tasks:
            counts += _write_frame(task)
            bar.update()
    else:
        # Forked workers (`process_pool`) work for any caller, with or without a `__main__`
        # guard; one OpenCV thread per worker avoids oversubscription.
        n = min(workers, len(tasks))
        with process_pool(n, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
            for c in pool.imap_unordered(_write_frame, tasks):
                counts += c
                bar.update()
    bar.close()
    total = int(counts.sum())
    shares = {
        id2label[i].name: round(int(c) / total, 5)
        for i, c in enumerate(counts)
        if c and i in id2label
    }
    summary = {
        "train": cfg.train_images,
        "val": cfg.val_images,
        "height": cfg.height,
        "width": cfg.width,
        "label_pixel_share": dict(sorted(shares.items(), key=lambda kv: -kv[1])),
    }
    # The marker holds no timing, so identical datasets hash identically (DVC outputs).
    write_json(root / MARKER, {**_marker(cfg, seed), "summary": summary})
    return {**summary, "seconds": round(time.perf_counter() - start, 3), "skipped": False}
