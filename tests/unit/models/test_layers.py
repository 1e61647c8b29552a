"""Slimmable layers and `place`: a conv over placed pieces equals one over the pieces alone."""

from __future__ import annotations

import pytest
import torch

from hyctas.models.layers import SlimConv2d, place


def test_place_puts_each_piece_at_its_offset_with_zero_gaps() -> None:
    a, b = torch.ones(1, 2, 3, 3), torch.full((1, 3, 3, 3), 2.0)
    y = place([(0, a), (5, b)])
    assert y.shape == (1, 8, 3, 3)
    assert torch.equal(y[:, :2], a) and torch.equal(y[:, 5:], b)
    assert y[:, 2:5].abs().sum() == 0
    assert torch.equal(place([(0, a), (2, b)]), torch.cat([a, b], 1))  # no gap: a plain cat


def test_conv_over_placed_pieces_uses_the_weight_columns_at_their_offsets() -> None:
    torch.manual_seed(0)
    conv = SlimConv2d(8, 4, 3, padding=1)
    piece = torch.randn(2, 3, 5, 5)
    got = conv(place([(4, piece)]))
    want = torch.nn.functional.conv2d(piece, conv.weight[:, 4:7], conv.bias, padding=1)
    assert torch.allclose(got, want, atol=1e-6)


def test_place_refuses_overlapping_pieces() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        place([(0, torch.ones(1, 3, 2, 2)), (2, torch.ones(1, 1, 2, 2))])
