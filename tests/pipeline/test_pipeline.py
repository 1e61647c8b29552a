"""The whole DAG on tiny params through DVC: outputs, a no-op re-run, MLflow runs and registered
models (also in the MLflow UI), and `dvc plots show` offline. Snakemake: test_pipeline_snakemake.py
(a file of its own, so that pytest-xdist runs the two DAGs side by side)."""

from __future__ import annotations

import json
import re
import time

import pytest
import yaml
from dvc_render.base import Renderer
from mlflow.tracking import MlflowClient

from hyctas.registry import KINDS, MODEL_KEY, registered_model_name, target_kind
from tests.conftest import skip_or_fail
from tests.pipeline.browser import (
    INSTALL_HINT,
    REMOTE_SCRIPT,
    counting_marks,
    drawn_chart,
    dump_dom,
    find_chromium,
)
from tests.pipeline.dags import (
    declared_outputs,
    dvc_jobs,
    dvc_plot_ids,
    stage_runs,
    stale_after_editing,
)
from tests.pipeline.mlflow_ui import Chromium, mlflow_server, page_text, runs_table
from tests.pipeline.tiny import run, tiny_repo

pytestmark = [pytest.mark.pipeline, pytest.mark.e2e]


@pytest.fixture(scope="module")
def dvc_repo(tmp_path_factory):
    repo = tiny_repo(tmp_path_factory.mktemp("dvc"))
    run(repo, "dvc", "repro", timeout=1500)
    return repo


def test_dvc_repro_runs_the_whole_dag(dvc_repo):
    missing = [o for o in declared_outputs(dvc_repo) if not (dvc_repo / o).exists()]
    assert not missing
    summary = (dvc_repo / "reports/summary.md").read_text()
    for target in ("fast", "accurate", "accurate_supernet", "baseline"):
        assert f"| {target} |" in summary
    assert "Verdict" in summary
    assert "## Ranking: supernet vs stand-alone training" in summary  # from rank_check
    assert "- Kendall tau " in summary
    # accurate and accurate_supernet: one architecture, retrained from scratch and from the
    # supernet's weights, compared side by side.
    spec = json.loads((dvc_repo / "results/select/accurate_supernet/model.json").read_text())
    assert spec["init"] == "supernet"
    trained = json.loads((dvc_repo / "results/retrain/accurate_supernet/metrics.json").read_text())
    assert trained["init"] == "supernet"
    assert f"| `{spec['arch_id']}` | accurate |" in summary
    # a random architecture from accurate's latency band, and a family of two baselines
    band = json.loads((dvc_repo / "results/select/accurate_band0/model.json").read_text())
    accurate = json.loads((dvc_repo / "results/select/accurate/model.json").read_text())
    assert band["band"]["center_arch_id"] == accurate["arch_id"] != band["arch_id"]
    assert "## Search vs chance and vs hand design" in summary
    assert "| accurate | scratch |" in summary and "accurate_band0" in summary
    report = json.loads((dvc_repo / "reports/summary.json").read_text())
    assert report["search_vs_baselines"]["baseline_points"] == 2
    assert report["search_vs_baselines"]["hv_ratio"] is not None
    metrics = json.loads((dvc_repo / "reports/metrics.json").read_text())
    assert metrics["band_compared"] >= 1 and "hv_ratio_vs_baselines" in metrics


def test_second_repro_is_a_quick_no_op(dvc_repo):
    start = time.perf_counter()
    proc = run(dvc_repo, "dvc", "repro")
    assert time.perf_counter() - start < 30
    assert "Running stage" not in proc.stdout and "didn't change" in proc.stdout


def test_editing_a_library_file_makes_only_its_importers_stale(dvc_repo):
    status = json.loads(
        stale_after_editing(dvc_repo, "hyctas/evaluation/metrics.py", "dvc", "status", "--json")
    )
    assert any(name.startswith("evaluate@") for name in status), status
    assert not {"prepare_data", "profile_latency"} & set(status), status
    status = json.loads(
        stale_after_editing(dvc_repo, "hyctas/report.py", "dvc", "status", "--json")
    )
    assert set(status) == {"report"}, status


def test_one_mlflow_run_per_stage_execution(dvc_repo):
    runs = stage_runs(dvc_repo)
    names = sorted(r.data.tags["mlflow.runName"] for r in runs)
    expected = sorted(
        n.replace("/", "[", 1) + ("]" if "/" in n else "") for n in dvc_jobs(dvc_repo)
    )
    assert names == expected
    assert all(r.info.status == "FINISHED" for r in runs)
    evaluate = next(r for r in runs if r.data.tags["mlflow.runName"] == "evaluate[fast]")
    metrics = json.loads((dvc_repo / "results/evaluate/fast/metrics.json").read_text())
    assert evaluate.data.metrics["miou"] == pytest.approx(metrics["miou"])
    # A training experiment (MLflow 3 opens it on its runs), runs sortable by target and arch;
    # report registered every target's model under its alias, in the model of its kind.
    params = yaml.safe_load((dvc_repo / "params.yaml").read_text())
    experiment = params["base"]["mlflow_experiment"]
    client = MlflowClient(f"sqlite:///{dvc_repo / 'mlflow.db'}")
    kind = client.get_experiment_by_name(experiment).tags["mlflow.experimentKind"]
    assert kind == "custom_model_development"
    assert evaluate.data.tags["target"] == "fast"
    assert evaluate.data.tags["arch_id"] == evaluate.data.tags["hyctas.arch_id"]
    assert evaluate.data.tags["mlflow.note.content"].startswith("**evaluate[fast]**")
    for target in params["select"]["targets"]:
        spec = json.loads((dvc_repo / f"results/select/{target}/model.json").read_text())
        name = registered_model_name(experiment, target_kind(spec))
        version = client.get_model_version_by_alias(name, target)
        assert version.tags["arch_id"] == spec.get("arch_id", spec["kind"]), target
        evaluated = json.loads((dvc_repo / f"results/evaluate/{target}/metrics.json").read_text())
        assert version.source == evaluated[MODEL_KEY], target


def test_mlflow_ui_lists_the_stage_runs_and_the_registered_models(dvc_repo, tmp_path):
    """`mlflow server` on the finished run, looked at in headless Chromium: the runs table
    (sorted by mIoU, with target, arch_id, miou, latency_ms) and the registered models."""
    browser = find_chromium()
    if browser is None:
        skip_or_fail(INSTALL_HINT)
    params = yaml.safe_load((dvc_repo / "params.yaml").read_text())
    experiment = params["base"]["mlflow_experiment"]
    store = f"sqlite:///{dvc_repo / 'mlflow.db'}"
    experiment_id = MlflowClient(store).get_experiment_by_name(experiment).experiment_id
    targets = list(params["select"]["targets"])
    with (
        mlflow_server(store, tmp_path / "server.log") as url,
        Chromium(browser) as page,
    ):
        text = runs_table(page, url, experiment_id, [f"evaluate[{t}]" for t in targets])
        assert "Training runs" in text and "report" in text and "prepare_data" in text
        assert all(column in text for column in ("miou", "latency_ms", "target", "arch_id"))
        page.screenshot(tmp_path / "mlflow-runs.png")  # what docs/mlflow-runs.png shows
        names = {kind: registered_model_name(experiment, kind) for kind in KINDS}
        page_text(page, f"{url}/#/models", sorted(names.values()))
        for kind, name in names.items():  # each model's page lists its versions' aliases
            shown = " ".join(page_text(page, f"{url}/#/models/{name}", ["Version 1"]).split())
            for target in targets:
                spec = json.loads((dvc_repo / f"results/select/{target}/model.json").read_text())
                if target_kind(spec) == kind:
                    assert f"@ {target}" in shown, (name, target, shown[:3000])
    assert (tmp_path / "mlflow-runs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def plots_page(dvc_repo, tmp_path_factory):
    """`dvc plots show` of the finished run: the page DVC writes with .dvc/config's template."""
    out = tmp_path_factory.mktemp("dvc_plots")
    run(dvc_repo, "dvc", "plots", "show", "-o", str(out))
    return out / "index.html"


def test_dvc_plots_show_draws_every_plot_offline(dvc_repo, plots_page):
    html = plots_page.read_text()
    assert not REMOTE_SCRIPT.search(html), "the page loads a script from the network"
    assert "vegaEmbed" in html and "{scripts}" not in html
    ids = dvc_plot_ids(dvc_repo)
    assert any("/evaluate/" in i for i in ids) and any("/retrain/" in i for i in ids)
    for plot_id in ids:
        div = re.escape(Renderer.remove_special_chars(plot_id))
        assert re.search(rf'id\s*=\s*"{div}"', html), f"{plot_id} is not on the page"
    images = re.findall(r'<img src="([^"]+\.png)"', html)  # DVC copies them to static/
    assert len(images) == sum(i.endswith(".png") for i in ids)
    assert all((plots_page.parent / src).is_file() for src in images), images


def test_dvc_plots_page_renders_offline_in_headless_chromium(dvc_repo, plots_page):
    browser = find_chromium()
    if browser is None:
        skip_or_fail(INSTALL_HINT)
    dom = dump_dom(browser, counting_marks(plots_page))
    charts = [i for i in dvc_plot_ids(dvc_repo) if not i.endswith(".png")]
    blank = [i for i in charts if not drawn_chart(dom, i)]
    assert charts and not blank, f"vega drew no data marks for {blank}"
