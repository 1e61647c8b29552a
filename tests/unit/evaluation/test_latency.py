"""hyctas.evaluation.latency: the latency protocol of the evaluate stage."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyctas.errors import ConfigError
from hyctas.evaluation.latency import measure_latencies_ms, measure_latency_ms
from hyctas.latency.runmode import RunMode

BLOCK = {
    "device": "cpu",
    "height": 64,
    "width": 64,
    "threads": 1,
    "clock": "cpu",
    "warmup": 1,
    "repeats": 3,
    "spread_seconds": 0,
    "statistic": "median",
}
FP32 = RunMode("float32", channels_last=False, compile="none")


def test_latency_fields_are_consistent() -> None:
    result = measure_latency_ms(nn.Conv2d(3, 4, 3), BLOCK, FP32)
    assert result["latency_ms"] > 0
    assert result["fps"] == pytest.approx(1000.0 / result["latency_ms"])
    assert result["latency_p90_ms"] >= result["latency_median_ms"]


@pytest.mark.parametrize(
    ("change", "message"),
    [({"threads": 2}, "needs device cpu and threads 1"), ({"clock": "tsc"}, "unknown")],
)
def test_bad_clock_names_the_evaluate_key(change: dict, message: str) -> None:
    threads = torch.get_num_threads()
    with pytest.raises(ConfigError, match=f"evaluate.latency.clock: .*{message}"):
        measure_latency_ms(nn.Conv2d(3, 4, 3), BLOCK | change, FP32)
    assert torch.get_num_threads() == threads


def test_models_timed_side_by_side_keep_their_names_and_order() -> None:
    small, large = nn.Conv2d(3, 4, 1), nn.Sequential(*[nn.Conv2d(3, 3, 5, padding=2)] * 6)
    found = measure_latencies_ms({"large": large, "small": small}, BLOCK | {"repeats": 5}, FP32)
    assert list(found) == ["large", "small"]
    assert found["large"]["latency_ms"] > found["small"]["latency_ms"]


class Probe(nn.Module):
    """A conv that records the dtype and memory format of what it is called with."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.seen: list[tuple] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nhwc = x.is_contiguous(memory_format=torch.channels_last)
        self.seen.append((x.dtype, self.conv.weight.dtype, nhwc))
        return self.conv(x)


def test_latency_is_timed_in_the_profile_mode_on_a_copy(monkeypatch) -> None:
    copies: list[nn.Module] = []
    prepare = RunMode.prepare
    monkeypatch.setattr(RunMode, "prepare", lambda *a: copies.append(prepare(*a)) or copies[-1])
    model = Probe()
    mode = RunMode("bfloat16", channels_last=True, compile="none")
    result = measure_latency_ms(model, BLOCK, mode)
    (timed,) = copies
    assert set(timed.seen) == {(torch.bfloat16, torch.bfloat16, True)}
    assert len(timed.seen) == BLOCK["warmup"] + BLOCK["repeats"]
    assert model.seen == [] and model.conv.weight.dtype == torch.float32  # left as it was
    assert (result["latency_dtype"], result["latency_channels_last"]) == ("bfloat16", True)
    assert result["latency_compile"] == "none"


def test_compile_reaches_the_timed_program_and_needs_its_warmup(monkeypatch) -> None:
    compiled: list[dict] = []
    monkeypatch.setattr(torch, "compile", lambda m, **kw: compiled.append(kw) or m)
    mode = RunMode("float32", channels_last=False, compile="max-autotune")
    with pytest.raises(ConfigError, match="evaluate.latency.warmup: 1 untimed runs"):
        measure_latencies_ms({"a": nn.Conv2d(3, 4, 3)}, BLOCK, mode)
    found = measure_latencies_ms({"a": nn.Conv2d(3, 4, 3)}, BLOCK | {"warmup": 3}, mode)
    assert compiled == [{"mode": "max-autotune", "dynamic": False}]
    assert found["a"]["latency_compile"] == "max-autotune"


@pytest.mark.slow
def test_really_compiled_on_cpu() -> None:
    """torch.compile (inductor, C++ on CPU) under inference_mode and the raised limits."""
    mode = RunMode("bfloat16", channels_last=True, compile="default")
    nets = {"a": nn.Conv2d(3, 4, 3), "b": nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())}
    found = measure_latencies_ms(nets, BLOCK | {"warmup": 3, "repeats": 2}, mode)
    assert all(r["latency_ms"] > 0 for r in found.values())
