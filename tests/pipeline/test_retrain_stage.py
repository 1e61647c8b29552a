"""retrain: a finished checkpoint is reused only for the same inputs (params, files, code)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

from hyctas.space.config import SpaceConfig
from hyctas.space.extremes import smallest_arch
from tests.pipeline.tiny import PREPARE_DATA_ARGS, pretrain_args, run, tiny_repo, write_params

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A tiny repo with data, a pretrained supernet and the spec of its smallest network."""
    dest = tiny_repo(tmp_path_factory.mktemp("retrain"))
    run(dest, sys.executable, "-m", "stages.prepare_data", "--params", "params.yaml",
        *PREPARE_DATA_ARGS)  # fmt: skip
    run(dest, sys.executable, "-m", "stages.pretrain_supernet", "--params", "params.yaml",
        *pretrain_args("results/pretrain_supernet", "ckpt/supernet.pt"))  # fmt: skip
    params = yaml.safe_load((dest / "params.yaml").read_text())
    arch = smallest_arch(SpaceConfig.from_params(params["search_space"]))
    spec = {"target": "t", "kind": "segnet", "arch": arch.to_dict(), "arch_id": arch.id,
            "compact": arch.compact(), "init": "supernet"}  # fmt: skip
    (dest / "spec.json").write_text(json.dumps(spec))
    return dest


def retrain(
    repo, checkpoint="ckpt/t.pt", params="params.yaml", out="out", *extra, check=True, ddp=False
):
    """Run the retrain stage (with `ddp`, in two gloo processes); returns the first seed's
    weights (None if it failed) and stderr."""
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    launch = [torchrun, "--standalone", "--nproc_per_node", "2"] if ddp else [sys.executable]
    proc = run(repo, *launch, "-m", "stages.retrain", "--params", params,
               "--spec", "spec.json", "--lists", "data/prepare_data/lists",
               "--supernet", "results/pretrain_supernet/supernet.pt", "--checkpoint", checkpoint,
               "--out", f"{out}/model.pt", "--seeds-dir", f"{out}/seeds",
               "--train-log", f"{out}/log.csv", "--metrics-out", f"{out}/metrics.json",
               *extra, check=check, timeout=900)  # fmt: skip
    if proc.returncode:
        return None, proc.stderr
    return torch.load(repo / out / "model.pt", weights_only=True)["model"], proc.stderr


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_a_new_supernet_trains_again_with_different_weights(repo):
    first, _ = retrain(repo)
    again, log = retrain(repo)  # same inputs: the finished checkpoint is reused
    assert same(first, again) and "training from step 0" not in log
    path = repo / "results/pretrain_supernet/supernet.pt"
    state = torch.load(path, weights_only=True)
    generator = torch.Generator().manual_seed(1)
    for tensor in state["model"].values():
        if tensor.is_floating_point():
            tensor.add_(0.1 * torch.randn(tensor.shape, generator=generator))
    torch.save(state, path)
    second, log = retrain(repo)
    assert "(changed: supernet (file)); training from step 0" in log
    assert not same(first, second)


def test_a_library_edit_trains_again(repo):
    first, _ = retrain(repo, "ckpt/code.pt")
    loop = repo / "hyctas/train/loop.py"
    original = loop.read_text()
    try:
        loop.write_text(original + "\n# an edit\n")
        _, log = retrain(repo, "ckpt/code.pt")
    finally:
        loop.write_text(original)
    assert "(changed: code); training from step 0" in log


def test_further_seeds_train_apart_evaluate_scores_them_and_fewer_reuse_the_first(repo):
    """retrain.seeds 2: a second model in the seed folder, different weights; evaluate gives
    both mIoUs and their mean; back to 1 seed: the first run is reused, the second dropped."""
    two = write_params(repo, "two_seeds.yaml", {"retrain": {"seeds": 2}})
    first, _ = retrain(repo, "ckpt/seeds.pt", two)
    manifest = json.loads((repo / "out/seeds/seeds.json").read_text())
    assert manifest == {"models": {"1": "seed1.pt"}} and (repo / "ckpt/seeds.seed1.pt").is_file()
    second = torch.load(repo / "out/seeds/seed1.pt", weights_only=True)
    assert second["seed"] == 1 and not same(first, second["model"])
    metrics = json.loads((repo / "out/metrics.json").read_text())
    assert metrics["training_seeds"] == [0, 1] and metrics["seed"] == 0
    assert (
        metrics["further_seeds"]["1"]["seed"] == 1 and (repo / "out/seeds/seed1_log.csv").is_file()
    )
    run(repo, sys.executable, "-m", "stages.evaluate", "--params", two, "--model", "out/model.pt",
        "--seeds-dir", "out/seeds", "--lists", "data/prepare_data/lists",
        "--onnx-out", "ev/model.onnx", "--confusion", "ev/confusion.png",
        "--overlays", "ev/overlays.png", "--metrics-out", "ev/metrics.json")  # fmt: skip
    evaluated = json.loads((repo / "ev/metrics.json").read_text())
    assert evaluated["seeds"] == 2 and set(evaluated["miou_seeds"]) == {"0", "1"}
    assert evaluated["miou_seeds"]["0"] == evaluated["miou"]
    assert evaluated["miou_seed_mean"] == pytest.approx(
        (evaluated["miou_seeds"]["0"] + evaluated["miou_seeds"]["1"]) / 2
    )
    assert evaluated["miou_seed_std"] is not None
    again, log = retrain(repo, "ckpt/seeds.pt", write_params(repo, "one_seed.yaml", {}))
    assert same(first, again) and "training from step 0" not in log  # seeds is not in a run
    assert json.loads((repo / "out/seeds/seeds.json").read_text()) == {"models": {}}
    assert not (repo / "out/seeds/seed1.pt").exists()  # the folder is replaced whole
    assert (repo / "ckpt/seeds.seed1.pt").is_file()  # kept for when seeds go up again


def test_a_stop_in_a_middle_seed_resumes_there_and_leaves_no_new_output(repo):
    """1 seed, then 3 stopped in the second run: no model written; the rerun reuses the
    first run, resumes the second, trains the third, and both further seeds' weights are
    those of an unstopped run."""
    one = write_params(repo, "one.yaml", {})
    three = write_params(repo, "three.yaml", {"retrain": {"seeds": 3}})
    first, _ = retrain(repo, "ckpt/stop.pt", one, "stop")
    (repo / "stop/model.pt").unlink()
    stopped, log = retrain(repo, "ckpt/stop.pt", three, "stop", "--stop-after", "2", check=False)
    assert stopped is None and "checkpoint saved to ckpt/stop.seed1.pt" in log
    assert not (repo / "ckpt/stop.seed2.pt").exists()  # the third run never started
    assert not (repo / "stop/model.pt").exists()  # the first run finished, but is not written
    assert json.loads((repo / "stop/seeds/seeds.json").read_text()) == {"models": {}}  # as was
    again, log = retrain(repo, "ckpt/stop.pt", three, "stop")
    assert same(first, again) and "training from step 0" not in log
    manifest = json.loads((repo / "stop/seeds/seeds.json").read_text())
    assert manifest == {"models": {"1": "seed1.pt", "2": "seed2.pt"}}
    fresh, _ = retrain(repo, "ckpt/fresh.pt", three, "fresh")
    assert same(first, fresh)
    for seed in (1, 2):
        resumed = torch.load(repo / f"stop/seeds/seed{seed}.pt", weights_only=True)["model"]
        unstopped = torch.load(repo / f"fresh/seeds/seed{seed}.pt", weights_only=True)["model"]
        assert same(resumed, unstopped), f"seed {seed}"


def test_two_process_ddp_writes_every_seed_once_on_rank0(repo):
    """Both processes train every seed; only rank 0 writes the seed folder and model.pt."""
    two = write_params(repo, "ddp_two.yaml", {"retrain": {"seeds": 2}})
    first, _ = retrain(repo, "ckpt/ddp.pt", two, "ddp", ddp=True)
    assert all(torch.isfinite(t).all() for t in first.values() if t.is_floating_point())
    assert sorted(p.name for p in (repo / "ddp").iterdir()) == [
        "log.csv",
        "metrics.json",
        "model.pt",
        "seeds",
    ]
    seeds = repo / "ddp/seeds"
    assert sorted(p.name for p in seeds.iterdir()) == ["seed1.pt", "seed1_log.csv", "seeds.json"]
    assert json.loads((seeds / "seeds.json").read_text()) == {"models": {"1": "seed1.pt"}}
    assert torch.load(seeds / "seed1.pt", weights_only=True)["seed"] == 1
    assert json.loads((repo / "ddp/metrics.json").read_text())["training_seeds"] == [0, 1]
