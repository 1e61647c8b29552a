rule select:
    input:
        code=code_of("select"),
        archive="results/search/archive.csv",
    output:
        spec="results/select/{target}/model.json",
        metrics="results/select/{target}/metrics.json",
    params:
        file=PARAMS_FILE,
        reads=lambda wc: params_of(
            "base.mlflow_experiment",
            "base.seed",
            "search.extra_objectives",
            "search.constraints",
            f"select.targets.{wc.target}",
        ),
    resources:
        **resources_for("select"),
    threads: threads_for("select")
    log:
        "logs/select/{target}.log",
    conda:
        SOFTWARE
    shell:
        "python -m stages.select --params {params.file} --target {wildcards.target}"
        " --archive {input.archive} --out {output.spec}"
        " --metrics-out {output.metrics} 2> {log}"
