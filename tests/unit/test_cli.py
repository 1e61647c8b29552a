"""`hyctas arch info` on published and our-format files, text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hyctas.cli import main
from hyctas.space.arch import Arch

PUBLISHED = Path(__file__).parent / "space" / "data" / "published_archs" / "HRTNET_S.json"
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
