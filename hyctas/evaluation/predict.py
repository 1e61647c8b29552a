"""Run a retrained model (`.pt` checkpoint or exported `.onnx`) on a user's own images.

Each image, of any size, is read as RGB, normalised with the mean/std the model was trained
with (from the checkpoint, or the ONNX file's metadata), then predicted by the inference
routine that `evaluate` and the search use (`hyctas.evaluation.inference.infer`: padded at
the bottom and right to multiples of 64 by mirroring, the logits cropped back; optionally
flipped, multi-scale or in sliding windows). With `size=(H, W)` (multiples of 64) the image
is first resized to that size and the logits resized back bilinearly (use it for images much
larger than the training crops). An ONNX file exported at a fixed size is always resized to
that size, and takes only the plain pass (flip aside).

Per image it writes, atomically, `<stem>_trainIds.png` (uint8 trainIds, the input's size)
and `<stem>_overlay.png` (the class colours of the dataset it was trained on, from the
class table stored in the model, blended over the image).

Example:
    hyctas predict --model results/retrain/fast/model.pt photos/*.jpg --out preds --flip
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hyctas.atomic import atomic_path
from hyctas.data.classes import ClassTable
from hyctas.data.labels import trainid_colors
from hyctas.data.transforms import normalize
from hyctas.errors import DataError, HyctasError
from hyctas.evaluation.inference import PLAIN, InferenceConfig, infer
from hyctas.export import (
    INPUT_NAME,
    META_CLASS_TABLE,
    META_CLASSES,
    META_MEAN,
    META_STD,
    onnx_session,
)
from hyctas.models.network import INPUT_MULTIPLE

CHECKPOINT_SUFFIXES = (".pt", ".pth")
OVERLAY_ALPHA = 0.5  # weight of the class colour in the overlay


@dataclass(frozen=True)
class Predictor:
    """A loaded model: `forward` maps a normalised (1, 3, H, W) batch to (1, C, h, w) logits.

    Attributes:
        forward: The forward pass (CPU float tensors in and out), H and W multiples of 64;
            what `inference.infer` runs.
        mean: RGB normalisation mean (images scaled to [0, 1]).
        std: RGB normalisation std.
        num_classes: Output classes.
        fixed_size: (H, W) the model only accepts, or None for any multiple of 64.
        classes: The class table of the data it was trained on (names, colours), or None
            for a checkpoint written before retrain stored it.
    """

    forward: Callable[[torch.Tensor], torch.Tensor]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    num_classes: int
    fixed_size: tuple[int, int] | None = None
    classes: ClassTable | None = None

    def colors(self) -> np.ndarray:
        """RGB colour per class: the class table's, else the Cityscapes trainId colours."""
        if self.classes is not None:
            return self.classes.colors
        return trainid_colors(self.num_classes)


def _class_table(data: Any, num_classes: int, path: Path) -> ClassTable | None:
    """The class table stored in a model (a dict, or ONNX metadata's JSON text), or None."""
    if data is None:
        return None
    try:
        table = ClassTable.from_dict(json.loads(data) if isinstance(data, str) else data)
    except (KeyError, ValueError, TypeError) as err:
        raise HyctasError(f"{path}: malformed class table in the model ({err})") from None
    if len(table) != num_classes:
        raise HyctasError(
            f"{path}: the model predicts {num_classes} classes but its class table has "
            f"{len(table)}; re-export it from its retrain checkpoint"
        )
    return table


def _torch_predictor(path: Path, device: str) -> Predictor:
    from hyctas.models.factory import load_model

    model, state = load_model(path, device)

    @torch.no_grad()
    def forward(x: torch.Tensor) -> torch.Tensor:
        return model(x.to(device)).float().cpu()

    classes = int(state["num_classes"])
    table = _class_table(state.get("classes"), classes, path)
    return Predictor(forward, tuple(state["mean"]), tuple(state["std"]), classes, classes=table)


def _onnx_predictor(path: Path, device: str) -> Predictor:
    session = onnx_session(path, device)
    meta = session.get_modelmeta().custom_metadata_map
    try:
        mean = tuple(float(v) for v in json.loads(meta[META_MEAN]))
        std = tuple(float(v) for v in json.loads(meta[META_STD]))
        classes = int(meta[META_CLASSES])
    except (KeyError, ValueError, TypeError) as err:
        raise HyctasError(
            f"{path}: no usable {META_MEAN}/{META_STD}/{META_CLASSES} metadata ({err!r}); "
            "export it with hyctas.export.export_onnx(..., metadata=checkpoint_metadata(state))"
        ) from None
    if len(mean) != 3 or len(std) != 3:
        raise HyctasError(f"{path}: mean and std metadata must have 3 values each")
    dims = session.get_inputs()[0].shape
    fixed = (dims[2], dims[3]) if all(isinstance(d, int) for d in dims[2:4]) else None

    def forward(x: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(x.cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(session.run(None, {INPUT_NAME: x})[0]).float()

    table = _class_table(meta.get(META_CLASS_TABLE), classes, path)
    return Predictor(forward, mean, std, classes, fixed, table)


def load_predictor(path: str | Path, device: str = "cpu") -> Predictor:
    """Loads a `.pt`/`.pth` retrained-model checkpoint or an `.onnx` export.

    Raises:
        HyctasError: Missing file, unknown suffix, or unreadable model; names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise HyctasError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix in CHECKPOINT_SUFFIXES:
        return _torch_predictor(path, device)
    if suffix == ".onnx":
        return _onnx_predictor(path, device)
    raise HyctasError(
        f"{path}: unknown model file type {suffix!r}: expected a {'/'.join(CHECKPOINT_SUFFIXES)} "
        "checkpoint written by the retrain stage or an .onnx export"
    )


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); DataError naming the file when unreadable."""
    if not Path(path).is_file():
        raise DataError(f"{path}: image file not found")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: not a readable image (missing, empty or unknown format)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _check_size(size: tuple[int, int]) -> None:
    if any(s <= 0 or s % INPUT_MULTIPLE for s in size):
        raise HyctasError(f"--size {size[0]} {size[1]}: both must be multiples of {INPUT_MULTIPLE}")


def predict_logits(
    predictor: Predictor,
    image: np.ndarray,
    inference: InferenceConfig,
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Class scores (C, H, W) for an RGB uint8 image of any size (see the module docstring).

    Args:
        predictor: The loaded model.
        image: RGB uint8 (H, W, 3).
        inference: Flip, scales and sliding window (`PLAIN`: one padded pass).
        size: Resize to (H, W) first, multiples of 64; the logits are resized back.

    Raises:
        HyctasError: A `size` not made of multiples of 64, or one a fixed-size ONNX model
            does not take, or scales or windows for such a model.
    """
    h, w = image.shape[:2]
    if predictor.fixed_size is not None:
        if size is not None and tuple(size) != predictor.fixed_size:
            raise HyctasError(
                f"the ONNX model only takes {predictor.fixed_size}, not --size {tuple(size)}"
            )
        if inference.scales != (1.0,) or inference.window is not None:
            raise HyctasError(
                f"the ONNX model only takes {predictor.fixed_size}: multi-scale and "
                "sliding-window inference need a model exported with free height and width"
            )
        size = predictor.fixed_size
    if size is not None:
        _check_size(size)
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    x = normalize(image, predictor.mean, predictor.std)[None]
    logits = infer(predictor.forward, x, inference)
    if size is not None:
        logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
    return logits[0]


def overlay(image: np.ndarray, train_ids: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """RGB image with each pixel's class colour blended in (`OVERLAY_ALPHA`)."""
    painted = colors[np.clip(train_ids, 0, len(colors) - 1)].astype(np.float32)
    blend = (1 - OVERLAY_ALPHA) * image.astype(np.float32) + OVERLAY_ALPHA * painted
    return np.clip(blend + 0.5, 0, 255).astype(np.uint8)


def _write_png(path: Path, array: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", array)
    if not ok:
        raise HyctasError(f"{path}: PNG encoding failed")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())


def predict_files(
    model_path: str | Path,
    images: Sequence[str | Path],
    out_dir: str | Path,
    device: str = "cpu",
    inference: InferenceConfig = PLAIN,
    size: tuple[int, int] | None = None,
    colors: np.ndarray | None = None,
    progress: bool = True,
) -> list[tuple[Path, Path]]:
    """Predicts every image and writes its trainIds and overlay PNGs into `out_dir`.

    `colors` (classes x 3, uint8 RGB) paints the overlays; None: the colours of the class
    table stored in the model (the Cityscapes trainId colours for older checkpoints).

    Returns:
        (trainIds path, overlay path) per image, in order.

    Raises:
        HyctasError: Bad model file, unreadable image, two images with one file stem, or
            a bad `size`; nothing is written for images after the failing one.
    """
    paths = [Path(p) for p in images]
    stems: dict[str, Path] = {}
    for p in paths:
        if not p.is_file():
            raise DataError(f"{p}: image file not found")
        if p.stem in stems:
            raise HyctasError(f"{p} and {stems[p.stem]}: same file stem, outputs would clash")
        stems[p.stem] = p
    if size is not None:
        _check_size(size)
    predictor = load_predictor(model_path, device)
    if predictor.num_classes > 255:
        raise HyctasError(f"{model_path}: {predictor.num_classes} classes do not fit a uint8 PNG")
    if colors is None:
        colors = predictor.colors()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p in tqdm(paths, desc="predict", unit="img", disable=not progress):
        image = read_image(p)
        logits = predict_logits(predictor, image, inference, size)
        train_ids = logits.argmax(0).numpy().astype(np.uint8)
        ids_path, overlay_path = out / f"{p.stem}_trainIds.png", out / f"{p.stem}_overlay.png"
        _write_png(ids_path, train_ids)
        _write_png(overlay_path, cv2.cvtColor(overlay(image, train_ids, colors), cv2.COLOR_RGB2BGR))
        written.append((ids_path, overlay_path))
    return written
