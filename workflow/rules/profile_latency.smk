rule profile_latency:
    input:
        code=code_of("profile_latency"),
    output:
        table="results/profile_latency/latency_table.csv",
        model="results/profile_latency/latency_model.json",
        plot=report(
            "results/profile_latency/validation.png",
            category="Latency",
            caption="../report/latency_validation.rst",
        ),
        validation=report(
            "results/profile_latency/validation.csv",
            category="Latency",
            caption="../report/latency_validation.rst",
        ),
        metrics="results/profile_latency/metrics.json",
    params:
        file=PARAMS_FILE,
        reads=params_of("base.seed", "base.num_classes", "search_space", "profile_latency"),
    # Timings are only honest on an otherwise idle machine: take every core.
    threads: exclusive_threads("profile_latency")
    resources:
        **resources_for("profile_latency"),
    log:
        "logs/profile_latency.log",
    conda:
        SOFTWARE
    shell:
        "python -m stages.profile_latency --params {params.file}"
        " --table {output.table} --model {output.model}"
        " --validation {output.validation} --plot {output.plot}"
        " --metrics-out {output.metrics} 2> {log}"
