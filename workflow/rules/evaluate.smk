rule evaluate:
    input:
        code=code_of("evaluate"),
        dataset="data/prepare_data/dataset",
        lists="data/prepare_data/lists",
        model="results/retrain/{target}/model.pt",
        seeds="results/retrain/{target}/seeds",
    output:
        onnx="results/evaluate/{target}/model.onnx",
        confusion=report(
            "results/evaluate/{target}/confusion.png",
            category="Evaluation",
            subcategory="{target}",
            caption="../report/confusion.rst",
        ),
        overlays=report(
            "results/evaluate/{target}/overlays.png",
            category="Evaluation",
            subcategory="{target}",
            caption="../report/overlays.rst",
        ),
        metrics="results/evaluate/{target}/metrics.json",
    params:
        file=PARAMS_FILE,
        reads=params_of(
            "base",
            "evaluate",
            "profile_latency.dtype",
            "profile_latency.channels_last",
            "profile_latency.compile",
        ),
    # Timings are only honest on an otherwise idle machine: take every core.
    threads: exclusive_threads("evaluate")
    resources:
        **resources_for("evaluate"),
    log:
        "logs/evaluate/{target}.log",
    conda:
        SOFTWARE
    shell:
        "python -m stages.evaluate --params {params.file} --model {input.model}"
        " --seeds-dir {input.seeds}"
        " --lists {input.lists} --onnx-out {output.onnx}"
        " --confusion {output.confusion} --overlays {output.overlays}"
        " --metrics-out {output.metrics} 2> {log}"
