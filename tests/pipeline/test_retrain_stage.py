"""retrain: a finished checkpoint is reused only for the same inputs (params, files, code)."""

from __future__ import annotations

import json
import sys

import pytest
import torch
import yaml

from hyctas.space.config import SpaceConfig
from hyctas.space.extremes import smallest_arch
from tests.pipeline.tiny import PREPARE_DATA_ARGS, pretrain_args, run, tiny_repo

pytestmark = pytest.mark.pipeline
RETRAIN = [sys.executable, "-m", "stages.retrain", "--params", "params.yaml"]


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


def retrain(repo, checkpoint: str = "ckpt/t.pt"):
    proc = run(repo, *RETRAIN, "--spec", "spec.json", "--lists", "data/prepare_data/lists",
               "--supernet", "results/pretrain_supernet/supernet.pt", "--checkpoint", checkpoint,
               "--out", "out/model.pt", "--train-log", "out/log.csv",
               "--metrics-out", "out/metrics.json")  # fmt: skip
    return torch.load(repo / "out/model.pt", weights_only=True)["model"], proc.stderr


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
