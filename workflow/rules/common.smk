# Shared helpers of the workflow. The config (params.yaml) is validated first, as every stage
# script validates it again through hyctas.params.load_params.
import json
import os
import sys

from snakemake.utils import validate

sys.path.insert(0, os.path.dirname(workflow.basedir))  # the project root, for hyctas
from hyctas.provenance import stage_code_files


validate(config, "../schemas/params.schema.yaml")

PARAMS_FILE = "params.yaml"
SOFTWARE = "../envs/hyctas.yaml"


def params_of(*keys):
    """JSON of the params keys a job reads (dotted, as in dvc.yaml): a change reruns the job."""
    values = {}
    for key in keys:
        node = config
        for part in key.split("."):
            node = node[part]
        values[key] = node
    return json.dumps(values, sort_keys=True)


def code_of(stage):
    """Project code a stage runs (from its imports; dvc.yaml lists the same files)."""
    return stage_code_files(stage)


# The retraining targets: select, retrain and evaluate fan out over these names.
TARGETS = list(config["select"]["targets"])


def parent_of_targets(paths):
    """`results/<stage>` from the per-target files `results/<stage>/<target>/<file>`."""
    return os.path.dirname(os.path.dirname(paths[0]))


def _job_resources(rule):
    """The `resources` block of params.yaml for `rule`: its own keys over `default`."""
    return {**config["resources"]["default"], **config["resources"].get(rule, {})}


def resources_for(rule):
    """Cluster resources of `rule`, named as the SLURM executor plugin reads them.

    cpus -> cpus_per_task, mem_mb, runtime_min -> runtime (minutes), partition ->
    slurm_partition (left out when null: the cluster's default), gpus -> gpu (sbatch --gpus, 0
    asks for none), slurm_extra. The cluster-generic profile formats the same names into its
    sbatch line. Locally only the rule's threads matter.
    """
    block = _job_resources(rule)
    res = {
        "cpus_per_task": block["cpus"],
        "mem_mb": block["mem_mb"],
        "runtime": block["runtime_min"],
        "gpu": block["gpus"],
        "slurm_extra": block["slurm_extra"],
    }
    if block["partition"]:
        res["slurm_partition"] = block["partition"]
    return res


def threads_for(rule):
    """Threads of `rule`: the CPU cores its params.yaml `resources` block asks for."""
    return _job_resources(rule)["cpus"]


def exclusive_threads(rule):
    """Threads for the timing rules (profile_latency, evaluate), every core Snakemake was given.

    Locally that is --cores (timings need an otherwise idle machine). Inside a cluster job it
    is the node's cores (`--cores all`; `slurm_extra: --exclusive` gives the job the node).
    When submitting to a cluster no --cores is set, and the rule's `cpus` is used: reading
    `workflow.cores` there would stop the Snakefile from parsing.
    """
    return workflow.resource_settings.cores or threads_for(rule)
