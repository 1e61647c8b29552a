"""Hypervolume of NSGA-II vs random search at equal evaluations, over several seeds.

Uses the pipeline's trained supernet and latency table (run `dvc repro profile_latency
pretrain_supernet` first) and the `search` block of params.yaml; one shared evaluation cache
(objective values of an architecture do not depend on the seed). Prints one row per seed and
the mean and standard deviation of HV(NSGA-II) / HV(random).

    python benchmarks/search_hv.py --params params.yaml --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import statistics
import time
from pathlib import Path

import torch

from hyctas.atomic import write_json
from hyctas.latency.predictor import LatencyPredictor
from hyctas.params import load_params
from hyctas.search.run import run_search

RESULTS = Path("results")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cache", type=Path, default=Path("checkpoints/benchmarks/search_hv.csv"))
    parser.add_argument(
        "--supernet",
        type=Path,
        default=RESULTS / "pretrain_supernet/supernet.pt",
        help="supernet checkpoint (default: the pipeline's)",
    )
    parser.add_argument(
        "--fronts-out", type=Path, default=None, help="JSON of each seed's two fronts (optional)"
    )
    args = parser.parse_args()
    params = load_params(args.params)
    table = RESULTS / "profile_latency/latency_table.csv"
    model = RESULTS / "profile_latency/latency_model.json"
    predictor = LatencyPredictor.load(table, model)
    digest = hashlib.sha256(table.read_bytes() + model.read_bytes()).hexdigest()
    rows, fronts = [], {}
    for seed in args.seeds:
        seeded = copy.deepcopy(params)
        seeded["base"]["seed"] = seed
        start = time.perf_counter()
        out = run_search(
            seeded,
            args.supernet,
            Path("data/prepare_data/lists"),
            predictor.predict,
            digest,
            args.cache,
            device=torch.device("cpu"),
            progress=False,
        )
        nsga, rand = out["nsga"], out["random"]
        fronts[seed] = {"nsga2": list(nsga.front_values), "random": list(rand.front_values)}
        rows.append(
            (
                seed,
                nsga.n_evaluations,
                nsga.hypervolume,
                rand.hypervolume,
                nsga.hypervolume / rand.hypervolume,
                time.perf_counter() - start,
            )
        )
    block = params["search"]
    print(
        f"supernet {args.supernet}, "
        f"population {block['population']}, generations {block['generations']}, "
        f"hv_reference {block['hv_reference']}, search images {block['images']}"
    )
    print(f"{'seed':>4}{'evals':>7}{'HV nsga2':>11}{'HV random':>11}{'ratio':>8}{'seconds':>9}")
    for seed, evals, hv_n, hv_r, ratio, secs in rows:
        print(f"{seed:>4}{evals:>7}{hv_n:>11.4f}{hv_r:>11.4f}{ratio:>8.3f}{secs:>9.0f}")
    ratios = [r[4] for r in rows]
    spread = statistics.stdev(ratios) if len(ratios) > 1 else 0.0
    mean = statistics.mean(ratios)
    print(f"HV(NSGA-II)/HV(random): mean {mean:.3f}, std {spread:.3f} (goal >= 1.15)")
    if args.fronts_out is not None:
        write_json(args.fronts_out, fronts)


if __name__ == "__main__":
    main()
