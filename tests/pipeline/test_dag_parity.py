"""dvc.yaml and the Snakefile declare the same stages, commands, inputs, outputs and params."""

from __future__ import annotations

import pytest

from tests.pipeline.dags import dvc_jobs, dvc_params, snakemake_jobs, snakemake_params


@pytest.fixture(scope="module")
def both():
    return dvc_jobs(), snakemake_jobs()


def test_same_jobs(both):
    dvc, smk = both
    assert sorted(dvc) == sorted(smk)
    assert "prepare_data" in dvc


def covered(inputs: frozenset[str], deps: frozenset[str]) -> frozenset[str]:
    """Snakemake's per-file inputs mapped to the DVC dep (file or folder) that holds each."""
    return frozenset(
        next((d for d in deps if i == d or i.startswith(d.rstrip("/") + "/")), i) for i in inputs
    )


def test_same_commands_inputs_outputs(both):
    dvc, smk = both
    for name, job in dvc.items():
        assert job.command == smk[name].command, name
        assert covered(smk[name].inputs, job.inputs) == job.inputs, name
        assert job.outputs == smk[name].outputs, name


def test_fan_out_covers_every_target(both, repo_params):
    dvc, _ = both
    for stage in ("select", "retrain", "evaluate"):
        assert {n.split("/")[1] for n in dvc if n.startswith(stage + "/")} == set(
            repo_params["select"]["targets"]
        )


def test_same_params_keys():
    dvc = dvc_params()
    smk = snakemake_params()
    for name, keys in dvc.items():
        rule, _, target = name.partition("/")
        assert keys == {k.replace("{wc.target}", target) for k in smk[rule]}, name


def test_commands_call_stage_modules(both):
    dvc, _ = both
    for name, job in dvc.items():
        assert job.command.startswith(
            f"python -m stages.{name.split('/')[0]} --params params.yaml"
        ), name
