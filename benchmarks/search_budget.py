"""What limits NSGA-II's sample efficiency: a budget and noise study on a fitted surrogate.

The search-quality scenario measures NSGA-II against random search on the real objective
(inherited supernet mIoU on `search.images` frames), at a budget a 2-core CPU affords. This
script asks which of two suspects limits the measured efficiency, the budget or the noise of
the objective, at a cost of seconds per run instead of about a second per evaluation:

1. It fits a ridge regression of inherited mIoU on architecture features (branch count, width
   per op, cells per scale, branches per final scale) to every architecture a finished search
   scored (`results/search/archive.csv` of a workspace), and reports its 5-fold
   cross-validated R^2 and residual standard deviation. The residual is the objective's noise
   plus what the features miss, so it bounds the noise from above.
   With `--noise-archs N` it also measures the objective's own noise: it scores N of those
   architectures (spread over their mIoU range) with the workspace's supernet on disjoint
   groups of `search.images` search-split frames. The spread of one architecture's score
   between groups, once the groups' common shift is removed, is the noise the search sees.
2. It reruns the search's own NSGA-II / random-search pairs (`hyctas.search.run.run_searchers`,
   `hyctas.search.efficiency.measure`: the same seeds, operators, random budget factor and
   normalised hypervolume) with the surrogate as the accuracy objective, plus Gaussian noise
   fixed per architecture (an architecture is scored once, as the search's cache does), and
   the workspace's real latency predictor as the latency objective. It does so for each
   (population, generations) budget and each noise level, and prints how many evaluations
   random search needs to match NSGA-II's final hypervolume, over NSGA-II's (the issue's goal:
   >= 3 on average).

The surrogate is smoother than the real objective, so its ratios are an optimistic bound on
what the search would show on the real one at the same budget and noise.

    python benchmarks/search_budget.py --workspace scenarios/runs/search_quality \
        --budgets 10x8 20x10 20x20 --noise 0 0.5 1 --seeds 5
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from hyctas.atomic import write_json
from hyctas.latency.predictor import LatencyPredictor
from hyctas.params import load_params
from hyctas.search.archive import Archive
from hyctas.search.efficiency import measure
from hyctas.search.objectives import ACCURACY, LATENCY, Objective
from hyctas.search.result import SearchCheckpoint
from hyctas.search.run import run_searchers
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig

FOLDS = 5
RIDGE = 1.0  # L2 weight on standardised features; 5-fold R^2 is flat from 0.1 to 10


def features(arch: Arch, cfg: SpaceConfig) -> np.ndarray:
    """Branch count (one-hot), width summed per op, cells per input scale, branches per end."""
    scales = cfg.max_depth + 1
    branches = np.zeros(cfg.max_branches)
    branches[len(arch.branches) - 1] = 1.0
    per_op = dict.fromkeys(cfg.ops, 0.0)
    per_scale, per_end = np.zeros(scales), np.zeros(scales)
    for b, branch in enumerate(arch.branches):
        for cell, scale in zip(branch, arch.input_scales(b), strict=True):
            per_op[cell.op] += cell.width
            per_scale[scale] += 1.0
        per_end[arch.final_scale(b)] += 1.0
    return np.concatenate([branches, list(per_op.values()), per_scale, per_end])


class RidgeSurrogate:
    """Ridge regression on standardised features, fitted in closed form."""

    def __init__(self, X: np.ndarray, y: np.ndarray, alpha: float = RIDGE) -> None:
        self.mean, self.scale = X.mean(0), X.std(0)
        self.scale[self.scale == 0] = 1.0
        Z = (X - self.mean) / self.scale
        self.bias = float(y.mean())
        self.coef = np.linalg.solve(Z.T @ Z + alpha * np.eye(Z.shape[1]), Z.T @ (y - self.bias))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.bias + ((X - self.mean) / self.scale) @ self.coef


def cross_validate(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, float]:
    """5-fold cross-validated R^2 and residual standard deviation."""
    order = np.random.default_rng(seed).permutation(len(y))
    residuals = np.empty(len(y))
    for fold in np.array_split(order, FOLDS):
        train = np.setdiff1d(order, fold)
        residuals[fold] = y[fold] - RidgeSurrogate(X[train], y[train]).predict(X[fold])
    return 1.0 - float(residuals.var() / y.var()), float(residuals.std())


def scored_archs(path: Path) -> tuple[list[Arch], np.ndarray]:
    """Every architecture of a search archive CSV and its inherited mIoU."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [Arch.from_dict(json.loads(r["arch_json"])) for r in rows], np.array(
        [float(r[ACCURACY]) for r in rows]
    )


def noisy_objective(surrogate: RidgeSurrogate, cfg: SpaceConfig, sigma: float):
    """Surrogate mIoU plus N(0, sigma) noise drawn once per architecture (seeded by its id)."""

    def miou(arch: Arch) -> float:
        value = float(surrogate.predict(features(arch, cfg)[None])[0])
        if sigma > 0:
            seed = int(hashlib.sha256(arch.id.encode()).hexdigest()[:8], 16)
            value += float(np.random.default_rng(seed).normal(0.0, sigma))
        return value

    return miou


def frame_noise(ws: Path, params: dict, archs: list[Arch], miou: np.ndarray, n: int) -> dict:
    """Noise of inherited mIoU: `n` architectures scored on disjoint groups of search frames.

    The search scores on the first `search.images` frames of the search split; here each
    group of that many frames scores the same architectures. For two groups, the
    architecture's difference minus the mean difference (the groups' common shift) has
    variance 2 sigma^2, where sigma is the per-architecture noise of one group's score.
    """
    import torch

    from hyctas.train.supernet import EvalFrames, inherited_miou, load_supernet, search_frames

    block, base = params["search"], params["base"]
    device = torch.device("cpu")
    supernet, _, state = load_supernet(ws / "results/pretrain_supernet/supernet.pt", device)
    lists = ws / "data/prepare_data/lists"
    size = block["images"]
    groups = len((lists / "search.txt").read_text().splitlines()) // size
    frames = search_frames(lists, base, block, state, images=groups * size)
    picked = np.argsort(miou)[np.linspace(0, len(archs) - 1, n).round().astype(int)]
    scores = np.array(
        [
            [
                inherited_miou(
                    supernet,
                    EvalFrames(frames.calib, frames.search[g * size : (g + 1) * size]),
                    base,
                    block,
                    device,
                )(archs[i])
                for g in range(groups)
            ]
            for i in picked
        ]
    )
    pair_vars = []
    for a in range(groups):
        for b in range(a + 1, groups):
            d = scores[:, a] - scores[:, b]
            pair_vars.append(float(((d - d.mean()) ** 2).sum() / (n - 1)) / 2)
    return {
        "architectures": n,
        "groups": groups,
        "frames_per_group": size,
        "sigma": float(np.sqrt(np.mean(pair_vars))),
        "group_means": scores.mean(0).tolist(),
        "first_group_matches_archive": float(np.abs(scores[:, 0] - miou[picked]).max()),
    }


def efficiency_run(block: dict, seed: int, cfg: SpaceConfig, objectives: list[Objective]) -> dict:
    """The search's NSGA-II / random pairs over `objectives`; `measure`'s summary."""
    archive = Archive(objectives)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = SearchCheckpoint(Path(tmp) / "archive.csv", "budget-study")
        pairs = run_searchers(cfg, objectives, [], block, seed, archive, checkpoint, progress=False)
    return measure(archive, pairs, block["random_budget_factor"]).summary


def parse_budget(text: str) -> tuple[int, int]:
    population, generations = text.lower().split("x")
    return int(population), int(generations)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workspace", type=Path, default=Path("scenarios/runs/search_quality"))
    parser.add_argument("--budgets", nargs="+", default=["10x8", "20x10", "20x20"])
    parser.add_argument(
        "--noise",
        type=float,
        nargs="+",
        default=[0.0, 0.5, 1.0],
        help="noise levels, in units of the surrogate's cross-validated residual std",
    )
    parser.add_argument("--seeds", type=int, default=5, help="NSGA-II / random pairs per run")
    parser.add_argument(
        "--random-factor",
        type=float,
        default=None,
        help="random search's budget over NSGA-II's (default: search.random_budget_factor)",
    )
    parser.add_argument(
        "--noise-archs",
        type=int,
        default=0,
        help="measure the objective's noise on this many architectures (0: skip)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON of every run (optional)")
    args = parser.parse_args()

    ws = args.workspace
    params = load_params(ws / "params.yaml")
    cfg = SpaceConfig.from_params(params["search_space"])
    archs, miou = scored_archs(ws / "results/search/archive.csv")
    X = np.stack([features(a, cfg) for a in archs])
    r2, residual = cross_validate(X, miou, params["base"]["seed"])
    surrogate = RidgeSurrogate(X, miou)
    predictor = LatencyPredictor.load(
        ws / "results/profile_latency/latency_table.csv",
        ws / "results/profile_latency/latency_model.json",
    )
    print(
        f"{len(archs)} scored architectures: inherited mIoU mean {miou.mean():.4f}, "
        f"std {miou.std():.4f}; surrogate 5-fold R^2 {r2:.3f}, residual std {residual:.4f}"
    )
    noise = None
    if args.noise_archs:
        start = time.perf_counter()
        noise = frame_noise(ws, params, archs, miou, args.noise_archs)
        print(
            f"measured noise of one {noise['frames_per_group']}-frame score: sigma "
            f"{noise['sigma']:.4f} ({noise['sigma'] / residual:.2f} residual std) over "
            f"{noise['architectures']} architectures x {noise['groups']} frame groups "
            f"(group means {', '.join(f'{m:.4f}' for m in noise['group_means'])}; first group "
            f"vs the archive: max |diff| {noise['first_group_matches_archive']:.1e}; "
            f"{time.perf_counter() - start:.0f} s)"
        )
    print(
        f"{'budget':>7}{'noise':>7}{'sigma':>8}{'HV nsga2':>10}{'HV random':>11}"
        f"{'random needs':>14}{'matched':>9}{'seconds':>9}"
    )
    runs = []
    for budget in args.budgets:
        population, generations = parse_budget(budget)
        block = copy.deepcopy(params["search"])
        block.update(
            population=population,
            generations=generations,
            efficiency_seeds=args.seeds,
            random_baseline=True,
        )
        if args.random_factor is not None:
            block["random_budget_factor"] = args.random_factor
        for level in args.noise:
            sigma = level * residual
            objectives = [
                Objective(ACCURACY, noisy_objective(surrogate, cfg, sigma), "max"),
                Objective(LATENCY, predictor.predict, "min"),
            ]
            start = time.perf_counter()
            s = efficiency_run(block, params["base"]["seed"], cfg, objectives)
            ratios = [e["match_ratio"] for e in s["per_seed"].values()]
            bounded = [
                r if r is not None else e["evaluations_random"] / e["evaluations_nsga2"]
                for r, e in zip(ratios, s["per_seed"].values(), strict=True)
            ]
            spread = statistics.stdev(bounded) if len(bounded) > 1 else 0.0
            seconds = time.perf_counter() - start
            runs.append(
                {
                    "population": population,
                    "generations": generations,
                    "noise_level": level,
                    "sigma": sigma,
                    "seconds": seconds,
                    "summary": s,
                }
            )
            print(
                f"{budget:>7}{level:>7.2f}{sigma:>8.4f}"
                f"{s['hv_norm_nsga2_mean']:>6.3f}+-{s['hv_norm_nsga2_std']:.3f}"
                f"{s['hv_norm_random_mean']:>6.3f}+-{s['hv_norm_random_std']:.3f}"
                f"{statistics.mean(bounded):>8.2f}x+-{spread:.2f}"
                f"{s['seeds_matched']:>6}/{len(ratios)}{seconds:>9.0f}"
            )
    print(
        "random needs: evaluations random search needs to reach NSGA-II's final hypervolume "
        "over NSGA-II's, mean +- std over seeds; a seed not matched within "
        f"{args.random_factor or params['search']['random_budget_factor']}x counts at that "
        "bound (a lower bound)"
    )
    if args.out is not None:
        write_json(
            args.out,
            {"r2": r2, "residual_std": residual, "n": len(archs), "noise": noise, "runs": runs},
        )


if __name__ == "__main__":
    main()
