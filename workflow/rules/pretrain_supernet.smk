rule pretrain_supernet:
    input:
        code=code_of("pretrain_supernet"),
        dataset="data/prepare_data/dataset",
        lists="data/prepare_data/lists",
    output:
        supernet="results/pretrain_supernet/supernet.pt",
        log=report(
            "results/pretrain_supernet/train_log.csv",
            category="Supernet",
            caption="../report/supernet_log.rst",
        ),
        probes=report(
            "results/pretrain_supernet/probes.csv",
            category="Supernet",
            caption="../report/probes.rst",
        ),
        metrics="results/pretrain_supernet/metrics.json",
    params:
        file=PARAMS_FILE,
        checkpoint="checkpoints/pretrain_supernet/last.pt",
        reads=params_of(
            "base.seed",
            "base.device",
            "base.num_classes",
            "base.ignore_label",
            "search_space",
            "pretrain_supernet",
        ),
    resources:
        **resources_for("pretrain_supernet"),
    threads: threads_for("pretrain_supernet")
    log:
        "logs/pretrain_supernet.log",
    conda:
        SOFTWARE
    shell:
        "python -m stages.pretrain_supernet --params {params.file} --lists {input.lists}"
        " --checkpoint {params.checkpoint} --out {output.supernet}"
        " --train-log {output.log} --probes {output.probes}"
        " --metrics-out {output.metrics} 2> {log}"
