rule report:
    input:
        code=code_of("report"),
        specs=expand("results/select/{target}/model.json", target=TARGETS),
        trained=expand("results/retrain/{target}/metrics.json", target=TARGETS),
        models=expand("results/retrain/{target}/model.pt", target=TARGETS),
        evaluated=expand("results/evaluate/{target}/metrics.json", target=TARGETS),
        archive="results/search/archive.csv",
        search="results/search/metrics.json",
        data="data/prepare_data/metrics.json",
        ranking="results/rank_check/ranking.csv",
        ranking_metrics="results/rank_check/metrics.json",
    output:
        summary=report(
            "reports/summary.md",
            category="Summary",
            caption="../report/summary.rst",
        ),
        summary_json="reports/summary.json",
        front=report("reports/front.png", category="Summary", caption="../report/front.rst"),
        rank=report("reports/rank.png", category="Summary", caption="../report/rank.rst"),
        metrics="reports/metrics.json",
    params:
        file=PARAMS_FILE,
        select_dir=lambda w, input: parent_of_targets(input.specs),
        retrain_dir=lambda w, input: parent_of_targets(input.trained),
        evaluate_dir=lambda w, input: parent_of_targets(input.evaluated),
        out_dir=lambda w, output: os.path.dirname(output.summary),
        reads=params_of(
            "base.mlflow_experiment",
            "select",
            "evaluate.latency",
            "profile_latency.dtype",
            "profile_latency.channels_last",
            "profile_latency.compile",
            "report",
        ),
    resources:
        **resources_for("report"),
    threads: exclusive_threads("report")  # paired latency: the timings need an idle machine
    log:
        "logs/report.log",
    conda:
        SOFTWARE
    shell:
        "python -m stages.report --params {params.file} --select-dir {params.select_dir}"
        " --retrain-dir {params.retrain_dir} --evaluate-dir {params.evaluate_dir}"
        " --archive {input.archive} --search-metrics {input.search}"
        " --data-metrics {input.data} --ranking {input.ranking}"
        " --ranking-metrics {input.ranking_metrics}"
        " --out {params.out_dir} --metrics-out {output.metrics} 2> {log}"
