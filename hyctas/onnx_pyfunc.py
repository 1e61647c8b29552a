"""The MLflow pyfunc of a segmentation network: an `evaluate` ONNX export -> trainId label maps.

MLflow logs this file as the model's code ("models from code": `hyctas.registry` passes its
path, MLflow copies it into the model and runs it when the model is loaded), so it imports
only numpy, onnxruntime and mlflow: loading a model needs neither torch nor hyctas.

Contract (the model's signature):

* input: a float32 batch (N, 3, H, W) of RGB images scaled to [0, 1] and normalised with
  the model's mean and std (in the model's metadata, `mean`/`std`, and in the ONNX file's);
  any H and W;
* output: int64 label maps (N, H, W), the argmax class (trainId) per pixel.

Each image gets the plain pass of `hyctas predict` (`hyctas.evaluation.inference`): padded at
the bottom and right to multiples of 64 by mirroring (reflect-101), run, logits cropped back.
So `predict(normalize(image)[None])` gives the labels `hyctas predict` writes for that image
with the same `.onnx` file (no flip, scales, windows or `--size`).

Example:
    >>> model = mlflow.pyfunc.load_model("models:/hyctas-searched@fast")
    >>> labels = model.predict(batch)  # (N, H, W) int64
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np

ONNX_ARTIFACT = "onnx"  # key of the ONNX file among the logged model's artifacts
INPUT_MULTIPLE = 64  # the networks take sides that are multiples of this
INPUT_NAME, OUTPUT_NAME = "image", "logits"  # as hyctas.export writes them


def pad_to(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, C, h, w) mirrored (reflect-101) at the bottom and right up to (height, width).

    The same steps as `hyctas.evaluation.inference.pad_to`: one reflection adds at most
    side - 1 pixels, so a frame less than half the target size is mirrored again; a side of
    one pixel is repeated instead.
    """
    while x.shape[-2] < height or x.shape[-1] < width:
        h, w = x.shape[-2:]
        more_h, more_w = max(height - h, 0), max(width - w, 0)
        if min(h, w) < 2:
            return np.pad(x, ((0, 0), (0, 0), (0, more_h), (0, more_w)), mode="edge")
        pads = ((0, 0), (0, 0), (0, min(more_h, h - 1)), (0, min(more_w, w - 1)))
        x = np.pad(x, pads, mode="reflect")
    return x


def label_maps(session: Any, batch: np.ndarray) -> np.ndarray:
    """int64 labels (N, H, W) of a normalised float32 batch (N, 3, H, W), by one padded pass.

    Args:
        session: An ONNX Runtime session of a `hyctas.export` model (free height and width).
        batch: The normalised images.

    Raises:
        ValueError: A batch that is not (N, 3, H, W), or logits not at the input's size.
    """
    x = np.ascontiguousarray(batch, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a float32 batch (N, 3, H, W), got shape {x.shape}")
    h, w = x.shape[-2:]
    m = INPUT_MULTIPLE
    padded = np.ascontiguousarray(pad_to(x, -(-h // m) * m, -(-w // m) * m))
    logits = session.run([OUTPUT_NAME], {INPUT_NAME: padded})[0]
    if logits.shape[-2:] != padded.shape[-2:]:
        raise ValueError(
            f"the network's logits are {logits.shape[-2:]} for an input of {padded.shape[-2:]}; "
            "this model expects full-size logits (what hyctas.export writes)"
        )
    return logits[..., :h, :w].argmax(axis=1).astype(np.int64)


class OnnxSegmenter(mlflow.pyfunc.PythonModel):
    """A pyfunc over the ONNX file logged as the model's `onnx` artifact (see module docstring)."""

    def load_context(self, context: Any) -> None:
        """Open an ONNX Runtime session (CPU) on the model's ONNX artifact."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        # Idle ORT threads otherwise busy-wait after each run (hyctas.export.onnx_session).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            context.artifacts[ONNX_ARTIFACT],
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )

    def predict(
        self, context: Any, model_input: np.ndarray, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        """int64 label maps (N, H, W) of a normalised float32 batch (N, 3, H, W).

        (An `np.ndarray` type hint tells MLflow to take the schema from the logged signature.)
        """
        return label_maps(self.session, np.asarray(model_input))


if __name__ != "hyctas.onnx_pyfunc":  # run by MLflow as a model's code, not imported by hyctas
    mlflow.models.set_model(OnnxSegmenter())
