"""hyctas.ablation: variants of a scenario run to one stage, resumed variant by variant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import hyctas.ablation as ablation_module
from hyctas.ablation import Ablation, run_ablation
from hyctas.errors import ConfigError
from hyctas.params import validate_params
from hyctas.ranking.run import ranking_metrics
from hyctas.scenario import load_overlay, merged_params, overlay_params
from tests.pipeline.tiny import REPO

SHIPPED = REPO / "scenarios" / "supernet_ablation.yaml"


def write_ablation(root: Path, variants: dict) -> Path:
    (root / "scenarios").mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text("search: {images: 6, population: 10}\n")
    (root / "scenarios" / "base.yaml").write_text("search: {images: 3}\n")
    path = root / "scenarios" / "abl.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "base": "base.yaml",
                "stage": "rank_check",
                "metrics": "results/rank_check/metrics.json",
                "compare": ["kendall_tau"],
                "variants": variants,
            },
            sort_keys=False,
        )
    )
    return path


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Replace the DAG run: write a metrics file whose tau is the variant's sampling length."""
    calls: list[dict] = []

    def run_overlay(overlay, name, *, source, engine, workspace, stages, root):
        calls.append({"overlay": overlay, "name": name, "stages": stages})
        sampling = overlay.get("pretrain_supernet", {}).get("sampling", "")
        out = workspace / "results/rank_check/metrics.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"kendall_tau": len(sampling) / 10}))
        return workspace

    monkeypatch.setattr(ablation_module, "run_overlay", run_overlay)
    return calls


def test_the_shipped_ablations_are_well_formed():
    ablation = Ablation.load(SHIPPED)
    assert ablation.base.name == "search_quality.yaml" and ablation.stage == "rank_check"
    assert {"uniform", "sandwich", "sandwich_distill"} <= set(ablation.variants)
    budget = Ablation.load(REPO / "scenarios" / "search_budget.yaml")
    assert budget.stage == "search" and "efficiency.match_ratio_mean" in budget.compare
    assert budget.variants["scenario"] == {}  # the base's own budget, for the same table
    size = Ablation.load(REPO / "scenarios" / "ranking_size.yaml")
    assert size.stage == "rank_check" and size.variants["n30"]["rank_check"]["architectures"] == 30


def shipped_ablations() -> list[Path]:
    """Every ablation file under scenarios/ (a scenario overlay has no `variants`)."""
    return [p for p in sorted((REPO / "scenarios").glob("*.yaml")) if "variants" in load_overlay(p)]


@pytest.mark.parametrize("path", shipped_ablations(), ids=lambda p: p.stem)
def test_every_shipped_variant_gives_params_the_schema_accepts(path):
    ablation = Ablation.load(path)
    base = load_overlay(ablation.base)
    for name, extra in ablation.variants.items():
        validate_params(merged_params(overlay_params(base, extra)), source=f"{path.name}: {name}")


def test_the_ranking_ablations_compare_metrics_rank_check_writes():
    """A misspelt compare key would only show as an empty column hours later."""
    rows = [
        {"index": i, "arch_id": f"a{i}", "compact": "b0", "branches": 1,
         "predicted_latency_ms": 10.0 + i, "inherited_miou": 0.1 * i, "seed": seed,
         "standalone_miou": 0.1 * i + 0.01 * seed}
        for seed in (0, 1) for i in range(3)
    ]  # fmt: skip
    written = set(ranking_metrics(rows, 0, 1, 0.1)) | {"pool", "standalone_iterations", "seconds"}
    for name in ("supernet_ablation.yaml", "ranking_size.yaml", "ranking_replica.yaml"):
        ablation = Ablation.load(REPO / "scenarios" / name)
        assert set(ablation.compare) <= written, name


def test_compared_metrics_may_be_nested():
    metrics = {"seconds": 3.0, "efficiency": {"match_ratio_mean": 2.5, "per_seed": {}}}
    assert ablation_module.metric(metrics, "seconds") == 3.0
    assert ablation_module.metric(metrics, "efficiency.match_ratio_mean") == 2.5
    assert ablation_module.metric(metrics, "efficiency.missing") is None
    assert ablation_module.metric(metrics, "seconds.deeper") is None


def test_malformed_ablations_are_named(tmp_path):
    path = write_ablation(tmp_path, {"a": {}})
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**data, "typo": 1}))
    with pytest.raises(ConfigError, match="unknown \\['typo'\\]"):
        Ablation.load(path)
    path.write_text(yaml.safe_dump({**data, "variants": {"a": [1]}}))
    with pytest.raises(ConfigError, match="variants.a"):
        Ablation.load(path)
    path.write_text(yaml.safe_dump({**data, "base": "none.yaml"}))
    with pytest.raises(ConfigError, match="no scenario file"):
        Ablation.load(path)


def test_the_base_scenario_must_have_run(tmp_path, fake_engine):
    ablation = Ablation.load(write_ablation(tmp_path, {"a": {}}))
    with pytest.raises(ConfigError, match="has not run; run `python -m hyctas.scenario"):
        run_ablation(ablation, root=tmp_path)
    assert not fake_engine


def test_variants_run_once_each_and_resume(tmp_path, fake_engine):
    base_ws = tmp_path / "scenarios/runs/base"
    base_ws.mkdir(parents=True)
    (base_ws / "dvc.lock").write_text("schema: '2.0'\n")
    (base_ws / "checkpoint.pt").write_text("x")  # the base's outputs come along
    variants = {"uniform": {"pretrain_supernet": {"sampling": "uniform"}}, "base": {}}
    path = write_ablation(tmp_path, variants)
    results = run_ablation(Ablation.load(path), root=tmp_path)
    ws = tmp_path / "scenarios/runs/abl"
    assert (ws / "checkpoint.pt").is_file()
    assert [c["stages"] for c in fake_engine] == [["rank_check"], ["rank_check"]]
    # The base scenario's overlay with the variant's on top.
    assert fake_engine[0]["overlay"] == {
        "search": {"images": 3},
        "pretrain_supernet": {"sampling": "uniform"},
    }
    assert results["uniform"]["metrics"] == {"kendall_tau": 0.7}
    assert json.loads((ws / "ablation/summary.json").read_text())["variants"] == {
        "uniform": {"kendall_tau": 0.7},
        "base": {"kendall_tau": 0.0},
    }
    assert "| uniform | 0.700 |" in (ws / "ablation/summary.md").read_text()
    # Rerun: nothing left to do. A changed variant reruns alone.
    run_ablation(Ablation.load(path), root=tmp_path)
    assert len(fake_engine) == 2
    variants["uniform"] = {"pretrain_supernet": {"sampling": "sandwich"}}
    run_ablation(Ablation.load(write_ablation(tmp_path, variants)), root=tmp_path)
    assert len(fake_engine) == 3 and fake_engine[2]["name"] == "abl/uniform"
    summary = json.loads((ws / "ablation/summary.json").read_text())
    assert summary["variants"]["uniform"] == {"kendall_tau": 0.8}
    # The base scenario reran: a fresh copy of its workspace, every variant again.
    (base_ws / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    (base_ws / "checkpoint.pt").write_text("y")
    run_ablation(Ablation.load(path), root=tmp_path)
    assert len(fake_engine) == 5 and (ws / "checkpoint.pt").read_text() == "y"
