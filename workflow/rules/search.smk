rule search:
    input:
        code=code_of("search"),
        dataset="data/prepare_data/dataset",
        lists="data/prepare_data/lists",
        supernet="results/pretrain_supernet/supernet.pt",
        table="results/profile_latency/latency_table.csv",
        model="results/profile_latency/latency_model.json",
    output:
        archive=report(
            "results/search/archive.csv",
            category="Search",
            caption="../report/archive.rst",
        ),
        front=report(
            "results/search/front.csv",
            category="Search",
            caption="../report/front_table.rst",
        ),
        hypervolume=report(
            "results/search/hypervolume.csv",
            category="Search",
            caption="../report/hypervolume.rst",
        ),
        front_plot=report(
            "results/search/front.png",
            category="Search",
            caption="../report/search_front.rst",
        ),
        hv_plot=report(
            "results/search/hypervolume.png",
            category="Search",
            caption="../report/hypervolume.rst",
        ),
        published=report(
            "results/search/published.csv",
            category="Search",
            caption="../report/published.rst",
        ),
        efficiency=report(
            "results/search/efficiency.csv",
            category="Search",
            caption="../report/efficiency.rst",
        ),
        metrics="results/search/metrics.json",
    params:
        file=PARAMS_FILE,
        cache="checkpoints/search/archive.csv",
        reads=params_of("base", "search"),
    resources:
        **resources_for("search"),
    threads: threads_for("search")
    log:
        "logs/search.log",
    conda:
        SOFTWARE
    shell:
        "python -m stages.search --params {params.file} --supernet {input.supernet}"
        " --lists {input.lists} --latency-table {input.table}"
        " --latency-model {input.model} --cache {params.cache}"
        " --archive {output.archive} --front {output.front}"
        " --hypervolume {output.hypervolume} --front-plot {output.front_plot}"
        " --hv-plot {output.hv_plot} --published {output.published}"
        " --efficiency {output.efficiency} --metrics-out {output.metrics} 2> {log}"
