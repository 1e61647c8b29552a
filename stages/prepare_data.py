"""Stage prepare_data: trainId labels, file lists, class table and class stats of a dataset.

`prepare_data.source` picks the data (hyctas.data.sources): `synthetic` first generates the
embedded street-scene dataset into --dataset-out; `cityscapes` uses the tree at
`prepare_data.cityscapes.root` (trainIds are written beside its polygons, as cityscapesscripts
does); `voc` (`prepare_data.voc.root`) and `folder` (`prepare_data.folder.root`) only read
their trees and write trainIds under --dataset-out. For real trees --dataset-out also records
the source (source.json). The lists name frames by role: train.txt (the `train_split`),
search.txt (held out of it), supernet_train.txt (the rest of it) and val.txt (the `val_split`);
classes.json holds the class table the labels follow.

    python -m stages.prepare_data --params params.yaml --dataset-out data/prepare_data/dataset \
        --lists-out data/prepare_data/lists --metrics-out data/prepare_data/metrics.json
"""

from __future__ import annotations

import argparse

from hyctas.atomic import write_json
from hyctas.data.classes import CLASSES_FILE
from hyctas.data.prepare import SOURCE_RECORD, Splits, clear_converted, prepare_tree
from hyctas.data.sources import source_from_params
from hyctas.data.synthetic import SPLIT_CODES, SyntheticConfig, generate_dataset
from hyctas.errors import ConfigError
from hyctas.params import load_params
from hyctas.stage import parse_stage_args, run_stage
from hyctas.tracking import stage_run

STAGE = "prepare_data"
WRITES_TRAIN_IDS = ("voc", "folder")  # sources whose trainIds live in --dataset-out


def parse_args() -> argparse.Namespace:
    return parse_stage_args(
        __doc__,
        {
            "dataset-out": "generated dataset folder",
            "lists-out": "file lists and statistics folder",
        },
    )


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    base, block = params["base"], params[STAGE]
    splits = Splits.from_params(block)
    for key in ("train_split", "val_split"):
        if block["source"] == "synthetic" and block[key] not in SPLIT_CODES:
            raise ConfigError(
                f"{args.params}: prepare_data.{key} = {block[key]!r}: the synthetic source "
                f"generates only the folders {sorted(SPLIT_CODES)}"
            )
    source = source_from_params(block, args.dataset_out, str(args.params))
    source.table.check_num_classes(base["num_classes"])
    with stage_run(STAGE, params, description=__doc__) as run:
        if block["source"] == "synthetic":
            generate_dataset(
                args.dataset_out,
                SyntheticConfig.from_params(block["synthetic"]),
                base["seed"],
                block["workers"],
            )
        owns_output = block["source"] in WRITES_TRAIN_IDS
        if owns_output:
            clear_converted(args.dataset_out)  # no trainIds of an earlier run survive
        try:
            metrics = prepare_tree(
                source,
                splits,
                args.lists_out,
                num_classes=base["num_classes"],
                ignore_label=base["ignore_label"],
                on_bad_file=block["on_bad_file"],
                workers=block["workers"],
            )
        except BaseException:
            if owns_output:
                clear_converted(args.dataset_out)  # a failed stage leaves no output
            raise
        if block["source"] != "synthetic":  # only once the tree has passed every check
            write_json(args.dataset_out / SOURCE_RECORD, source.record())
        run.log_artifact(args.lists_out / "class_stats.json")
        run.log_artifact(args.lists_out / CLASSES_FILE)
        run.write_metrics(args.metrics_out, metrics)
    print(f"[{STAGE}] {metrics}")


if __name__ == "__main__":
    run_stage(STAGE, main, parse_args())
