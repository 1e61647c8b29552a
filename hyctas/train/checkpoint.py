"""Checkpoints that rebuild themselves and resume a run exactly.

A checkpoint is a dict of plain types and tensors (loadable with `weights_only=True`): the
model and optimizer/scheduler states, the step, RNG states, the params used and a fingerprint
of them, and whatever the stage adds (the architecture, the training history).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hyctas.atomic import atomic_path
from hyctas.errors import HyctasError


def rng_state() -> dict[str, Any]:
    """The states of Python's, numpy's legacy and torch's RNGs."""
    state: dict[str, Any] = {"python": list(random.getstate()[1]), "torch": torch.get_rng_state()}
    state["numpy"] = np.random.get_state()[1].tolist()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved."""
    random.setstate((3, tuple(state["python"]), None))
    np.random.set_state(("MT19937", np.asarray(state["numpy"], dtype=np.uint32), 624, 0, 0.0))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically (never a half-written checkpoint)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (`weights_only=True`); a HyctasError names a corrupt file."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise HyctasError(
            f"{path}: unreadable checkpoint ({exc}); delete it to start over"
        ) from None
