# Shared helpers of the workflow. The config (params.yaml) is validated first, as every stage
# script validates it again through hyctas.params.load_params.
import json
import os

from snakemake.utils import validate


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


# The retraining targets: select, retrain and evaluate fan out over these names.
TARGETS = list(config["select"]["targets"])


def parent_of_targets(paths):
    """`results/<stage>` from the per-target files `results/<stage>/<target>/<file>`."""
    return os.path.dirname(os.path.dirname(paths[0]))
