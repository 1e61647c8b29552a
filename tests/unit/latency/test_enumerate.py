"""Key enumeration: deterministic, exact on a small space, and covering what networks run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hyctas.latency.enumerate import enumerate_keys
from hyctas.latency.keys import FUSION, HEAD, STEM, OpKey, arch_keys, encode_ends
from hyctas.models.network import SegNet
from hyctas.space.arch import Arch, Cell
from hyctas.space.evolve import enumerate_final_scales, sample_arch

from .conftest import CLASSES, SIZE, space


def test_keys_are_sorted_distinct_and_deterministic() -> None:
    cfg = space()
    keys = enumerate_keys(cfg, CLASSES, SIZE)
    assert keys == sorted(set(keys))
    assert keys == enumerate_keys(space(), CLASSES, SIZE)
    assert {k.op for k in keys} == set(cfg.ops) | {STEM, FUSION, HEAD}
    assert sum(k.op == STEM for k in keys) == 1
    assert sum(k.op == HEAD for k in keys) == cfg.max_branches
    # Anything that sizes a piece changes the keys.
    assert keys != enumerate_keys(space(fch=2), CLASSES, SIZE)
    assert keys != enumerate_keys(cfg, CLASSES, (128, 128))
    assert keys != enumerate_keys(cfg, CLASSES + 1, SIZE)


def test_default_space_count() -> None:
    # The default params.yaml space at 256x512 (also documented in hyctas/latency/__init__).
    cfg = space(
        widths=[0.333333, 0.5, 0.666667, 0.833333, 1.0], min_depth=2, max_depth=6, fch=4,
        sa_heads=2, sa_head_dim=16, head_skip_channels=12,
    )  # fmt: skip
    keys = enumerate_keys(cfg, 19, (256, 512))
    counts = {op: sum(k.op == op for k in keys) for op in (STEM, FUSION, HEAD)}
    assert (len(keys), counts) == (940, {STEM: 1, FUSION: 311, HEAD: 3})


def _all_branches(cfg) -> list[tuple[Cell, ...]]:
    out = []
    for depth in range(cfg.min_depth, cfg.max_depth + 1):
        for strides in itertools.product((1, 2), repeat=depth):
            if strides.count(2) > 2:
                continue
            choices = [
                [(op, w) for op in cfg.ops for w in (cfg.widths if i < depth - 1 else (1.0,))]
                for i in range(depth)
            ]
            for cells in itertools.product(*choices):
                out.append(tuple(Cell(op, w, s) for (op, w), s in zip(cells, strides, strict=True)))
    return out


def test_enumeration_is_exact_on_a_small_space() -> None:
    # Every architecture of the space, exhaustively: the union of their keys must be the
    # enumeration, neither more (infeasible keys) nor less (missing keys).
    cfg = space(ops=["skip", "conv"], max_branches=2, branch_ratios=[0.5, 0.5])
    by_final: dict[int, list] = {}
    for branch in _all_branches(cfg):
        by_final.setdefault(sum(c.stride == 2 for c in branch), []).append(branch)
    seen: set[OpKey] = set()
    for combo in enumerate_final_scales(cfg):
        for branches in itertools.product(*(by_final[f] for f in combo)):
            seen.update(arch_keys(Arch(branches), cfg, CLASSES, SIZE))
    assert seen == set(enumerate_keys(cfg, CLASSES, SIZE))


def _runtime_keys(net: SegNet, x: torch.Tensor) -> set[OpKey]:
    """Keys rebuilt from what the modules of `net` really receive (forward hooks)."""
    keys: set[OpKey] = set()

    def cell_hook(module, inputs, output) -> None:
        _, c, h, w = inputs[0].shape
        keys.add(OpKey(module.__class__.__name__, c, output.shape[1], h, w, module.stride))

    def fusion_hook(module, inputs, output) -> None:
        feats = inputs[0]
        ends = {s: tuple(t.shape[1] for t in ts) for s, ts in feats.items()}
        _, _, h, w = feats[min(feats)][0].shape
        c_in = sum(map(sum, ends.values()))
        keys.add(OpKey(FUSION, c_in, output[0].shape[1], h, w, 1, encode_ends(ends)))

    def head_hook(module, inputs, output) -> None:
        _, c, h, w = inputs[0].shape
        keys.add(OpKey(HEAD, c, output.shape[1], h, w, 1))

    def stem_hook(module, inputs, output) -> None:
        _, _, h, w = inputs[0].shape
        keys.add(OpKey(STEM, 3, output[1].shape[1], h, w, h // output[1].shape[2]))

    hooks = [m.register_forward_hook(cell_hook) for m in net.cells.values()]
    hooks += [
        net.fusion.register_forward_hook(fusion_hook),
        net.head.register_forward_hook(head_hook),
        net.stem.register_forward_hook(stem_hook),
    ]
    with torch.inference_mode():
        net(x)
    for h in hooks:
        h.remove()
    return keys


@pytest.mark.parametrize("seed", range(6))
def test_keys_cover_what_random_networks_run(seed: int) -> None:
    cfg = space()
    enumerated = set(enumerate_keys(cfg, CLASSES, SIZE))
    arch = sample_arch(cfg, np.random.default_rng(seed))
    net = SegNet(arch, cfg, CLASSES).eval()
    class_to_op = {"Skip": "skip", "Conv": "conv", "ConvDownUp": "conv_downup",
                   "Conv2xDownUp": "conv_2x_downup", "SelfAttention": "sa"}  # fmt: skip
    runtime = {
        OpKey(class_to_op.get(k.op, k.op), k.c_in, k.c_out, k.h, k.w, k.stride, k.variant)
        for k in _runtime_keys(net, torch.randn(1, 3, *SIZE))
    }
    assert runtime == set(arch_keys(arch, cfg, CLASSES, SIZE))
    assert runtime <= enumerated
