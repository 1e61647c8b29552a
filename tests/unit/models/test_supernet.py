"""Supernet: sub-network forward equals the extracted stand-alone network; weights are shared."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hyctas.errors import ArchError
from hyctas.models.supernet import Supernet, cell_key
from hyctas.space.evolve import sample_arch

from .conftest import arch, space

CFG = space(max_depth=5, fch=2)


def _randomize(net: torch.nn.Module) -> None:
    """Non-trivial BN running stats, affine parameters and attention gates."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in net.named_parameters():
            if name.endswith("gamma"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif t.dim() == 1:  # BN weights and biases, conv biases
                t.copy_(torch.rand(t.shape, generator=gen) * 0.5 + 0.75)
        for name, t in net.named_buffers():
            if name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.2)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)


@pytest.fixture(scope="module")
def supernet() -> Supernet:
    torch.manual_seed(0)
    net = Supernet(CFG, num_classes=4, aux=True)
    _randomize(net)
    return net.eval()


def _archs() -> list:
    rng = np.random.default_rng(3)
    sampled = [sample_arch(CFG, rng) for _ in range(22)]
    shared = [
        arch("conv.5|sa.333333|conv1", "conv.5|sa.333333|skip1/2|conv1"),
        arch("sa.5|conv1", "sa.5|conv_downup.5/2|conv1", "skip.5|skip.5/2|conv1/2|sa1"),
    ]
    return sampled + shared


@pytest.mark.parametrize("index", range(24))
def test_extracted_network_equals_supernet_forward(supernet: Supernet, index: int) -> None:
    a = _archs()[index]
    x = torch.randn(1, 3, 64, 128, generator=torch.Generator().manual_seed(index))
    with torch.no_grad():
        expected = supernet(x, a)
        child = supernet.extract(a)
        got = child(x)
    assert not child.training
    assert expected.abs().max() > 1e-3  # a meaningful signal, not all zeros
    assert (expected - got).abs().max().item() < 1e-5, a.compact()
    n_child = sum(p.numel() for p in child.parameters())
    assert n_child < sum(p.numel() for p in supernet.parameters())


SHARING = {
    "per_branch_cells": {"cell_sharing": "branch"},
    "shared_head": {"head_sharing": "shared"},
}


@pytest.fixture(scope="module", params=list(SHARING))
def sharing(request: pytest.FixtureRequest) -> Supernet:
    """A supernet with one of the non-default sharing options."""
    torch.manual_seed(1)
    net = Supernet(CFG, num_classes=4, aux=True, **SHARING[request.param])
    _randomize(net)
    return net.eval()


@pytest.mark.parametrize("index", range(0, 24, 2))
def test_other_sharings_extract_the_same_network(sharing: Supernet, index: int) -> None:
    """Per-branch cells; the shared fusion and head, whose inputs map by place, not prefix."""
    a = _archs()[index]
    x = torch.randn(1, 3, 64, 128, generator=torch.Generator().manual_seed(index))
    with torch.no_grad():
        expected = sharing(x, a)
        got = sharing.extract(a)(x)
    assert expected.abs().max() > 1e-3
    assert (expected - got).abs().max().item() < 1e-5, a.compact()


@pytest.fixture(scope="module")
def shared_head() -> Supernet:
    torch.manual_seed(2)
    net = Supernet(CFG, num_classes=4, aux=True, head_sharing="shared")
    _randomize(net)
    return net.eval()


BRANCH_ENDING_AT = {0: "conv.5|conv1", 1: "conv.5|conv1/2", 2: "sa1/2|conv1/2|conv1"}


@pytest.mark.parametrize("finals", [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)], ids=str)
def test_shared_fusion_and_head_extract_every_set_of_final_scales_with_aux_outputs(
    shared_head: Supernet, finals: tuple[int, ...]
) -> None:
    """Main and auxiliary logits match for every set of final scales: the 1/8 and 1/16
    fusions' inputs and the head's skip sit at other columns than the child's for most."""
    a = arch(*(BRANCH_ENDING_AT[s] for s in finals))
    x = torch.randn(2, 3, 64, 128, generator=torch.Generator().manual_seed(7))
    child = shared_head.extract(a)
    for net in (shared_head, child):
        net.train()
        for m in net.modules():  # batch stats differ from running ones; compare eval BN
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()
    with torch.no_grad():
        (logits, aux), (got, got_aux) = shared_head(x, a), child(x)
    shared_head.eval()
    n_aux = (1 in finals or 2 in finals) + (2 in finals)  # the 1/16 and the 1/32 fusion
    assert len(aux) == len(got_aux) == n_aux
    for want, have in zip((logits, *aux), (got, *got_aux), strict=True):
        assert (want - have).abs().max().item() < 1e-5


def test_shared_head_trains_with_every_branch_count() -> None:
    """One head and one fusion: a 1-branch and a 3-branch network both update them, each
    with the auxiliary outputs its stand-alone network has (none for a lone 1/8 branch)."""
    net = Supernet(CFG, num_classes=4, aux=True, head_sharing="shared").train()
    assert not hasattr(net, "heads") and not hasattr(net, "fusions")
    one = arch("conv.5|conv1")
    three = arch("conv.5|conv1", "conv.5|conv1/2", "sa1/2|conv1/2|conv1")
    for a, n_aux in ((one, 0), (three, 2)):
        net.zero_grad()
        logits, aux = net(torch.randn(2, 3, 64, 64), a)
        assert len(aux) == len(net.extract(a).train()(torch.randn(2, 3, 64, 64))[1]) == n_aux
        (logits.sum() + sum(t.sum() for t in aux)).backward()
        grad = net.head.classifier.weight.grad
        assert grad is not None and grad.abs().sum() > 0
    with pytest.raises(ValueError, match="head_sharing"):
        Supernet(CFG, num_classes=4, head_sharing="per_branch")


def test_per_branch_cells_keep_diverged_branches_apart() -> None:
    """Two branches taking the same cell at the same place after they diverged use two sets
    of weights; the shared prefix uses the finest branch's (scale 0 here)."""
    net = Supernet(CFG, num_classes=4, cell_sharing="branch").train()
    a = arch("conv.5|conv.333333|conv1", "conv.5|conv.5|conv1/2")  # diverge at cell 1
    net(torch.randn(2, 3, 64, 64), a).sum().backward()

    def grad(index: int, final: int) -> torch.Tensor | None:
        return net.cells[cell_key(index, 0, 1, "conv", final)].conv.conv.weight.grad

    assert grad(0, 0) is not None and grad(0, 1) is None  # the shared first cell: scale 0's
    assert grad(1, 0) is not None and grad(1, 1) is not None  # diverged: one set each
    assert not torch.equal(
        net.cells[cell_key(1, 0, 1, "conv", 0)].conv.conv.weight,
        net.cells[cell_key(1, 0, 1, "conv", 1)].conv.conv.weight,
    )
    assert len(net.cells) > 1.8 * len(Supernet(CFG, num_classes=4).cells)


def test_train_mode_returns_aux_outputs_and_trains_only_the_sampled_path() -> None:
    net = Supernet(CFG, num_classes=4, aux=True).train()
    a = arch("conv.5|conv1", "sa1/2|conv1/2|conv1")
    logits, aux = net(torch.randn(2, 3, 64, 64), a)
    assert logits.shape == (2, 4, 64, 64) and len(aux) == 2
    (logits.sum() + sum(t.sum() for t in aux)).backward()
    used = net.cells[cell_key(0, 0, 2, "sa")].reduce.conv.weight.grad
    assert used is not None and used.abs().sum() > 0
    assert net.cells[cell_key(0, 0, 1, "skip")].proj.conv.weight.grad is None
    grad = net.cells[cell_key(0, 0, 1, "conv")].conv.conv.weight.grad
    used_out = CFG.channels(0, 0.5)
    assert grad[:used_out].abs().sum() > 0 and grad[used_out:].abs().sum() == 0


def test_sliced_batch_norm_updates_only_the_used_channels() -> None:
    net = Supernet(CFG, num_classes=4).train()
    a = arch("conv.333333|conv1")
    bn = net.cells[cell_key(0, 0, 1, "conv")].conv.bn
    used = CFG.channels(0, 0.333333)
    assert used < bn.num_features
    net(torch.randn(2, 3, 64, 64), a)
    assert (bn.running_mean[:used] != 0).all()
    assert (bn.running_mean[used:] == 0).all()


def test_width_choices_share_weights() -> None:
    net = Supernet(CFG, num_classes=4).eval()
    narrow = net.extract(arch("conv.5|conv1"))
    wide = net.extract(arch("conv1|conv1"))
    w_narrow = narrow.cells["b0c0"].conv.conv.weight
    w_wide = wide.cells["b0c0"].conv.conv.weight
    assert w_narrow.shape[0] < w_wide.shape[0]
    assert torch.equal(w_narrow, w_wide[: w_narrow.shape[0]])


def test_arch_outside_the_space_is_rejected() -> None:
    net = Supernet(space(max_depth=2, ops=["conv", "skip"]), num_classes=4)
    with pytest.raises(ArchError, match="max_depth"):
        net(torch.randn(1, 3, 64, 64), arch("conv1|conv1|conv1"))
    with pytest.raises(ArchError, match="sa"):
        net.extract(arch("sa1"))


def test_default_supernet_stays_small() -> None:
    """The default params.yaml space (fch 4, max depth 6) fits in a few tens of MB."""
    from hyctas.space.arch import OP_NAMES
    from hyctas.space.config import SpaceConfig

    cfg = SpaceConfig(
        ops=OP_NAMES,
        widths=(0.333333, 0.5, 0.666667, 0.833333, 1.0),
        max_branches=3,
        min_depth=2,
        max_depth=6,
        branch_ratios=(0.4, 0.3, 0.3),
        fch=4,
        sa_heads=2,
        sa_head_dim=16,
        head_skip_channels=12,
    )
    with torch.device("meta"):
        net = Supernet(cfg, num_classes=19, aux=True)
    assert sum(p.numel() for p in net.parameters()) < 12_000_000
