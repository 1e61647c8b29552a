"""The hand-designed baselines: shapes, aux contract, size, pooling and input checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hyctas.errors import ConfigError
from hyctas.models.baseline import (
    BASELINES,
    BaselineConfig,
    FastSCNN,
    adaptive_avg_pool,
    build_baseline,
)
from hyctas.models.network import InputSizeError


def count(model: torch.nn.Module, skip: str | None = None) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if not (skip and n.startswith(skip)))


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_baseline_follows_the_segnet_contract(name: str) -> None:
    torch.manual_seed(0)
    net = build_baseline(BaselineConfig(name, width=0.5, aux=True), num_classes=7)
    x = torch.randn(2, 3, 64, 128)
    logits, aux = net(x)  # train mode: (logits, [aux])
    assert logits.shape == (2, 7, 64, 128) and len(aux) == 1
    assert aux[0].shape == (2, 7, 64, 128)
    assert all(torch.isfinite(t).all() for t in (logits, *aux))
    logits.mean().backward()
    assert all(p.grad is not None for n, p in net.named_parameters() if not n.startswith("aux"))
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 128, 64))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 7, 128, 64)
    assert torch.isfinite(out).all()


def test_without_aux_train_mode_returns_logits_only() -> None:
    net = build_baseline(BaselineConfig("fast_scnn", width=0.25, aux=False), num_classes=3)
    out = net(torch.randn(2, 3, 64, 64))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3, 64, 64)
    assert not any(n.startswith("aux") for n, _ in net.named_parameters())


def test_fast_scnn_has_the_published_size() -> None:
    # Fast-SCNN reports 1.11 M parameters for 19 classes; ours (no aux head) must be close.
    net = FastSCNN(num_classes=19, width=1.0, aux=True)
    params = count(net, skip="aux_head")
    assert 1.05e6 < params < 1.2e6, params
    assert count(net) > params  # the aux head has weights of its own
    half = count(FastSCNN(num_classes=19, width=0.5), skip="aux_head")
    assert params / 4.5 < half < params / 2.5  # channels halve: weights ~quarter


@pytest.mark.parametrize("size", [(2, 4), (6, 10), (7, 3), (32, 64)])
@pytest.mark.parametrize("bins", [1, 2, 3, 6])
def test_matrix_pooling_equals_adaptive_avg_pool(size: tuple[int, int], bins: int) -> None:
    x = torch.randn(2, 5, *size, dtype=torch.float64)
    expected = F.adaptive_avg_pool2d(x, bins)
    torch.testing.assert_close(adaptive_avg_pool(x, bins), expected)


def test_input_size_must_be_a_multiple_of_64() -> None:
    net = build_baseline(BaselineConfig("fast_scnn", width=0.25, aux=False), 3).eval()
    with pytest.raises(InputSizeError, match="multiples of 64"):
        net(torch.randn(1, 3, 96, 128))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "unet", "width": 1.0}, "unknown baseline"),
        ({"name": "fast_scnn", "width": 0.0}, "> 0"),
        ({"name": "fast_scnn", "width": "1"}, "number"),
    ],
)
def test_bad_config_is_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BaselineConfig(**kwargs, aux=False)
