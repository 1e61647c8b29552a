"""hyctas.evaluate: the latency protocol of the evaluate stage."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyctas.errors import ConfigError
from hyctas.evaluate import accuracy_metrics, measure_latencies_ms, measure_latency_ms
from hyctas.metrics import ConfusionMatrix

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


def test_models_timed_side_by_side_keep_their_names_and_order() -> None:
    small, large = nn.Conv2d(3, 4, 1), nn.Sequential(*[nn.Conv2d(3, 3, 5, padding=2)] * 6)
    found = measure_latencies_ms({"large": large, "small": small}, BLOCK | {"repeats": 5})
    assert list(found) == ["large", "small"]
    assert found["large"]["latency_ms"] > found["small"]["latency_ms"]


def test_accuracy_metrics_count_a_predicted_class_absent_from_val() -> None:
    matrix = ConfusionMatrix(4, 255)
    matrix.update(torch.tensor([0, 2, 1, 1]), torch.tensor([0, 0, 1, 1]))
    metrics = accuracy_metrics(matrix, 4)
    # road 1/2, sidewalk 1, building (predicted, not in val) 0, wall (neither) left out.
    assert metrics["iou"] == {"road": 0.5, "sidewalk": 1.0, "building": 0.0, "wall": None}
    assert metrics["classes_evaluated"] == 3 and metrics["miou"] == pytest.approx(0.5)
