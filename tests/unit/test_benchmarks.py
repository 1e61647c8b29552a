"""The benchmarks: their baselines compute what the library computes; the GPU suite runs."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hyctas.space.arch import Arch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dense_attention_equals_sdpa() -> None:
    q, k, v = (
        torch.randn(1, 2, 96, 16, generator=torch.Generator().manual_seed(i)) for i in range(3)
    )
    dense = load("attention_memory").dense_attention(q, k, v)
    assert torch.allclose(dense, F.scaled_dot_product_attention(q, k, v), atol=1e-5)


# Not on the bare GPU image the suite runs on (Python 3.12, torch, numpy, pyyaml, tqdm).
BARE_IMAGE_MISSING = ("mlflow", "dvc", "pymoo", "jsonschema", "cityscapesscripts")
BLOCKER = f"""
import sys

class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BARE_IMAGE_MISSING!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)")
        return None

sys.meta_path.insert(0, _Blocked())
"""


@pytest.mark.slow
def test_gpu_suite_smoke_runs_every_part_without_the_pipeline_stack(tmp_path: Path) -> None:
    """`gpu_suite.py --smoke` on CPU, with mlflow, dvc, pymoo, jsonschema, cityscapesscripts
    unimportable in the suite and every child process it starts (sitecustomize on the path)."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    probe = subprocess.run(
        [sys.executable, "-c", "import jsonschema"], env=env, capture_output=True
    )
    assert probe.returncode != 0  # the blocker is active
    out, spec = tmp_path / "suite" / "gpu_suite.json", tmp_path / "model.json"
    arch = Arch.from_compact("b0:conv1|sa.5|conv1;b1:conv1|conv1/2|conv1")
    spec.write_text(json.dumps({"target": "fast", "kind": "segnet", "arch": arch.to_dict()}))
    cmd = [sys.executable, str(BENCHMARKS / "gpu_suite.py"), "--smoke", "--strict"]
    cmd += ["--arch", str(spec)]  # a select spec: the searched model
    proc = subprocess.run(
        cmd + ["--out", str(out)], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(out.read_text())
    parts = summary["parts"]
    assert sorted(parts) == ["attention", "ceilings", "latency", "models", "supernet"]
    for name, part in parts.items():
        assert part["status"] == "ok", (name, part.get("error"), part.get("skipped"))
        assert part["forbidden_imports"] == [], name
    assert not summary["suite"]["params_schema_checked"]  # read without jsonschema
    models = parts["models"]
    assert models["found"] == "searched" and models["models"]["searched"]["arch_id"] == arch.id
    for name in ("searched", "S"):
        variants = models["models"][name]["variants"]
        assert set(variants) == {"eager_fp32", "bf16_channels_last", "compiled"}
        assert all(v["median_ms"] > 0 and v["floor_ms"] > 0 for v in variants.values())
    assert parts["attention"]["memory_ratio"] > 1 and parts["latency"]["arch_keys_only"]
    assert 0 <= parts["latency"]["mape_pct"] and -1 <= parts["latency"]["kendall_tau"] <= 1
    assert summary["search_cost"]["total_h"] > 0
    assert (out.parent / "latency" / "latency_table.csv").is_file()
    # the markdown table comes last: the goals
    assert proc.stdout.rstrip().splitlines()[-1].startswith("| latency_kendall_tau |")


def test_roofline_takes_the_larger_of_compute_and_memory() -> None:
    suite = load("gpu_suite")
    costs = {"macs": 5e11, "params": 1e6, "input_elements": 0, "logit_elements": 0}
    costs["conv_output_elements"] = 0
    compute = suite.roofline(costs, 2, tflops=1000.0, gbps=1000.0)
    assert compute["bound"] == "compute" and compute["floor_ms"] == pytest.approx(1.0)
    memory = suite.roofline(costs | {"conv_output_elements": 1e9}, 2, 1000.0, 1000.0)
    # (1e6 + 2 * 1e9 elements) x 2 bytes over 1e12 B/s
    assert memory["bound"] == "memory" and memory["floor_ms"] == pytest.approx(4.002)


def test_search_budget_surrogate_fits_and_its_noise_is_fixed_per_architecture(params) -> None:
    """The budget study's surrogate recovers a function of its features, its noise is drawn
    once per architecture (as the search's cache scores once), and one small efficiency run
    measures every seed pair."""
    import numpy as np

    from hyctas.search.objectives import ACCURACY, LATENCY, Objective
    from hyctas.search.operators import sample_unique
    from hyctas.space.config import SpaceConfig

    study = load("search_budget")
    cfg = SpaceConfig.from_params(params["search_space"])
    archs = sample_unique(cfg, np.random.default_rng(0), 200, set())
    X = np.stack([study.features(a, cfg) for a in archs])
    truth = X @ np.linspace(-0.01, 0.02, X.shape[1]) + 0.15
    r2, residual = study.cross_validate(X, truth, seed=0)
    assert r2 > 0.99 and residual < 0.05 * truth.std()  # ridge shrinks a little
    noisy = study.noisy_objective(study.RidgeSurrogate(X, truth), cfg, sigma=0.01)
    clean = study.noisy_objective(study.RidgeSurrogate(X, truth), cfg, sigma=0.0)
    assert noisy(archs[0]) == noisy(archs[0]) != clean(archs[0])
    block = dict(
        params["search"],
        population=6,
        generations=3,
        efficiency_seeds=2,
        random_baseline=True,
        random_budget_factor=2,
    )
    objectives = [
        Objective(ACCURACY, noisy, "max"),
        Objective(LATENCY, lambda a: float(sum(a.depths)), "min"),
    ]
    summary = study.efficiency_run(block, 0, cfg, objectives)
    assert summary["seeds"] == 2 and len(summary["per_seed"]) == 2
    assert all(e["evaluations_nsga2"] == 18 for e in summary["per_seed"].values())
    assert study.parse_budget("20x10") == (20, 10)


def test_memory_format_times_both_formats_on_the_search_blocks_frames(params) -> None:
    """The memory-format benchmark scores and trains one architecture in either format; the
    frames follow the search block, and both formats score the same network alike."""
    import numpy as np

    from hyctas.models.supernet import Supernet
    from hyctas.space.config import SpaceConfig
    from hyctas.space.extremes import smallest_arch

    bench = load("memory_format")
    block = dict(params["search"], images=2, bn_calib_batches=1, bn_batch_size=2)
    frames = bench.random_frames({**params, "search": block}, 64, 128, seed=0)
    assert [c.shape for c in frames.calib] == [(2, 3, 64, 128)]
    assert [(x.shape, y.shape) for x, y in frames.search] == [((1, 3, 64, 128), (1, 64, 128))] * 2
    cfg = SpaceConfig.from_params(params["search_space"])
    torch.manual_seed(0)
    supernet = Supernet(cfg, params["base"]["num_classes"], aux=True).eval()
    arch, cpu = smallest_arch(cfg), torch.device("cpu")
    (t0, m0), (t1, m1) = (
        bench.scoring_seconds(supernet, arch, frames, params["base"], cpu, fmt)
        for fmt in bench.FORMATS
    )
    assert t0 > 0 and t1 > 0 and m1 == pytest.approx(m0, abs=1e-3)
    recipe = params["retrain"]["recipe"]
    net = supernet.extract(arch)
    x, y = torch.randn(2, 3, 64, 64), torch.from_numpy(np.zeros((2, 64, 64), np.int64))
    assert all(bench.step_seconds(net, x, y, recipe, cpu, fmt, 1) > 0 for fmt in bench.FORMATS)


def test_gpu_suite_counts_the_elements_every_convolution_writes() -> None:
    from torch import nn

    suite = load("gpu_suite")
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.Conv2d(4, 2, 1, stride=2))
    with torch.device("meta"):
        net = net.to("meta")
        x = torch.empty(1, 3, 8, 8)
    assert suite.conv_output_elements(net, x) == 4 * 8 * 8 + 2 * 4 * 4  # not the ReLU's


def test_rerank_puts_stored_inherited_scores_against_a_new_reference() -> None:
    import pandas as pd

    rerank = load("rerank")
    reference = pd.DataFrame(
        {
            "arch_id": ["a", "b", "c", "a", "b"],
            "seed": [0, 0, 0, 1, 1],
            "standalone_miou": [0.1, 0.2, 0.3, 0.12, 0.25],
            "predicted_latency_ms": [10.0, 20.0, 30.0, 10.0, 20.0],
            "branches": [1, 2, 3, 1, 2],
            "index": [0, 1, 2, 0, 1],
            "inherited_miou": [0.0] * 5,  # the reference's own supernet: replaced
        }
    )
    backwards = pd.DataFrame({"arch_id": ["a", "b", "c"] * 2, "inherited_miou": [3, 2, 1] * 2})
    metrics = rerank.reranked(reference, backwards)
    assert metrics["kendall_tau"] == pytest.approx(-1.0) and metrics["seed_tau"] == 1.0
    assert metrics["architectures"] == 3 and metrics["repeats"] == 2
    with pytest.raises(ValueError, match=r"\['c'\]"):
        rerank.reranked(reference, backwards[backwards.arch_id != "c"])
    # A repeat seed below the first, and no repeats at all.
    lower = reference.assign(seed=[5, 5, 5, 2, 2])
    assert rerank.reranked(lower, backwards)["architectures"] == 3
    alone = rerank.reranked(reference[reference.seed == 0], backwards)
    assert alone["repeats"] == 0 and alone["seed_tau"] is None


def test_rerank_gaps_are_paired_against_the_two_seeds_mean() -> None:
    import pandas as pd
    from scipy.stats import kendalltau

    rerank = load("rerank")
    ids = ["a", "b", "c", "d"]
    reference = pd.DataFrame(
        {
            "arch_id": ids * 2,
            "seed": [0] * 4 + [1] * 4,
            "standalone_miou": [0.10, 0.30, 0.20, 0.40, 0.14, 0.22, 0.32, 0.42],
            "params": [1, 2, 3, 4] * 2,
        }
    )  # the means 0.12 0.26 0.26 0.41: a tie between b and c
    good = pd.DataFrame({"arch_id": ids, "inherited_miou": [1, 2, 3, 4]})
    poor = pd.DataFrame({"arch_id": ids, "inherited_miou": [4, 1, 2, 3]})
    got = rerank.gaps(reference, {"good": good, "poor": poor})
    means = [0.12, 0.26, 0.26, 0.41]
    expected = kendalltau([4, 1, 2, 3], means).statistic - kendalltau([1, 2, 3, 4], means).statistic
    assert got["good"]["gap_to_first"] is None
    assert got["poor"]["gap_to_first"]["gap"] == pytest.approx(expected)
    assert got["good"]["gap_to_params"]["gap"] == pytest.approx(0.0)  # params order alike
    older = rerank.gaps(reference.drop(columns="params"), {"good": good, "poor": poor})
    assert older["poor"]["gap_to_params"] is None
    # a one-seed reference: the gaps are taken against that seed
    one = rerank.gaps(reference[reference.seed == 0], {"good": good, "poor": poor})
    seed0 = [0.10, 0.30, 0.20, 0.40]
    expected = kendalltau([4, 1, 2, 3], seed0).statistic - kendalltau([1, 2, 3, 4], seed0).statistic
    assert one["poor"]["gap_to_first"]["gap"] == pytest.approx(expected)


def test_rerank_scores_a_supernet_checkpoint_on_the_reference_architectures(
    tiny_tree: Path, tmp_path: Path
) -> None:
    import pandas as pd

    from hyctas.data.prepare import Splits, prepare_tree
    from hyctas.space.config import SpaceConfig
    from hyctas.space.extremes import largest_arch, smallest_arch
    from hyctas.train.distributed import DistInfo
    from hyctas.train.supernet import pretrain
    from tests.pipeline.tiny import tiny_params

    rerank = load("rerank")
    lists = tmp_path / "lists"
    splits = Splits(train="train", val="val", search_images=1, search_seed=0)
    kw = dict(num_classes=19, ignore_label=255, on_bad_file="error", workers=1, progress=False)
    prepare_tree(tiny_tree, splits, lists, **kw)
    recipe = {"iterations": 2, "warmup_iters": 0}
    params = tiny_params({"pretrain_supernet": {"recipe": recipe, "probe_images": 1}})
    params["search"]["images"] = 1
    checkpoint = tmp_path / "supernet.pt"
    where = dict(device=torch.device("cpu"), info=DistInfo(), progress=False)
    pretrain(params, lists, checkpoint, tmp_path / "last.pt", **where)
    cfg = SpaceConfig.from_params(params["search_space"])
    small, large = smallest_arch(cfg), largest_arch(cfg)
    reference = pd.DataFrame(
        {"arch_id": [small.id, large.id], "compact": [small.compact(), large.compact()]}
    )
    scores = rerank.scored(reference, checkpoint, params, lists)
    assert list(scores["arch_id"]) == [small.id, large.id]
    assert scores["inherited_miou"].between(0, 1).all()
    with pytest.raises(ValueError, match="in the reference"):
        rerank.scored(reference.assign(arch_id=["x", "y"]), checkpoint, params, lists)
