"""Stand-alone training for rank_check: its recipe, and a fingerprint that outlives edits to
the rest of the stage."""

from __future__ import annotations

import pytest

from hyctas.errors import ConfigError
from hyctas.provenance import module_code_files, stage_code_files
from hyctas.ranking.standalone import standalone_recipe
from tests.pipeline.tiny import tiny_params


def test_the_recipe_is_retrains_with_the_stages_iterations() -> None:
    params = tiny_params({"rank_check": {"iterations": 9}})
    assert standalone_recipe(params) == {**params["retrain"]["recipe"], "iterations": 9}
    too_short = tiny_params({"rank_check": {"iterations": 1}})  # warm-up is 1 step
    with pytest.raises(ConfigError, match=r"rank_check.iterations = 1 .*warmup_iters = 1"):
        standalone_recipe(too_short)


def test_a_runs_code_is_training_and_evaluation_not_the_comparison() -> None:
    """Editing how rank_check picks, correlates or plots keeps every finished run."""
    run_code = set(module_code_files("hyctas.ranking.standalone"))
    assert {"hyctas/train/loop.py", "hyctas/evaluation/accuracy.py"} <= run_code
    assert {"hyctas/models/factory.py", "hyctas/data/dataset.py"} <= run_code
    stage_only = {"hyctas/ranking/run.py", "hyctas/ranking/correlation.py", "stages/rank_check.py"}
    assert stage_only <= set(stage_code_files("rank_check")) and not stage_only & run_code
