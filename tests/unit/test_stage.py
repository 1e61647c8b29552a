"""hyctas.stage: the shared command line of the stage scripts."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest

from hyctas.provenance import stage_names
from hyctas.stage import LISTS, parse_stage_args


def test_paths_params_and_metrics_out():
    args = parse_stage_args(
        "doc",
        {"lists": LISTS, "out": "x"},
        argv=["--lists", "l", "--out", "o", "--metrics-out", "m"],
    )
    assert args == argparse.Namespace(
        params="params.yaml", lists=Path("l"), out=Path("o"), metrics_out=Path("m")
    )


def test_every_path_is_required(capsys):
    with pytest.raises(SystemExit):
        parse_stage_args("doc", {"lists": LISTS}, argv=["--lists", "l"])
    assert "--metrics-out" in capsys.readouterr().err


def test_target_and_stop_after():
    args = parse_stage_args(
        "doc", {}, target=True, stop_after=True,
        argv=["--target", "fast", "--metrics-out", "m", "--stop-after", "3"],
    )  # fmt: skip
    assert args.target == "fast" and args.stop_after == 3


@pytest.mark.parametrize("stage", stage_names())
def test_every_stage_parses_through_the_helper(stage, monkeypatch):
    """Each stage's `parse_args` goes through the shared helper."""
    calls = []
    module = importlib.import_module(f"stages.{stage}")
    monkeypatch.setattr(module, "parse_stage_args", lambda *a, **k: calls.append(a[1]))
    module.parse_args()
    assert calls, stage
