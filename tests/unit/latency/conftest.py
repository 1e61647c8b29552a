"""Tiny search spaces, sizes and protocol blocks shared by the tests of hyctas.latency."""

from __future__ import annotations

from typing import Any

from hyctas.latency.settings import ProfileSettings
from hyctas.space.arch import OP_NAMES, Arch
from hyctas.space.config import SpaceConfig

SIZE = (64, 128)  # the smallest input the network accepts, 1/8 = 8x16
CLASSES = 3


def space_block(**overrides: Any) -> dict[str, Any]:
    """A tiny `search_space` block (fch 1, depth 1..3, all ops, 3 branches)."""
    block: dict[str, Any] = {
        "ops": list(OP_NAMES),
        "widths": [0.5, 1.0],
        "max_branches": 3,
        "min_depth": 1,
        "max_depth": 3,
        "branch_ratios": [0.3, 0.3, 0.4],
        "fch": 1,
        "sa_heads": 1,
        "sa_head_dim": 4,
        "head_skip_channels": 4,
    }
    block.update(overrides)
    return block


def space(**overrides: Any) -> SpaceConfig:
    """`space_block` as a config."""
    return SpaceConfig.from_params(space_block(**overrides))


def profile_block(**overrides: Any) -> dict[str, Any]:
    """A fast `profile_latency` block at `SIZE` (the keys of params.yaml)."""
    block: dict[str, Any] = {
        "device": "cpu",
        "height": SIZE[0],
        "width": SIZE[1],
        "batch_size": 1,
        "dtype": "float32",
        "channels_last": False,
        "compile": "none",
        "threads": 1,
        "clock": "cpu",
        "warmup": 1,
        "repeats": 2,
        "network_repeats": 2,
        "statistic": "min",
        "max_memory_mb": 64,
        "calibration_archs": 3,
        "validation_archs": 3,
    }
    block.update(overrides)
    return block


def settings(**overrides: Any) -> ProfileSettings:
    """`profile_block` as settings."""
    return ProfileSettings.from_params(profile_block(**overrides))


def arch(*branches: str) -> Arch:
    """Architecture from compact branch bodies, e.g. arch('conv1|sa1/2', 'skip1')."""
    return Arch.from_compact(";".join(f"b{b}:{body}" for b, body in enumerate(branches)))
