"""dvc.yaml and the Snakefile declare the same stages, commands, inputs, outputs and params."""

from __future__ import annotations

import copy

import pytest

from tests.pipeline.dags import (
    LOOKED_AT,
    NOT_PLOTS,
    dvc_jobs,
    dvc_params,
    dvc_plot_ids,
    snakemake_jobs,
    snakemake_params,
    snakemake_report_outputs,
)


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


def test_code_deps_are_the_stage_imports(both):
    """Each job depends on exactly the project files its stage imports, in both DAGs (so an
    edit of one library file reruns the stages that import it, and no other)."""
    from hyctas.provenance import is_code_path, stage_code_files

    for name, job in both[0].items():
        stage = name.split("/")[0]
        expected = set(stage_code_files(stage))
        for engine, found in (("dvc.yaml", job.inputs), ("Snakefile", both[1][name].inputs)):
            code = {d for d in found if is_code_path(d)}
            assert code == expected, (
                f"{engine} {name}: code deps differ from the stage's imports; missing "
                f"{sorted(expected - code)}, extra {sorted(code - expected)}. "
                "Run `python -m hyctas.provenance --sync-dvc` to rewrite dvc.yaml's."
            )


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


def test_every_picture_and_table_is_a_dvc_plot(both):
    """Each PNG and CSV a stage writes is drawn by `dvc plots show` (NOT_PLOTS aside), so a
    new picture cannot be forgotten; and every plot reads stage outputs."""
    dvc, _ = both
    outputs = {o for job in dvc.values() for o in job.outputs}
    plotted = set().union(*dvc_plot_ids().values())
    missing = {o for o in outputs if o.endswith(LOOKED_AT)} - NOT_PLOTS - plotted
    assert not missing, f"declare these under their stage's `plots:` in dvc.yaml: {sorted(missing)}"
    assert plotted <= outputs - NOT_PLOTS, sorted(plotted - outputs)


def test_snakemake_report_shows_what_dvc_plots(repo_params):
    """`snakemake --report` carries the files `dvc plots show` draws, plus the summary table."""
    outputs = snakemake_report_outputs()
    unwrapped = [p for p, wrapped in outputs.items() if p.endswith(LOOKED_AT) and not wrapped]
    assert set(unwrapped) <= NOT_PLOTS, f"wrap these outputs in report(...): {unwrapped}"
    reported = {
        path.replace("{target}", target)
        for path, wrapped in outputs.items()
        if wrapped
        for target in repo_params["select"]["targets"]
    }
    assert reported == set().union(*dvc_plot_ids().values()) | {"reports/summary.md"}


def test_commands_call_stage_modules(both):
    dvc, _ = both
    for name, job in dvc.items():
        assert job.command.startswith(
            f"python -m stages.{name.split('/')[0]} --params params.yaml"
        ), name


def test_cluster_resources_come_from_params(tmp_path, repo_params):
    """What a cluster executor submits for each job is the params' `resources` block: the
    rule's entry over `default`, GPUs included (training stages with gpus > 1 use torchrun)."""
    import yaml

    from tests.pipeline.dags import snakemake_resources

    params = copy.deepcopy(repo_params)
    params["resources"]["default"]["partition"] = "batch"
    params["resources"]["retrain"] |= {"gpus": 2, "partition": "gpu", "slurm_extra": "--qos=x"}
    config = tmp_path / "params.yaml"
    config.write_text(yaml.safe_dump(params))
    jobs = snakemake_resources(configfile=config)
    retrain = jobs[f"retrain/{next(iter(params['select']['targets']))}"]
    block = params["resources"]["retrain"]
    assert retrain["gpu"] == "2" and retrain["slurm_partition"] == "gpu", retrain
    assert retrain["cpus_per_task"] == str(block["cpus"]) and retrain["mem_mb"] == str(
        block["mem_mb"]
    )
    assert retrain["runtime"] == str(block["runtime_min"]) and retrain["slurm_extra"] == "--qos=x"
    prepare = jobs["prepare_data"]  # default partition, the rule's cpus, no GPU
    assert prepare["slurm_partition"] == "batch" and prepare["gpu"] == "0", prepare
    assert prepare["cpus_per_task"] == str(params["resources"]["prepare_data"]["cpus"])
