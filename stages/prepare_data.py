"""Stage prepare_data: a Cityscapes-layout dataset with trainId labels, file lists and class stats.

With `prepare_data.source: synthetic` it first generates the embedded street-scene dataset into
--dataset-out; with `cityscapes` it uses the tree at `prepare_data.cityscapes_root` (trainIds are
written beside its polygons, as cityscapesscripts does) and --dataset-out only records the source.
The lists name frames by role: train.txt (the `train_split` folder), search.txt (held out of
it), supernet_train.txt (the rest of it) and val.txt (the `val_split` folder).

    python -m stages.prepare_data --params params.yaml --dataset-out data/prepare_data/dataset \
        --lists-out data/prepare_data/lists --metrics-out data/prepare_data/metrics.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hyctas.atomic import write_json
from hyctas.data.prepare import Splits, prepare_tree
from hyctas.data.synthetic import SPLIT_CODES, SyntheticConfig, generate_dataset
from hyctas.errors import ConfigError
from hyctas.params import load_params
from hyctas.stage import parse_stage_args, run_stage
from hyctas.tracking import stage_run

STAGE = "prepare_data"


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
    with stage_run(STAGE, params) as run:
        if block["source"] == "synthetic":
            root = args.dataset_out
            generate_dataset(
                root,
                SyntheticConfig.from_params(block["synthetic"]),
                base["seed"],
                block["workers"],
            )
        else:
            if not block["cityscapes_root"]:
                raise ConfigError(
                    f"{args.params}: prepare_data.cityscapes_root must name a folder "
                    "when source is cityscapes"
                )
            root = Path(block["cityscapes_root"]).expanduser()
        metrics = prepare_tree(
            root,
            splits,
            args.lists_out,
            num_classes=base["num_classes"],
            ignore_label=base["ignore_label"],
            on_bad_file=block["on_bad_file"],
            workers=block["workers"],
        )
        if block["source"] == "cityscapes":  # only once the tree has passed every check
            write_json(args.dataset_out / "source.json", {"cityscapes_root": str(root.resolve())})
        run.log_artifact(args.lists_out / "class_stats.json")
        run.write_metrics(args.metrics_out, metrics)
    print(f"[{STAGE}] {metrics}")


if __name__ == "__main__":
    run_stage(STAGE, main, parse_args())
