"""The whole DAG on tiny params through Snakemake (-j 4 into one fresh MLflow store): every
output DVC declares, one finished run per job with its metrics, code edits that make only
their importers stale, and `snakemake --report` with every plot and the summary."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.pipeline.browser import REMOTE_SCRIPT
from tests.pipeline.dags import declared_outputs, dvc_plot_ids, stage_runs, stale_after_editing
from tests.pipeline.tiny import run, tiny_repo

pytestmark = [pytest.mark.pipeline, pytest.mark.e2e]


@pytest.fixture(scope="module")
def snakemake_repo(tmp_path_factory):
    repo = tiny_repo(tmp_path_factory.mktemp("snakemake"))
    # -j 4 with one thread per retrain and evaluate job: the fan-out runs four jobs at a time,
    # all writing to one fresh sqlite MLflow store.
    one_thread = ["--set-threads", "retrain=1", "evaluate=1", "select=1"]
    run(repo, "snakemake", "-j", "4", *one_thread, timeout=1500)
    return repo


def test_snakemake_produces_the_same_outputs(snakemake_repo):
    repo = snakemake_repo
    assert not [o for o in declared_outputs(repo) if not (repo / o).exists()]
    logs = "".join(p.read_text() for p in (repo / "logs").rglob("*.log"))
    assert "Traceback" not in logs
    fan_out = [
        r for r in stage_runs(repo) if r.data.tags["hyctas.stage"] in ("retrain", "evaluate")
    ]
    names = sorted(r.data.tags["mlflow.runName"] for r in fan_out)
    targets = yaml.safe_load((repo / "params.yaml").read_text())["select"]["targets"]
    assert names == sorted(f"{s}[{t}]" for s in ("retrain", "evaluate") for t in targets)
    for found in fan_out:  # every job's run finished, with its metrics
        name = found.data.tags["mlflow.runName"]
        assert found.info.status == "FINISHED", name
        stage, target = name.rstrip("]").split("[")
        written = json.loads((repo / f"results/{stage}/{target}/metrics.json").read_text())
        numbers = {
            k: v for k, v in written.items() if isinstance(v, float) and not isinstance(v, bool)
        }
        assert numbers and numbers == pytest.approx({k: found.data.metrics[k] for k in numbers}), (
            name
        )
    dry_run = stale_after_editing(
        repo, "hyctas/evaluation/metrics.py", "snakemake", "-n", "-j", "1"
    )
    assert "rule evaluate:" in dry_run and "rule prepare_data:" not in dry_run, dry_run[-3000:]
    assert "rule profile_latency:" not in dry_run


def test_snakemake_report_carries_every_plot_and_the_summary(snakemake_repo, tmp_path):
    out = tmp_path / "report.html"
    run(snakemake_repo, "snakemake", "--report", str(out))
    html = out.read_text()
    assert not REMOTE_SCRIPT.search(html), "the report loads a script from the network"
    found = re.search(r'<script id="results"[^>]*>\s*var results = (.*?);?\s*</script>', html, re.S)
    assert found, "no results in the report"
    results = json.loads(found.group(1))  # {path: {..., "data_uri": the file, embedded}}
    plotted = set().union(*dvc_plot_ids(snakemake_repo).values())
    assert set(results) == plotted | {"reports/summary.md"}
    assert all(r["data_uri"].startswith("data:") for r in results.values())
