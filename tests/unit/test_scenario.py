"""hyctas.scenario: params overlays run in a workspace of their own, resumable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from hyctas.errors import ConfigError
from hyctas.scenario import load_overlay, overlay_params, run_scenario, sync_workspace
from tests.pipeline.tiny import OVERRIDES, REPO


def test_overlay_merges_blocks_and_replaces_targets():
    base = {"a": {"x": 1, "y": 2}, "select": {"targets": {"fast": {}, "slow": {}}}}
    merged = overlay_params(base, {"a": {"y": 3}, "select": {"targets": {"only": {}}}})
    assert merged == {"a": {"x": 1, "y": 3}, "select": {"targets": {"only": {}}}}
    assert base["a"]["y"] == 2  # the base is not modified


def test_bad_overlays_are_named(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_overlay(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_overlay(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("search: {population: 1}\n")
    with pytest.raises(ConfigError, match="search.population"):
        run_scenario(tmp_path / "bad.yaml", workspace=tmp_path / "ws")


def test_sync_rewrites_only_changed_files(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}")
    ws = tmp_path / "ws"
    assert sync_workspace(ws, {"k": 1}) > 10
    stamp = (ws / "hyctas/evaluation/metrics.py").stat().st_mtime_ns
    (ws / "hyctas/stale_module.py").write_text("")  # code the project no longer has
    assert sync_workspace(ws, {"k": 1}) == 1  # only the removal
    assert not (ws / "hyctas/stale_module.py").exists()
    assert (ws / "hyctas/evaluation/metrics.py").stat().st_mtime_ns == stamp
    assert sync_workspace(ws, {"k": 2}) == 1 and yaml.safe_load((ws / "params.yaml").read_text())
    assert (ws / ".dvc").is_dir() and not (ws / "dvc.lock").exists()


@pytest.mark.pipeline
def test_a_scenario_runs_in_its_workspace_and_resumes(tmp_path):
    """The tiny overrides as a scenario: its first stage runs once, the second run is a no-op."""
    overlay = tmp_path / "tiny.yaml"
    overlay.write_text(OVERRIDES.read_text())
    ws = tmp_path / "ws"
    command = [sys.executable, "-m", "hyctas.scenario", str(overlay), "--workspace", str(ws)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env["PATH"] = f"{os.path.dirname(sys.executable)}:{env['PATH']}"
    first = subprocess.run([*command, "prepare_data"], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    params = yaml.safe_load((ws / "params.yaml").read_text())
    assert params["prepare_data"]["synthetic"]["train_images"] == 6  # the overlay's value
    assert (ws / "data/prepare_data/lists/search.txt").is_file() and (ws / "dvc.lock").is_file()
    again = subprocess.run([*command, "prepare_data"], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0 and "Running stage" not in again.stdout, again.stdout[-2000:]
