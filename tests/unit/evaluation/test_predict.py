"""`hyctas predict`: images of any size, .pt and .onnx models, padding/resize, clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from hyctas.cli import main
from hyctas.data.classes import ClassTable
from hyctas.errors import DataError, HyctasError
from hyctas.evaluation.inference import PLAIN, InferenceConfig, SlidingWindow
from hyctas.evaluation.predict import Predictor, predict_files, predict_logits
from hyctas.export import checkpoint_metadata, export_onnx
from hyctas.models.factory import build_model
from hyctas.train.checkpoint import save_checkpoint
from tests.conftest import tiny_baseline

CLASSES = 4
H, W = 100, 150  # not multiples of 64
FLIP = InferenceConfig(flip=True, scales=(1.0,), window=None)
# The dataset's own classes, stored in the checkpoint by retrain: names and colours.
TABLE = ClassTable(
    names=["sky", "road", "car", "tree"],
    colors=np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8),
    values=[1, 2, 3, 4],
    ignore_values=[0],
    origin="test table",
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny trained-looking baseline as a .pt checkpoint and as an .onnx export."""
    root = tmp_path_factory.mktemp("models")
    net, state, cfg = tiny_baseline(CLASSES, True, [0.3, 0.4, 0.5], [0.2, 0.25, 0.3])
    state["classes"] = TABLE.to_dict()
    save_checkpoint(root / "model.pt", state)
    inference = build_model("baseline", num_classes=CLASSES, aux=False, baseline=cfg)
    inference.load_state_dict({k: v for k, v in state["model"].items() if "aux" not in k})
    export_onnx(inference, root / "model.onnx", 64, 64, metadata=checkpoint_metadata(state))
    return {"pt": root / "model.pt", "onnx": root / "model.onnx"}


@pytest.fixture()
def images(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for name, (h, w) in {"street.png": (H, W), "tall.jpg": (130, 70)}.items():
        image = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (9, 9), 3)
        cv2.imwrite(str(tmp_path / name), image)
        paths.append(tmp_path / name)
    return paths


@pytest.mark.parametrize("kind", ["pt", "onnx"])
def test_writes_trainids_and_overlay_at_the_original_size(
    kind: str, models: dict[str, Path], images: list[Path], tmp_path: Path
) -> None:
    written = predict_files(models[kind], images, tmp_path / "out", progress=False)
    assert [p.name for pair in written for p in pair] == [
        "street_trainIds.png",
        "street_overlay.png",
        "tall_trainIds.png",
        "tall_overlay.png",
    ]
    for (ids_path, overlay_path), shape in zip(written, [(H, W), (130, 70)], strict=True):
        ids = cv2.imread(str(ids_path), cv2.IMREAD_UNCHANGED)
        assert ids.dtype == np.uint8 and ids.shape == shape and ids.max() < CLASSES
        assert cv2.imread(str(overlay_path)).shape == (*shape, 3)
    assert not list((tmp_path / "out").glob(".*tmp*"))  # atomic writes left nothing behind


def test_pt_and_onnx_agree(models: dict[str, Path], images: list[Path], tmp_path: Path) -> None:
    maps = {}
    for kind in ("pt", "onnx"):
        ids_path, _ = predict_files(models[kind], images[:1], tmp_path / kind, progress=False)[0]
        maps[kind] = cv2.imread(str(ids_path), cv2.IMREAD_UNCHANGED)
    assert len(np.unique(maps["pt"])) >= 2  # not a constant map
    assert (maps["pt"] == maps["onnx"]).mean() > 0.999


@pytest.mark.parametrize("kind", ["pt", "onnx"])
def test_resize_and_flip_options(
    kind: str, models: dict[str, Path], images: list[Path], tmp_path: Path
) -> None:
    written = predict_files(
        models[kind], images, tmp_path / "out", inference=FLIP, size=(64, 128), progress=False
    )
    assert cv2.imread(str(written[0][0]), cv2.IMREAD_UNCHANGED).shape == (H, W)
    with pytest.raises(HyctasError, match="multiples of 64"):
        predict_files(models[kind], images, tmp_path / "out", size=(100, 128), progress=False)


def _echo(fixed: tuple[int, int] | None = None, seen: list | None = None) -> Predictor:
    """A fake model whose 'logits' are its normalised input: shows what the network saw."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        if seen is not None:
            seen.append(tuple(x.shape[-2:]))
        return x.clone()

    return Predictor(forward, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 3, fixed)


def test_padding_is_cropped_away_and_flip_averages() -> None:
    image = np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    expected = torch.from_numpy(image.transpose(2, 0, 1) / 255.0).float()
    seen: list = []
    torch.testing.assert_close(predict_logits(_echo(seen=seen), image, PLAIN), expected)
    assert seen == [(128, 192)]  # padded to multiples of 64
    # The mirrored pass, mirrored back, sees the same pixels: the mean is the plain pass.
    torch.testing.assert_close(predict_logits(_echo(), image, FLIP), expected)
    resized = predict_logits(_echo(), image, PLAIN, size=(64, 64))
    assert resized.shape == (3, H, W)
    assert predict_logits(_echo(fixed=(128, 192)), image, PLAIN).shape == (3, H, W)
    with pytest.raises(HyctasError, match="only takes"):
        predict_logits(_echo(fixed=(128, 192)), image, PLAIN, size=(64, 64))
    sliding = InferenceConfig(flip=False, scales=(1.0,), window=SlidingWindow((64, 64), (32, 32)))
    with pytest.raises(HyctasError, match="only takes .* sliding-window"):
        predict_logits(_echo(fixed=(128, 192)), image, sliding)
    torch.testing.assert_close(predict_logits(_echo(), image, sliding), expected)


@pytest.mark.parametrize("kind", ["pt", "onnx"])
def test_multi_scale_and_windows_on_a_real_model(
    kind: str, models: dict[str, Path], images: list[Path], tmp_path: Path
) -> None:
    """Flip, two scales and overlapping windows on images of sizes not multiples of 64."""
    inference = InferenceConfig(
        flip=True, scales=(0.75, 1.0), window=SlidingWindow((64, 96), (48, 64))
    )
    written = predict_files(
        models[kind], images, tmp_path / "out", inference=inference, progress=False
    )
    for (ids_path, _), shape in zip(written, [(H, W), (130, 70)], strict=True):
        ids = cv2.imread(str(ids_path), cv2.IMREAD_UNCHANGED)
        assert ids.shape == shape and ids.max() < CLASSES


def test_cli_predict(models: dict[str, Path], images: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "cli"
    assert (
        main(
            [
                "predict",
                "--model",
                str(models["onnx"]),
                *map(str, images),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "street_overlay.png",
        "street_trainIds.png",
        "tall_overlay.png",
        "tall_trainIds.png",
    ]


def test_cli_predict_with_evaluates_inference(
    models: dict[str, Path], images: list[Path], tmp_path: Path, params: dict
) -> None:
    """--params: evaluate's flip, scales and sliding window, as predict_files does them."""
    import yaml

    params["evaluate"].update(
        flip=True, scales=[0.75, 1.0], sliding_window={"crop": [64, 96], "stride": [48, 64]}
    )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    args = ["predict", "--model", str(models["pt"]), str(images[0]), "--quiet"]
    assert (
        main([*args, "--out", str(tmp_path / "cli"), "--params", str(tmp_path / "params.yaml")])
        == 0
    )
    inference = InferenceConfig.from_params(params["evaluate"], "evaluate")
    predict_files(models["pt"], images[:1], tmp_path / "lib", inference=inference, progress=False)
    name = "street_trainIds.png"
    cli = cv2.imread(str(tmp_path / "cli" / name), cv2.IMREAD_UNCHANGED)
    lib = cv2.imread(str(tmp_path / "lib" / name), cv2.IMREAD_UNCHANGED)
    plain = predict_files(models["pt"], images[:1], tmp_path / "plain", progress=False)[0][0]
    assert (cli == lib).all() and not (cli == cv2.imread(str(plain), cv2.IMREAD_UNCHANGED)).all()


def test_clear_errors(
    models: dict[str, Path], images: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out")
    assert (
        main(["predict", "--model", str(tmp_path / "none.pt"), str(images[0]), "--out", out]) == 2
    )
    assert "none.pt: model file not found" in capsys.readouterr().err
    weights = tmp_path / "weights.h5"
    weights.write_bytes(b"x")
    assert main(["predict", "--model", str(weights), str(images[0]), "--out", out]) == 2
    assert "unknown model file type '.h5'" in capsys.readouterr().err
    fake_onnx = tmp_path / "fake.onnx"
    fake_onnx.write_bytes(b"not onnx")
    assert main(["predict", "--model", str(fake_onnx), str(images[0]), "--out", out]) == 2
    assert "fake.onnx: not a loadable ONNX model" in capsys.readouterr().err
    assert (
        main(["predict", "--model", str(models["pt"]), str(tmp_path / "no.png"), "--out", out]) == 2
    )
    assert "no.png: image file not found" in capsys.readouterr().err
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    with pytest.raises(DataError, match="broken.png: not a readable image"):
        predict_files(models["pt"], [broken], out, progress=False)
    twin = tmp_path / "sub" / images[0].name
    twin.parent.mkdir()
    twin.write_bytes(images[0].read_bytes())
    with pytest.raises(HyctasError, match="same file stem"):
        predict_files(models["pt"], [images[0], twin], out, progress=False)


@pytest.mark.parametrize("kind", ["pt", "onnx"])
def test_overlays_use_the_class_colours_stored_in_the_model(
    kind: str, models: dict[str, Path], images: list[Path], tmp_path: Path
) -> None:
    (ids_path, overlay_path), _ = predict_files(models[kind], images, tmp_path, progress=False)
    train_ids = cv2.imread(str(ids_path), cv2.IMREAD_UNCHANGED)
    image = cv2.cvtColor(cv2.imread(str(images[0])), cv2.COLOR_BGR2RGB)
    painted = cv2.cvtColor(cv2.imread(str(overlay_path)), cv2.COLOR_BGR2RGB)
    expected = np.clip(0.5 * image + 0.5 * TABLE.colors[train_ids] + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(painted.astype(int) - expected).max() <= 1


def test_older_checkpoints_fall_back_to_cityscapes_colours_and_bad_tables_are_named(
    models: dict[str, Path], tmp_path: Path
) -> None:
    from hyctas.data.labels import trainid_colors
    from hyctas.evaluation.predict import load_predictor

    state = torch.load(models["pt"], weights_only=False)
    del state["classes"]  # written before retrain stored the class table
    save_checkpoint(tmp_path / "old.pt", state)
    old = load_predictor(tmp_path / "old.pt")
    assert old.classes is None and (old.colors() == trainid_colors(CLASSES)).all()
    state["classes"] = {**TABLE.to_dict(), "names": ["a"], "colors": [[0, 0, 0]], "values": [1]}
    save_checkpoint(tmp_path / "short.pt", state)
    with pytest.raises(HyctasError, match=r"short.pt: the model predicts 4 classes but its class"):
        load_predictor(tmp_path / "short.pt")
