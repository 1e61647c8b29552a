"""SegNet over random architectures, prefix sharing, fusion subsets and input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hyctas.errors import HyctasError
from hyctas.models.network import InputSizeError, SegNet
from hyctas.space.evolve import sample_arch

from .conftest import arch, space

# >= 200 random architectures over small spaces: 1-3 branches, one branch only, op subsets.
RANDOM_SPACES = {
    "three_branches": (space(), 70),
    "one_branch": (space(max_branches=1, branch_ratios=[1.0], max_depth=6), 45),
    "conv_sa_only": (space(ops=["conv", "sa"], widths=[0.5, 1.0], max_depth=4), 45),
    "skip_downup_two_branches": (
        space(
            ops=["skip", "conv_downup", "conv_2x_downup"],
            widths=[0.25, 0.75],
            max_branches=2,
            branch_ratios=[0.3, 0.7],
            min_depth=2,
        ),
        45,
    ),
}


@pytest.mark.parametrize("name", sorted(RANDOM_SPACES))
def test_random_archs_build_and_forward(name: str) -> None:
    cfg, count = RANDOM_SPACES[name]
    rng = np.random.default_rng(7)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    seen_finals = set()
    for _ in range(count):
        a = sample_arch(cfg, rng)
        net = SegNet(a, cfg, num_classes=5, aux=True)
        logits, aux = net(x)  # train mode: batch of 2 (BN over 1x1 maps needs > 1 value)
        finals = a.final_scales()
        seen_finals.add(tuple(sorted(finals)))
        assert logits.shape == (2, 5, 64, 64), a.compact()
        assert len(aux) == max(finals), a.compact()  # 1/16 and/or 1/32 fusions
        for t in [logits, *aux]:
            assert t.shape == (2, 5, 64, 64) and torch.isfinite(t).all(), a.compact()
        net.eval()
        with torch.no_grad():
            out = net(x[:1])
        assert isinstance(out, torch.Tensor) and out.shape == (1, 5, 64, 64)
        assert torch.isfinite(out).all(), a.compact()
    assert len(seen_finals) >= 3  # several fusion layouts were exercised


@pytest.mark.parametrize(
    "branches",
    [
        ("conv1",),
        ("conv1/2|sa1",),
        ("conv1/2|skip1/2|sa1",),
        ("conv1", "sa1/2|conv1"),
        ("conv1", "conv1/2|conv_downup1/2|conv1"),
        ("conv1/2|conv1", "skip1/2|conv.5/2|conv1"),
        ("conv1", "conv1/2|conv1", "sa.5|conv1/2|conv_2x_downup1/2|sa1"),
    ],
)
def test_every_subset_of_final_scales_builds(branches: tuple[str, ...]) -> None:
    cfg = space()
    a = arch(*branches)
    net = SegNet(a, cfg, num_classes=3, aux=True)
    logits, aux = net(torch.randn(2, 3, 64, 128))
    assert logits.shape == (2, 3, 64, 128)
    assert [t.shape for t in aux] == [(2, 3, 64, 128)] * max(a.final_scales())
    assert net.fusion.out_channels == cfg.channels(0, 1.0) * len(branches)


def test_aux_heads_only_in_training() -> None:
    cfg = space()
    a = arch("conv1", "conv1/2|conv1/2|conv1")
    x = torch.randn(2, 3, 64, 64)
    assert isinstance(SegNet(a, cfg, 4, aux=True).eval()(x), torch.Tensor)
    assert isinstance(SegNet(a, cfg, 4, aux=False).train()(x), torch.Tensor)
    no_aux = SegNet(a, cfg, 4, aux=False)
    assert not any(
        n.startswith(("aux_heads", "fusion.ffm16", "fusion.ffm32"))
        for n, _ in no_aux.named_parameters()
    )


def test_branches_share_their_common_prefix() -> None:
    cfg = space()
    a = arch("conv1|sa.5|conv1", "conv1|sa.5|conv1/2|conv1", "conv1|skip.5/2|conv1/2|sa1")
    net = SegNet(a, cfg, num_classes=3)
    # b0: 3 cells; b1 shares 2 with b0, adds 2; b2 shares 1, adds 3.
    assert len(net.cells) == 3 + 2 + 3
    assert net.plan.branches[1][:2] == ("b0c0", "b0c1")
    assert net.plan.branches[2][0] == "b0c0" and net.plan.branches[2][1] == "b2c1"
    calls = {name: 0 for name in net.cells}

    def counter(name: str):
        def hook(*_: object) -> None:
            calls[name] += 1

        return hook

    for name, module in net.cells.items():
        module.register_forward_hook(counter(name))
    net.eval()(torch.randn(1, 3, 64, 64))
    assert set(calls.values()) == {1}  # a shared cell runs once for all its branches


def test_same_choice_after_divergence_is_not_shared() -> None:
    cfg = space()
    a = arch("conv1|conv1", "sa1|conv1/2|conv1")
    net = SegNet(a, cfg, num_classes=3)
    assert len(net.cells) == 5


@pytest.mark.parametrize("size", [(64, 100), (96, 128), (32, 64)])
def test_input_not_multiple_of_64_is_a_clear_error(size: tuple[int, int]) -> None:
    net = SegNet(arch("conv1/2|conv1"), space(), num_classes=3).eval()
    with pytest.raises(InputSizeError, match="multiples of 64") as info:
        net(torch.randn(1, 3, *size))
    assert isinstance(info.value, HyctasError) and isinstance(info.value, ValueError)
    assert f"{size[0]}x{size[1]}" in str(info.value)


def test_wrong_channel_count_is_a_clear_error() -> None:
    net = SegNet(arch("conv1"), space(), num_classes=3).eval()
    with pytest.raises(InputSizeError, match=r"\(N, 3, H, W\)"):
        net(torch.randn(1, 1, 64, 64))
