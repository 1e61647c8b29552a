"""RunMode: the dtype, memory format and compilation shared by prediction and measurement."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyctas.errors import ConfigError
from hyctas.latency.keys import OpKey
from hyctas.latency.pieces import build_piece
from hyctas.latency.runmode import COMPILE_WARMUP, RunMode

from .conftest import CLASSES, space

BF16_NHWC = RunMode("bfloat16", channels_last=True, compile="none")


def test_prepare_casts_and_reorders_a_copy() -> None:
    conv = nn.Conv2d(3, 4, 3)
    net = BF16_NHWC.prepare(conv, "cpu")
    assert net is not conv and conv.weight.dtype == torch.float32  # the caller's is kept
    assert net.weight.dtype == torch.bfloat16 and not net.training
    assert net.weight.is_contiguous(memory_format=torch.channels_last)


def test_move_reaches_nested_inputs_and_leaves_the_rest() -> None:
    feats = {1: [torch.randn(1, 2, 4, 4)], "size": (8, 8), "ids": torch.arange(3)}
    moved = BF16_NHWC.move(feats, "cpu")
    assert moved[1][0].dtype == torch.bfloat16
    assert moved[1][0].is_contiguous(memory_format=torch.channels_last)
    assert moved["size"] == (8, 8) and moved["ids"].dtype == torch.int64


def test_piece_prepared_in_the_mode_runs() -> None:
    piece = build_piece(OpKey("conv", 8, 8, 8, 16, 1), space(), CLASSES, 1)
    piece.prepare(torch.device("cpu"), BF16_NHWC)
    (x,) = piece.args
    assert x.dtype == torch.bfloat16 and x.is_contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert piece.runner()().dtype == torch.bfloat16


def test_compile_wraps_the_module(monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(torch, "compile", lambda m, **kw: seen.append(kw) or m)
    RunMode("float32", False, "reduce-overhead").prepare(nn.Conv2d(3, 4, 3), "cpu")
    RunMode("float32", False, "default").prepare(nn.Conv2d(3, 4, 3), "cpu")
    RunMode("float32", False, "none").prepare(nn.Conv2d(3, 4, 3), "cpu")
    assert seen == [{"mode": "reduce-overhead", "dynamic": False}, {"mode": None, "dynamic": False}]


def test_compiling_raises_the_recompile_limit_only_when_compiling() -> None:
    import torch._dynamo.config as dynamo_config

    before = dynamo_config.recompile_limit
    with RunMode("float32", False, "default").compiling():
        assert dynamo_config.recompile_limit > 10_000 and dynamo_config.fail_on_recompile_limit_hit
    with RunMode("float32", False, "none").compiling():
        assert dynamo_config.recompile_limit == before
    assert dynamo_config.recompile_limit == before


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"dtype": "int8", "channels_last": False, "compile": "none"}, "x.dtype: 'int8'"),
        ({"dtype": "float32", "channels_last": "yes", "compile": "none"}, "x.channels_last"),
        ({"dtype": "float32", "channels_last": False, "compile": "fast"}, "x.compile: 'fast'"),
        ({"dtype": "float32", "channels_last": False}, "x.compile: missing"),
    ],
)
def test_bad_values_are_named(block: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RunMode.from_params(block, "x")


def test_warmup_must_cover_compilation() -> None:
    RunMode("float32", False, "none").check_warmup(0, "k.warmup")
    RunMode("float32", False, "default").check_warmup(COMPILE_WARMUP, "k.warmup")
    with pytest.raises(ConfigError, match="k.warmup: 2 untimed runs do not cover compilation"):
        RunMode("float32", False, "default").check_warmup(2, "k.warmup")
