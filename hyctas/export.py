"""ONNX export of a trained network, and a numerical check against PyTorch with ONNX Runtime.

The graph takes `image` (N, 3, H, W) float32 (normalised) and returns `logits` (N, C, H, W).
Batch, height and width are dynamic axes: any H, W that are multiples of 64 run, as in
PyTorch. The export uses PyTorch's TorchScript-based exporter (`dynamo=False`): the
`torch.export` one fails on the networks' size arithmetic once height and width are
symbolic (it only exports a fixed size, and 3-4x slower). The attention op's
`scaled_dot_product_attention` becomes plain MatMul/Softmax nodes, so ONNX Runtime builds
the tokens x tokens matrix (memory grows with the square of the attention map's size).

Normalisation, class count and the dataset's class table (names, colours) travel in the
model's `metadata_props` (strings), so a `.onnx` file alone is enough to predict (see
`hyctas.evaluation.predict`).

Example:
    >>> export_onnx(model, "model.onnx", 512, 1024, metadata=checkpoint_metadata(state))
    >>> check_onnx(model, "model.onnx", torch.randn(1, 3, 256, 512))  # max |diff|
    2.3e-06
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hyctas.atomic import atomic_path
from hyctas.errors import HyctasError

DEFAULT_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "image", "logits"
# metadata_props keys written at export and read back by the predictor.
META_MEAN, META_STD, META_CLASSES = "mean", "std", "num_classes"
META_CLASS_TABLE = "class_table"  # the dataset's class names and colours (ClassTable.to_dict)


def checkpoint_metadata(state: dict[str, Any]) -> dict[str, str]:
    """ONNX metadata for a `hyctas.models.factory` checkpoint: normalisation, classes, origin."""
    meta = {
        META_MEAN: json.dumps([float(m) for m in state["mean"]]),
        META_STD: json.dumps([float(s) for s in state["std"]]),
        META_CLASSES: str(int(state["num_classes"])),
        "kind": str(state["kind"]),
        "target": "" if state.get("target") is None else str(state["target"]),
    }
    if state.get("classes") is not None:
        meta[META_CLASS_TABLE] = json.dumps(state["classes"], sort_keys=True)
    if state["kind"] == "segnet":
        meta["arch"] = json.dumps(state["arch"], sort_keys=True)
    else:
        meta["baseline"] = json.dumps(state["baseline"], sort_keys=True)
    return meta


def export_onnx(
    model: nn.Module,
    path: str | Path,
    height: int,
    width: int,
    opset: int = DEFAULT_OPSET,
    metadata: dict[str, str] | None = None,
) -> None:
    """Writes `model` (in eval mode) to `path` as ONNX, atomically.

    Args:
        model: The network (any device; its training flag is restored afterwards).
        path: Output `.onnx` file.
        height: Height of the example input used for tracing (multiple of 64).
        width: Width of the example input (multiple of 64).
        opset: ONNX opset version.
        metadata: Extra string key/values stored in the model's `metadata_props`.

    Raises:
        HyctasError: The export failed (the message carries the exporter's reason).
    """
    import onnx  # optional dependency: only export and its tests need it

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    example = torch.zeros(1, 3, height, width, device=device)
    axes = {0: "batch", 2: "height", 3: "width"}
    try:
        with atomic_path(path) as tmp, warnings.catch_warnings():
            # The exporter warns that it is the legacy one and that traced size checks
            # (the multiple-of-64 test) are not in the graph; both are expected here.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (example,),
                str(tmp),
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
            )
            if metadata:
                proto = onnx.load(str(tmp))
                onnx.helper.set_model_props(proto, {str(k): str(v) for k, v in metadata.items()})
                onnx.save(proto, str(tmp))
    except HyctasError:
        raise
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types
        raise HyctasError(f"{path}: ONNX export failed ({type(exc).__name__}: {exc})") from exc
    finally:
        model.train(was_training)


def onnx_session(path: str | Path, device: str = "cpu") -> Any:
    """An ONNX Runtime session for `path` (CUDA provider first when `device` is cuda)."""
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if str(device).startswith("cuda"):
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    # Idle ORT threads otherwise busy-wait after each run and starve PyTorch's threads
    # (seen: a small PyTorch forward 10-50x slower right after an ORT run on 2 cores).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
        raise HyctasError(f"{path}: not a loadable ONNX model ({exc})") from None


@torch.no_grad()
def check_onnx(model: nn.Module, path: str | Path, x: torch.Tensor) -> float:
    """Max absolute difference between ONNX Runtime's and PyTorch's logits on `x`.

    Args:
        model: The exported network (run in eval mode; its training flag is restored).
        path: The `.onnx` file.
        x: Input batch (N, 3, H, W); H, W need not be the export size.
    """
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        expected = model(x.to(device)).float().cpu().numpy()
    finally:
        model.train(was_training)
    session = onnx_session(path)
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x.detach().cpu().float().numpy()})[0]
    if got.shape != expected.shape:
        raise HyctasError(f"{path}: ONNX output shape {got.shape} != PyTorch {expected.shape}")
    return float(np.abs(got - expected).max())
