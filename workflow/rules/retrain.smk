rule retrain:
    input:
        code=code_of("retrain"),
        dataset="data/prepare_data/dataset",
        lists="data/prepare_data/lists",
        supernet="results/pretrain_supernet/supernet.pt",
        spec="results/select/{target}/model.json",
    output:
        model="results/retrain/{target}/model.pt",
        seeds=directory("results/retrain/{target}/seeds"),
        log=report(
            "results/retrain/{target}/train_log.csv",
            category="Retraining",
            subcategory="{target}",
            caption="../report/retrain_log.rst",
        ),
        metrics="results/retrain/{target}/metrics.json",
    params:
        file=PARAMS_FILE,
        checkpoint="checkpoints/retrain/{target}.pt",
        reads=params_of("base", "search_space", "retrain"),
    resources:
        **resources_for("retrain"),
    threads: threads_for("retrain")
    log:
        "logs/retrain/{target}.log",
    conda:
        SOFTWARE
    shell:
        "python -m stages.retrain --params {params.file} --spec {input.spec}"
        " --lists {input.lists} --supernet {input.supernet}"
        " --checkpoint {params.checkpoint} --out {output.model} --seeds-dir {output.seeds}"
        " --train-log {output.log} --metrics-out {output.metrics} 2> {log}"
