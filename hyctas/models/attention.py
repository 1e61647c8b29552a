"""Multi-head self-attention over the pixels of a feature map, in bounded memory.

q, k and v are all projected to the same per-head dimension, so PyTorch's fused
`scaled_dot_product_attention` kernel runs: with equal head dims it never materialises the
N x N attention matrix (with different dims it falls back to the math path, which does).

Example:
    >>> attn = MultiHeadSelfAttention(channels=64, heads=2, head_dim=16)
    >>> attn(torch.randn(1, 64, 32, 64)).shape
    torch.Size([1, 64, 32, 64])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hyctas.models.layers import SlimConv2d


class MultiHeadSelfAttention(nn.Module):
    """`x + gamma * proj(attention(q, k, v))` with `gamma` initialised to 0.

    The zero `gamma` makes the block start as the identity (as in the reference `sa` op),
    which keeps early training of deep hybrid networks stable.

    Args:
        channels: Channels of the input and output (the most, when slimmed).
        heads: Number of attention heads.
        head_dim: Dimension of q, k and v in each head.
    """

    def __init__(self, channels: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = head_dim
        inner = heads * head_dim
        self.qkv = SlimConv2d(channels, 3 * inner, kernel_size=1, bias=True)
        self.proj = SlimConv2d(inner, channels, kernel_size=1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attends over all H*W positions of `x` (N, C, H, W); returns the same shape."""
        n, c, h, w = x.shape
        qkv = self.qkv(x).reshape(n, 3, self.heads, self.head_dim, h * w)
        # (N, heads, tokens, head_dim), contiguous as the fused CPU kernel prefers.
        q, k, v = (qkv[:, i].transpose(-1, -2).contiguous() for i in range(3))
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(-1, -2).reshape(n, self.heads * self.head_dim, h, w)
        return x + self.gamma * self.proj(out, c)
