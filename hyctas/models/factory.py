"""Retrained-model checkpoints that rebuild their network: one format for every model kind.

A checkpoint is a dict of plain types and tensors, loadable with `weights_only=True`:

    {"kind": "segnet", "arch": Arch.to_dict(), "search_space": SpaceConfig.to_params(),
     "num_classes": int, "aux": bool, "model": state_dict,
     "mean": [3 floats], "std": [3 floats], "target": str | None}
    {"kind": "baseline", "baseline": {"name": str, "width": float}, "num_classes", "aux",
     "model", "mean", "std", "target"}

`aux` says whether `model` holds the auxiliary parts; `mean`/`std` are the input
normalisation (RGB in [0, 1]) the model was trained with.

Example:
    >>> state = model_checkpoint(net, kind="segnet", arch=arch, search_space=cfg,
    ...                          num_classes=19, aux=True, mean=MEAN, std=STD, target="fast")
    >>> save_checkpoint("model.pt", state)
    >>> model, state = load_model("model.pt", "cpu")   # eval mode, no aux heads
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hyctas.errors import HyctasError
from hyctas.models.baseline import BaselineConfig, build_baseline
from hyctas.models.network import SegNet
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig

KINDS = ("segnet", "baseline")
_COMMON_KEYS = ("kind", "num_classes", "aux", "model", "mean", "std", "target")
_KIND_KEYS = {"segnet": ("arch", "search_space"), "baseline": ("baseline",)}


class CheckpointError(HyctasError):
    """A model checkpoint is missing, unreadable or malformed."""


def _space(search_space: SpaceConfig | dict[str, Any]) -> SpaceConfig:
    return (
        search_space
        if isinstance(search_space, SpaceConfig)
        else SpaceConfig.from_params(dict(search_space))
    )


def _baseline(baseline: BaselineConfig | dict[str, Any], aux: bool) -> BaselineConfig:
    if isinstance(baseline, BaselineConfig):
        return BaselineConfig(baseline.name, baseline.width, aux)
    return BaselineConfig(str(baseline["name"]), float(baseline["width"]), aux)


def build_model(
    kind: str,
    *,
    num_classes: int,
    aux: bool,
    arch: Arch | dict[str, Any] | None = None,
    search_space: SpaceConfig | dict[str, Any] | None = None,
    baseline: BaselineConfig | dict[str, Any] | None = None,
) -> nn.Module:
    """Builds an untrained network of `kind` (on the current default device).

    Args:
        kind: "segnet" (needs `arch` and `search_space`) or "baseline" (needs `baseline`).
        num_classes: Output classes.
        aux: Build the auxiliary parts (they run in training mode only).
        arch: Architecture, or its `to_dict()` form.
        search_space: Search-space config, or its params block.
        baseline: Baseline config, or {"name", "width"} (its `aux` is replaced by `aux`).

    Raises:
        HyctasError: Unknown kind, missing description, or an invalid arch/space/baseline.
    """
    if kind == "segnet":
        if arch is None or search_space is None:
            raise CheckpointError("a segnet model needs an arch and a search_space")
        cfg = _space(search_space)
        arch = arch if isinstance(arch, Arch) else Arch.from_dict(arch, cfg)
        arch.validate(cfg)
        return SegNet(arch, cfg, num_classes, aux=aux)
    if kind == "baseline":
        if baseline is None:
            raise CheckpointError("a baseline model needs a baseline {name, width}")
        return build_baseline(_baseline(baseline, aux), num_classes)
    raise CheckpointError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})")


def _describe(state: dict[str, Any]) -> dict[str, Any]:
    """The `build_model` keyword arguments a checkpoint describes (aux left out)."""
    kind = state["kind"]
    if kind == "segnet":
        return {"kind": kind, "arch": state["arch"], "search_space": state["search_space"]}
    return {"kind": kind, "baseline": state["baseline"]}


def _shapes(describe: dict[str, Any], num_classes: int, aux: bool) -> dict[str, tuple[int, ...]]:
    # On the meta device: tensor shapes without allocating or initialising weights.
    with torch.device("meta"):
        model = build_model(**describe, num_classes=num_classes, aux=aux)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def model_checkpoint(
    model: nn.Module,
    *,
    kind: str,
    arch: Arch | None = None,
    search_space: SpaceConfig | dict[str, Any] | None = None,
    baseline: BaselineConfig | dict[str, Any] | None = None,
    num_classes: int,
    aux: bool,
    mean: tuple[float, ...] | list[float],
    std: tuple[float, ...] | list[float],
    target: str | None = None,
) -> dict[str, Any]:
    """The self-describing checkpoint dict of a trained model (see the module docstring).

    Raises:
        CheckpointError: The description does not rebuild a network with `model`'s tensors.
    """
    state: dict[str, Any] = {"kind": kind}
    if kind == "segnet":
        if arch is None or search_space is None:
            raise CheckpointError("a segnet checkpoint needs arch and search_space")
        state["arch"] = arch.to_dict()
        state["search_space"] = _space(search_space).to_params()
    elif kind == "baseline":
        if baseline is None:
            raise CheckpointError("a baseline checkpoint needs baseline")
        cfg = _baseline(baseline, aux)
        state["baseline"] = {"name": cfg.name, "width": float(cfg.width)}
    else:
        raise CheckpointError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})")
    weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    expected = _shapes(_describe(state), num_classes, aux)
    got = {k: tuple(v.shape) for k, v in weights.items()}
    if got != expected:
        diff = sorted(set(got) ^ set(expected)) or [k for k in got if got[k] != expected[k]]
        raise CheckpointError(
            f"the model does not match its description (kind {kind}, aux {aux}): "
            f"first differing tensor {diff[0]!r}"
        )
    state.update(
        num_classes=int(num_classes),
        aux=bool(aux),
        model=weights,
        mean=[float(m) for m in mean],
        std=[float(s) for s in std],
        target=target,
    )
    return state


def _check_state(state: Any, source: str) -> None:
    """Raises CheckpointError naming `source` unless `state` has the documented layout."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: not a model checkpoint (expected a dict)")
    kind = state.get("kind")
    if kind not in KINDS:
        raise CheckpointError(
            f"{source}: unknown model kind {kind!r} (known: {', '.join(KINDS)}); "
            "is this a training-state checkpoint rather than a retrained model?"
        )
    missing = [k for k in _COMMON_KEYS + _KIND_KEYS[kind] if k not in state]
    if missing:
        raise CheckpointError(f"{source}: malformed {kind} checkpoint, missing {missing[0]!r}")
    classes = state["num_classes"]
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise CheckpointError(f"{source}: num_classes must be a positive int, got {classes!r}")
    if not isinstance(state["aux"], bool):
        raise CheckpointError(f"{source}: aux must be true or false, got {state['aux']!r}")
    for key in ("mean", "std"):
        value = state[key]
        ok = isinstance(value, (list, tuple)) and len(value) == 3
        if not ok or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value):
            raise CheckpointError(f"{source}: {key} must be 3 finite numbers, got {value!r}")
    if not isinstance(state["model"], dict):
        raise CheckpointError(f"{source}: model must be a state dict")


def model_from_checkpoint(
    state: dict[str, Any], aux: bool = False, source: str = "checkpoint"
) -> nn.Module:
    """Rebuilds the network of a checkpoint and loads its weights strictly.

    Args:
        state: A dict made by `model_checkpoint`.
        aux: Keep the auxiliary parts (the checkpoint must have them); with False they are
            dropped and the network is built without them.
        source: Name used in error messages (the file).

    Returns:
        The network on the CPU, in training mode as any fresh module.

    Raises:
        CheckpointError: Malformed checkpoint, or weights that do not fit the description.
    """
    _check_state(state, source)
    if aux and not state["aux"]:
        raise CheckpointError(f"{source}: saved without auxiliary heads, cannot load with aux")
    try:
        describe = _describe(state)
        saved = _shapes(describe, state["num_classes"], state["aux"])
        model = build_model(**describe, num_classes=state["num_classes"], aux=aux)
    except HyctasError as err:
        raise CheckpointError(f"{source}: {err}") from err
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{source}: malformed model description ({err!r})") from err
    weights = state["model"]
    got = {k: tuple(v.shape) for k, v in weights.items() if isinstance(v, torch.Tensor)}
    if got != saved:
        diff = sorted(set(got) ^ set(saved)) or [k for k in got if got[k] != saved[k]]
        raise CheckpointError(
            f"{source}: weights do not match the described network (first differing tensor "
            f"{diff[0]!r}); the file is corrupt or was written by other code"
        )
    wanted = model.state_dict().keys()
    try:
        model.load_state_dict({k: v for k, v in weights.items() if k in wanted}, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{source}: weights do not load ({err})") from err
    return model


def load_model(
    path: str | Path, device: str | torch.device, aux: bool = False
) -> tuple[nn.Module, dict[str, Any]]:
    """Loads a retrained-model checkpoint file (`weights_only=True`).

    Args:
        path: The `.pt` file written with `model_checkpoint` + `save_checkpoint`.
        device: Where to put the network.
        aux: Keep the auxiliary heads (see `model_from_checkpoint`).

    Returns:
        (network in eval mode on `device`, the checkpoint dict).

    Raises:
        CheckpointError: Missing, unreadable or malformed file; the message names it.
    """
    state = read_checkpoint(path)
    model = model_from_checkpoint(state, aux=aux, source=str(path))
    return model.to(device).eval(), state


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict of a retrained-model file, on the CPU, without building the network.

    Raises:
        CheckpointError: Missing or unreadable file; the message names it.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: model checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise CheckpointError(
            f"{path}: not a readable PyTorch model checkpoint ({type(exc).__name__}: {exc})"
        ) from None
