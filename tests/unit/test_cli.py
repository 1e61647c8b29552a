"""`hyctas arch info` on published and our-format files, text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hyctas.cli import main
from hyctas.search.published import BUNDLED_DIR
from hyctas.space.arch import Arch

PUBLISHED = BUNDLED_DIR / "HRTNET_S.json"
SPACE = {
    "ops": ["skip", "conv", "conv_downup", "conv_2x_downup", "sa"],
    "widths": [0.333333, 0.5, 0.666667, 0.833333, 1.0],
    "max_branches": 3,
    "min_depth": 1,
    "max_depth": 6,
    "branch_ratios": [0.4, 0.3, 0.3],
    "fch": 4,
    "sa_heads": 2,
    "sa_head_dim": 16,
    "head_skip_channels": 12,
}


@pytest.fixture()
def ours(tmp_path: Path) -> tuple[Path, Path]:
    arch = Arch.from_compact("b0:conv.5|sa1;b1:conv1|skip.5/2|conv1/2|sa1")
    arch_file = tmp_path / "arch.json"
    arch_file.write_text(json.dumps(arch.to_dict()))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"base": {"num_classes": 7}, "search_space": SPACE}))
    return arch_file, params


def test_info_published_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["arch", "info", str(PUBLISHED), "--input-size", "256", "512"]) == 0
    out = capsys.readouterr().out
    assert "published format" in out
    assert "built-in published-scale config" in out
    assert "branch 0: 11 cells, ends at 1/32" in out
    assert "final scales:  1/32" in out
    assert "1x3x256x512, 19 classes" in out
    for key in ("id:", "compact:", "params:", "MACs:", "activations:"):
        assert key in out
    assert "14.2" in out  # ~14.3 M parameters without aux heads (reference: 14.38 M)


def test_info_published_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["arch", "info", str(PUBLISHED), "--input-size", "256", "512", "--classes", "5"]
    assert main([*argv, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "published" and info["final_scales"] == [2]
    assert len(info["branches"]) == 1 and info["branches"][0]["depth"] == 11
    assert info["cost"]["num_classes"] == 5 and info["cost"]["input_size"] == [256, 512]
    assert len(info["id"]) == 12 and info["compact"].startswith("b0:")
    cost = info["cost"]
    assert 0 < cost["params"] < cost["params_no_aux_heads"] < cost["params_train"]


def test_info_our_format_uses_params(ours: tuple[Path, Path], capsys) -> None:
    arch_file, params = ours
    argv = ["arch", "info", str(arch_file), "--params", str(params), "--input-size", "64", "128"]
    assert main([*argv, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "hyctas" and info["search_space"].startswith(str(params))
    assert info["cost"]["num_classes"] == 7  # from base.num_classes
    assert info["final_scales"] == [0, 2]
    assert main(argv) == 0
    assert "ends at 1/32" in capsys.readouterr().out


def test_info_our_format_without_params_is_an_error(ours, capsys) -> None:
    assert main(["arch", "info", str(ours[0])]) == 2
    assert "pass --params" in capsys.readouterr().err


def test_info_reports_bad_inputs(ours, tmp_path: Path, capsys) -> None:
    assert main(["arch", "info", str(PUBLISHED), "--input-size", "100", "128"]) == 2
    assert "multiples of 64" in capsys.readouterr().err
    assert main(["arch", "info", str(tmp_path / "missing.json"), "--params", str(ours[1])]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"search_space": {**SPACE, "fch": 0}}))
    assert main(["arch", "info", str(ours[0]), "--params", str(bad)]) == 2
    assert "search_space.fch" in capsys.readouterr().err


def test_no_subcommand_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def _latency_files(tmp_path: Path, fch: int) -> tuple[Path, Path]:
    """A table with 1 ms per piece for SPACE (with `fch`) at 64x128, and a model 2x + 1 ms."""
    from hyctas.latency import LatencyModel, LatencyTable, enumerate_keys
    from hyctas.latency.timing import Timing
    from hyctas.space.config import SpaceConfig

    space = dict(SPACE, fch=fch)
    keys = enumerate_keys(SpaceConfig.from_params(space), 7, (64, 128))
    meta = {
        "statistic": "median", "height": 64, "width": 128, "num_classes": 7,
        "search_space": space, "device": "cpu: test", "threads": 1, "clock": "cpu",
        "batch_size": 1, "dtype": "float32", "repeats": 5, "torch": "x", "date": "today",
    }  # fmt: skip
    table = LatencyTable({k: Timing(1.0, 1.0, 1.0, 1.0, 5) for k in keys}, meta)
    table.save(tmp_path / f"table{fch}.csv")
    LatencyModel(2.0, 1.0, 10, table.digest()).save(tmp_path / f"model{fch}.json")
    return tmp_path / f"table{fch}.csv", tmp_path / f"model{fch}.json"


def test_info_predicted_latency(ours, tmp_path: Path, capsys) -> None:
    arch_file, params = ours
    table, model = _latency_files(tmp_path, fch=SPACE["fch"])
    argv = ["arch", "info", str(arch_file), "--params", str(params), "--input-size", "64", "128"]
    assert main([*argv, "--latency-table", str(table), "--latency-model", str(model)]) == 0
    out = capsys.readouterr().out
    # stem + 6 cells (2 + 4, no shared prefix) + fusion + head = 9 pieces of 1 ms: 2 * 9 + 1.
    assert "latency:       19.00 ms predicted (2.0000 x table sum 9.00 ms + 1.00 ms)" in out
    assert "stem 1.00, cells 6.00, fusion 1.00, head 1.00 ms" in out
    assert "1x3x64x128 (batch 1), float32, 1 thread(s), median of 5 runs (cpu clock)" in out
    assert main([*argv, "--latency-table", str(table), "--json"]) == 0
    latency = json.loads(capsys.readouterr().out)["latency"]
    assert latency["predicted_ms"] == latency["table_sum_ms"] == 9.0 and latency["model"] is None


def test_info_latency_table_of_another_space_is_an_error(ours, tmp_path: Path, capsys) -> None:
    arch_file, params = ours
    table, _ = _latency_files(tmp_path, fch=2)
    argv = ["arch", "info", str(arch_file), "--params", str(params), "--latency-table", str(table)]
    assert main(argv) == 2
    assert "profiled for another search space (fch 4 vs 2" in capsys.readouterr().err
    assert main(["arch", "info", str(arch_file), "--params", str(params),
                 "--latency-model", "m.json"]) == 2  # fmt: skip
    assert "--latency-model needs --latency-table" in capsys.readouterr().err
