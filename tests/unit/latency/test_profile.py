"""A whole profiling run on a tiny space, through the library and through the stage."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from hyctas.latency.enumerate import enumerate_keys
from hyctas.latency.predictor import LatencyModel, LatencyPredictor
from hyctas.latency.profile import run_profile
from hyctas.latency.table import LatencyTable

from .conftest import CLASSES, SIZE, profile_block, settings, space, space_block

REPO = Path(__file__).resolve().parents[3]


def test_run_profile_tiny() -> None:
    cfg = space(max_depth=2)
    result = run_profile(cfg, CLASSES, settings(), seed=0)
    keys = enumerate_keys(cfg, CLASSES, SIZE)
    assert sorted(result.table.entries) == keys
    assert all(t.runs == 2 and 0 < t.min_ms <= t.median_ms for t in result.table.entries.values())
    meta = result.table.meta
    assert meta["threads"] == 1 and meta["statistic"] == "min" and meta["keys"] == len(keys)
    assert (meta["height"], meta["width"], meta["num_classes"]) == (*SIZE, CLASSES)
    assert meta["search_space"] == cfg.to_params() and meta["device"].startswith("cpu")
    assert result.model.table_digest == result.table.digest()
    assert len(result.rows) == 3 and result.model.calibration_archs == 3
    m = result.metrics
    assert m["keys"] == len(keys) == m["keys_cells"] + m["keys_fusion"] + m["keys_head"] + 1
    assert m["mape_pct"] >= 0 and -1 <= m["kendall_tau"] <= 1
    predictor = LatencyPredictor(result.table, result.model)
    for row in result.rows:
        assert row["measured_ms"] > 0 and row["table_sum_ms"] > 0
        assert row["predicted_ms"] == pytest.approx(
            result.model.apply(row["table_sum_ms"]), rel=1e-3
        )
    assert predictor.cfg == cfg


def test_partial_table_in_bf16_channels_last_validates_the_predictor() -> None:
    """The GPU suite's subset: only the keys of the sampled archs, in the mode they run in."""
    cfg = space(max_depth=2)
    mode = {"dtype": "bfloat16", "channels_last": True}
    result = run_profile(cfg, CLASSES, settings(**mode), seed=0, arch_keys_only=True)
    m, meta = result.metrics, result.table.meta
    assert m["arch_keys_only"] and 0 < m["keys"] < len(enumerate_keys(cfg, CLASSES, SIZE))
    assert (m["dtype"], m["channels_last"], m["compile"]) == ("bfloat16", True, "none")
    assert (meta["dtype"], meta["channels_last"], meta["compile"]) == ("bfloat16", True, "none")
    assert len(result.rows) == 3 and m["mape_pct"] >= 0


def test_stage_writes_its_outputs(
    tmp_path: Path, mlflow_store: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["search_space"] = space_block(max_depth=2)
    params["base"]["num_classes"] = CLASSES
    params["profile_latency"] = profile_block(calibration_archs=2, validation_archs=3)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "results"
    argv = ["profile_latency", "--params", str(tmp_path / "params.yaml")]
    for flag, name in [("--table", "latency_table.csv"), ("--model", "latency_model.json"),
                       ("--validation", "validation.csv"), ("--plot", "validation.png"),
                       ("--metrics-out", "metrics.json")]:  # fmt: skip
        argv += [flag, str(out / name)]
    monkeypatch.setattr(sys, "argv", argv)
    from stages import profile_latency

    profile_latency.main(profile_latency.parse_args())
    table = LatencyTable.load(out / "latency_table.csv")
    model = LatencyModel.load(out / "latency_model.json")
    assert model.table_digest == table.digest()
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"keys", "measure_seconds", "mape_pct", "kendall_tau", "scale"} <= set(metrics)
    rows = (out / "validation.csv").read_text().splitlines()
    assert rows[0].startswith("arch_id,branches,table_sum_ms,predicted_ms,measured_ms")
    assert len(rows) == 1 + 3
    assert (out / "validation.png").stat().st_size > 0
    assert "Kendall tau" in capsys.readouterr().out
