"""Every registered op: shapes, strides, finite outputs, channel slicing, bounded attention."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from hyctas.errors import ArchError
from hyctas.models.attention import MultiHeadSelfAttention
from hyctas.models.ops import OPS, Op, create_op, register_op
from hyctas.space.arch import OP_NAMES

from .conftest import space

CFG = space()


def test_registry_holds_the_published_ops_in_order() -> None:
    assert tuple(OPS) == OP_NAMES


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize(("c_in", "c_out"), [(8, 8), (6, 10), (12, 5)])
def test_op_shape_and_finite(name: str, stride: int, c_in: int, c_out: int) -> None:
    torch.manual_seed(0)
    op = create_op(name, c_in, c_out, stride, CFG)
    if name == "sa":
        torch.nn.init.normal_(op.attn.gamma)  # 0 at init would hide the attention path
    x = torch.randn(2, c_in, 16, 32)
    y = op(x)  # train mode: batch statistics
    assert y.shape == (2, c_out, 16 // stride, 32 // stride)
    assert torch.isfinite(y).all()
    params = list(op.parameters())
    if params:
        y.sum().backward()
        assert all(p.grad is not None for p in params)
    op.eval()
    with torch.no_grad():
        assert torch.isfinite(op(x[:1])).all()


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("stride", [1, 2])
def test_slimmable_op_runs_on_channel_prefix(name: str, stride: int) -> None:
    """A wide op asked for fewer channels equals a narrow op holding the weight prefixes."""
    torch.manual_seed(1)
    wide = create_op(name, 12, 16, stride, CFG, slimmable=True).eval()
    narrow = create_op(name, 7, 9, stride, CFG).eval()
    with torch.no_grad():
        for p in wide.parameters():
            p.normal_(0, 0.3)
        wide_state = wide.state_dict()
        narrow.load_state_dict(
            {
                k: wide_state[k][tuple(slice(0, n) for n in v.shape)]
                for k, v in narrow.state_dict().items()
            }
        )
        x = torch.randn(1, 7, 16, 16)
        torch.testing.assert_close(wide(x, 9), narrow(x), rtol=0, atol=1e-6)


def test_skip_is_identity_when_shape_is_kept() -> None:
    op = create_op("skip", 8, 8, 1, CFG)
    assert sum(p.numel() for p in op.parameters()) == 0
    x = torch.randn(1, 8, 4, 4)
    assert op(x) is x


def test_create_op_rejects_unknown_name_and_stride() -> None:
    with pytest.raises(ArchError, match="unknown"):
        create_op("conv5x5", 4, 4, 1, CFG)
    with pytest.raises(ArchError, match="stride 3"):
        create_op("conv", 4, 4, 3, CFG)


def test_register_op_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="twice"):
        register_op("conv")(Op)


class _Ops(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


def test_attention_uses_the_fused_kernel() -> None:
    attn = MultiHeadSelfAttention(channels=24, heads=3, head_dim=8).eval()
    with torch.no_grad(), _Ops() as seen:
        attn(torch.randn(1, 24, 8, 16))
    assert any("flash_attention" in n for n in seen.names), seen.names
    assert not any("softmax" in n for n in seen.names)


def test_attention_memory_is_bounded_at_one_eighth_resolution() -> None:
    """8192 tokens (64x128): a dense 4-head attention matrix would need > 1 GB."""
    code = textwrap.dedent(
        """
        import resource, torch
        from hyctas.models.ops import create_op
        from hyctas.space.config import SpaceConfig
        cfg = SpaceConfig(ops=("sa",), widths=(1.0,), max_branches=1, min_depth=1,
                          max_depth=1, branch_ratios=(1.0,), fch=4, sa_heads=4,
                          sa_head_dim=16, head_skip_channels=4)
        torch.set_num_threads(1)
        op = create_op("sa", 32, 32, 1, cfg).eval()
        x = torch.randn(1, 32, 64, 128)
        with torch.no_grad():
            op(torch.randn(1, 32, 8, 8))  # warm up allocator and kernels
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            y = op(x)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert y.shape == x.shape
        print((after - before) / 1024)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    growth_mb = float(out.stdout.strip().splitlines()[-1])
    assert growth_mb < 200, f"peak memory grew by {growth_mb:.0f} MB"
