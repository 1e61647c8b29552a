"""The baselines the benchmarks compare against compute what the library computes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dense_attention_equals_sdpa() -> None:
    q, k, v = (
        torch.randn(1, 2, 96, 16, generator=torch.Generator().manual_seed(i)) for i in range(3)
    )
    dense = load("attention_memory").dense_attention(q, k, v)
    assert torch.allclose(dense, F.scaled_dot_product_attention(q, k, v), atol=1e-5)
