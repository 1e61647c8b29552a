rule rank_check:
    input:
        code=code_of("rank_check"),
        dataset="data/prepare_data/dataset",
        lists="data/prepare_data/lists",
        supernet="results/pretrain_supernet/supernet.pt",
        table="results/profile_latency/latency_table.csv",
        model="results/profile_latency/latency_model.json",
    output:
        ranking=report(
            "results/rank_check/ranking.csv",
            category="Ranking",
            caption="../report/ranking.rst",
        ),
        plot=report(
            "results/rank_check/ranking.png",
            category="Ranking",
            caption="../report/ranking.rst",
        ),
        metrics="results/rank_check/metrics.json",
    params:
        file=PARAMS_FILE,
        checkpoints="checkpoints/rank_check",
        reads=params_of(
            "base",
            "retrain.recipe",
            "search.images",
            "search.bn_calib_batches",
            "search.bn_batch_size",
            "search.channels_last",
            "evaluate.flip",
            "evaluate.scales",
            "evaluate.sliding_window",
            "rank_check",
        ),
    resources:
        **resources_for("rank_check"),
    threads: threads_for("rank_check")
    log:
        "logs/rank_check.log",
    conda:
        SOFTWARE
    shell:
        "python -m stages.rank_check --params {params.file} --supernet {input.supernet}"
        " --lists {input.lists} --latency-table {input.table}"
        " --latency-model {input.model} --checkpoints {params.checkpoints}"
        " --ranking {output.ranking} --plot {output.plot}"
        " --metrics-out {output.metrics} 2> {log}"
