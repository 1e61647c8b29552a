"""hyctas.evaluate: the latency protocol of the evaluate stage."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyctas.errors import ConfigError
from hyctas.evaluate import measure_latency_ms

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


def test_latency_fields_are_consistent() -> None:
    result = measure_latency_ms(nn.Conv2d(3, 4, 3), BLOCK)
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
        measure_latency_ms(nn.Conv2d(3, 4, 3), BLOCK | change)
    assert torch.get_num_threads() == threads
