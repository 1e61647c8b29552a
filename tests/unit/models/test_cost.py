"""Cost model: MACs of known layers, parameter counts of the published models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyctas.models.cost import arch_cost, count_activation_bytes, count_macs, count_params
from hyctas.models.network import InputSizeError, SegNet
from hyctas.models.presets import published_space_config
from hyctas.space.io import load_arch

from .conftest import PUBLISHED_DIR, arch, space

# Parameters without aux heads, measured from the reference code (Fch 16, 19 classes).
PUBLISHED_PARAMS = {"HRTNET_S": 14.38e6, "HRTNET_M": 11.24e6, "HRTNet_L": 44.79e6}


def test_macs_of_a_single_conv_match_the_formula() -> None:
    conv = nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1, bias=False)
    x = torch.randn(1, 8, 32, 64)
    assert count_macs(conv, x) == 16 * 8 * 3 * 3 * 16 * 32  # c_out * c_in * k * k * H' * W'


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_macs_of_attention_count_both_products(device: str) -> None:
    from hyctas.models.attention import MultiHeadSelfAttention

    with torch.device(device):
        attn = MultiHeadSelfAttention(channels=16, heads=2, head_dim=8).eval()
        x = torch.randn(1, 16, 8, 8)
    n, inner = 64, 16
    projections = n * 16 * 3 * inner + n * inner * 16
    assert count_macs(attn, x) == projections + 2 * n * n * inner  # QK^T and AV


def test_activation_bytes_of_a_conv_relu() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU())
    assert count_activation_bytes(model, torch.randn(1, 3, 8, 8)) == 2 * 4 * 8 * 8 * 4


def test_arch_cost_is_consistent() -> None:
    cfg = space()
    a = arch("conv1", "conv.5|sa1/2|conv1/2|conv1")
    cost = arch_cost(a, cfg, num_classes=7, input_size=(128, 256))
    with_aux = SegNet(a, cfg, 7, aux=True)
    assert cost["params_train"] == count_params(with_aux)
    assert cost["params"] == count_params(SegNet(a, cfg, 7, aux=False))
    assert cost["params"] < cost["params_no_aux_heads"] < cost["params_train"]
    assert cost["macs"] > 0 and cost["activation_bytes"] > 0
    bigger = arch_cost(a, cfg, num_classes=7, input_size=(256, 512))
    # Convs scale with pixels (x4), attention with pixels squared: between x4 and x16.
    assert 4 * cost["macs"] <= bigger["macs"] <= 16 * cost["macs"]
    # Every feature map grows x4 but the globally pooled channel-attention vectors.
    assert 3.95 < bigger["activation_bytes"] / cost["activation_bytes"] <= 4
    assert cost["input_size"] == [128, 256] and cost["num_classes"] == 7


def test_arch_cost_rejects_bad_input_size() -> None:
    with pytest.raises(InputSizeError):
        arch_cost(arch("conv1"), space(), num_classes=3, input_size=(100, 128))


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_published_models_match_reference_parameter_counts(name: str) -> None:
    cfg = published_space_config()
    a = load_arch(PUBLISHED_DIR / f"{name}.json", cfg)
    cost = arch_cost(a, cfg, num_classes=19, input_size=(1024, 2048))
    ratio = cost["params_no_aux_heads"] / PUBLISHED_PARAMS[name]
    assert abs(ratio - 1) < 0.02, f"{name}: {cost['params_no_aux_heads'] / 1e6:.3f} M"
    assert cost["macs"] > 50e9
