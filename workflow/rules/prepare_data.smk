rule prepare_data:
    input:
        code=code_of("prepare_data"),
    output:
        dataset=directory("data/prepare_data/dataset"),
        lists=directory("data/prepare_data/lists"),
        metrics="data/prepare_data/metrics.json",
    params:
        file=PARAMS_FILE,
        reads=params_of("base.seed", "base.num_classes", "base.ignore_label", "prepare_data"),
    resources:
        **resources_for("prepare_data"),
    threads: threads_for("prepare_data")
    log:
        "logs/prepare_data.log",
    conda:
        SOFTWARE
    shell:
        "python -m stages.prepare_data --params {params.file}"
        " --dataset-out {output.dataset} --lists-out {output.lists}"
        " --metrics-out {output.metrics} 2> {log}"
