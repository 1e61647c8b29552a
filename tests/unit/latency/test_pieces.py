"""Pieces are built exactly as in `SegNet` (same parameter shapes) and run at their sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hyctas.latency.enumerate import enumerate_keys
from hyctas.latency.keys import cell_key, fusion_key, head_key, stem_key
from hyctas.latency.pieces import build_piece
from hyctas.models.network import SegNet
from hyctas.space.evolve import sample_arch

from .conftest import CLASSES, SIZE, space


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(t.shape) for name, t in module.state_dict().items()}


@pytest.mark.parametrize("seed", range(4))
def test_pieces_match_the_network_modules(seed: int) -> None:
    cfg = space()
    arch = sample_arch(cfg, np.random.default_rng(seed))
    net = SegNet(arch, cfg, CLASSES)
    pairs = [
        (stem_key(cfg, SIZE), net.stem),
        (fusion_key(net.plan, cfg, SIZE), net.fusion),
        (head_key(net.plan, cfg, CLASSES, SIZE), net.head),
    ] + [(cell_key(node, SIZE), net.cells[node.name]) for node in net.plan.nodes]
    for key, module in pairs:
        piece = build_piece(key, cfg, CLASSES, batch_size=1)
        assert _shapes(piece.module) == _shapes(module), key
        assert not piece.module.training


def test_every_enumerated_piece_runs() -> None:
    cfg = space(ops=["skip", "sa"], max_depth=2)
    for key in enumerate_keys(cfg, CLASSES, SIZE):
        piece = build_piece(key, cfg, CLASSES, batch_size=2)
        with torch.inference_mode():
            out = piece.runner()()
        out = out[0] if isinstance(out, tuple) else out
        assert out.shape[0] == 2 and torch.isfinite(out).all(), key
        if key.op in cfg.ops:
            assert out.shape[1:] == (key.c_out, key.h // key.stride, key.w // key.stride)
