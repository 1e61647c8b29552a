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


def test_same_commands_inputs_outputs(both):
    dvc, smk = both
    for name, job in dvc.items():
        assert job.command == smk[name].command, name
        assert job.inputs == smk[name].inputs, name
        assert job.outputs == smk[name].outputs, name


def test_same_params_keys():
    dvc = dvc_params()
    smk = snakemake_params()
    for name, keys in dvc.items():
        rule = name.split("/")[0]
        assert keys == smk[rule], name


def test_commands_call_stage_modules(both):
    dvc, _ = both
    for name, job in dvc.items():
        assert job.command.startswith(f"python -m stages.{name.split('/')[0]} --params params.yaml"), name
