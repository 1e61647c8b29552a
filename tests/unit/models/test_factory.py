"""Retrained-model checkpoints: round trips for both kinds, aux handling, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hyctas.models.baseline import BaselineConfig
from hyctas.models.factory import (
    CheckpointError,
    build_model,
    load_model,
    model_checkpoint,
    model_from_checkpoint,
)
from hyctas.space.evolve import sample_arch
from hyctas.train.checkpoint import save_checkpoint

from .conftest import space

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _perturb(model: torch.nn.Module) -> None:
    """Non-default weights and BN statistics, so a round trip has something to lose."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(
                    torch.rand_like(tensor) + 0.5
                    if "running_var" in name
                    else torch.randn_like(tensor) * 0.1
                )


def _segnet_state() -> tuple[torch.nn.Module, dict]:
    cfg = space()
    arch = sample_arch(cfg, np.random.default_rng(3))
    model = build_model("segnet", num_classes=5, aux=True, arch=arch, search_space=cfg)
    _perturb(model)
    state = model_checkpoint(
        model,
        kind="segnet",
        arch=arch,
        search_space=cfg,
        num_classes=5,
        aux=True,
        mean=MEAN,
        std=STD,
        target="fast",
    )
    return model, state


def _baseline_state(aux: bool = True) -> tuple[torch.nn.Module, dict]:
    cfg = BaselineConfig("fast_scnn", width=0.25, aux=aux)
    model = build_model("baseline", num_classes=4, aux=aux, baseline=cfg)
    _perturb(model)
    state = model_checkpoint(
        model, kind="baseline", baseline=cfg, num_classes=4, aux=aux, mean=MEAN, std=STD
    )
    return model, state


@pytest.mark.parametrize("make", [_segnet_state, _baseline_state], ids=["segnet", "baseline"])
def test_round_trip_gives_identical_outputs(make, tmp_path: Path) -> None:
    model, state = make()
    path = tmp_path / "model.pt"
    save_checkpoint(path, state)
    raw = torch.load(path, weights_only=True)  # plain types and tensors only
    assert raw["kind"] == state["kind"] and raw["mean"] == list(MEAN)
    loaded, meta = load_model(path, "cpu")
    assert not loaded.training and meta["num_classes"] == state["num_classes"]
    assert not any("aux" in k or "ffm16" in k or "ffm32" in k for k in loaded.state_dict())
    x = torch.randn(1, 3, 64, 128)
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_aux_heads_are_kept_on_request() -> None:
    model, state = _segnet_state()
    loaded = model_from_checkpoint(state, aux=True)
    assert loaded.state_dict().keys() == model.state_dict().keys()
    logits, aux = loaded.train()(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 5, 64, 64) and all(a.shape == logits.shape for a in aux)


def test_aux_cannot_come_from_a_checkpoint_without_it() -> None:
    _, state = _baseline_state(aux=False)
    assert model_from_checkpoint(state).state_dict().keys() == state["model"].keys()
    with pytest.raises(CheckpointError, match="without auxiliary"):
        model_from_checkpoint(state, aux=True)


def test_description_must_match_the_model() -> None:
    model, _ = _baseline_state(aux=True)
    with pytest.raises(CheckpointError, match="does not match"):
        model_checkpoint(
            model,
            kind="baseline",
            baseline={"name": "fast_scnn", "width": 0.5},
            num_classes=4,
            aux=True,
            mean=MEAN,
            std=STD,
        )
    with pytest.raises(CheckpointError, match="unknown model kind"):
        model_checkpoint(model, kind="resnet", num_classes=4, aux=True, mean=MEAN, std=STD)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(kind="resnet"), "unknown model kind 'resnet'"),
        (lambda s: s.pop("mean"), "missing 'mean'"),
        (lambda s: s.update(std=[1.0, 2.0]), "std must be 3"),
        (lambda s: s.update(num_classes=0), "num_classes"),
        (lambda s: s["model"].pop(next(iter(s["model"]))), "do not match"),
        (lambda s: s["arch"]["branches"][0].clear(), "model.pt: .*branch"),
        (lambda s: s["search_space"].update(fch="x"), "model.pt: .*fch"),
    ],
)
def test_malformed_checkpoints_name_the_file(change, message: str, tmp_path: Path) -> None:
    _, state = _segnet_state()
    change(state)
    path = tmp_path / "model.pt"
    save_checkpoint(path, state)
    with pytest.raises(CheckpointError, match=message) as err:
        load_model(path, "cpu")
    assert str(path) in str(err.value)


def test_unreadable_or_missing_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "none.pt", "cpu")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="bad.pt: not a readable"):
        load_model(bad, "cpu")
    listing = tmp_path / "list.pt"
    torch.save([1, 2], listing)
    with pytest.raises(CheckpointError, match="list.pt: not a model checkpoint"):
        load_model(listing, "cpu")
