"""The training loop: resumption is exact, NaN is caught, loss/schedule/sampler behave."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyctas.data.dataset import SegmentationDataset
from hyctas.data.prepare import Splits, prepare_tree
from hyctas.provenance import Fingerprint
from hyctas.train.config import TrainConfig
from hyctas.train.distributed import DistInfo
from hyctas.train.loop import Diverged, LoopHooks, Preempted, train_loop
from hyctas.train.loss import topk_cross_entropy
from hyctas.train.sampler import StepBatchSampler
from hyctas.train.schedule import make_optimizer, warmup_poly

FINGERPRINT = Fingerprint({"params": "p", "code": "c"})

RECIPE = {
    "iterations": 8,
    "batch_size": 2,
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "warmup_iters": 2,
    "poly_power": 0.9,
    "grad_clip": 1.0,
    "top_k": 0.5,
    "aux_weight": 0.2,
    "amp": "fp32",
    "channels_last": False,
    "checkpoint_every": 3,
    "log_every": 2,
    "workers": 0,
    "loss_stride": 1,
    "augment": {
        "crop_height": 32,
        "crop_width": 64,
        "scale_min": 0.75,
        "scale_max": 1.5,
        "flip_prob": 0.5,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
    },
}


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 19, 1)
        )

    def forward(self, x, scale=1.0):
        out = self.body(x) * scale
        return (out, [out * 0.5]) if self.training else out


@pytest.fixture
def data(tiny_tree, tmp_path):
    prepare_tree(
        tiny_tree,
        Splits(train="train", val="val", search_images=1, search_seed=0),
        tmp_path / "lists",
        num_classes=19,
        ignore_label=255,
        on_bad_file="error",
        workers=1,
        progress=False,
    )
    cfg = TrainConfig.from_params(RECIPE, "retrain")
    return SegmentationDataset(
        tmp_path / "lists" / "train.txt",
        ignore_label=255,
        mean=cfg.augment.mean,
        std=cfg.augment.std,
        augment=cfg.augment,
        seed=0,
    ), cfg


def run(dataset, cfg, path, stop_after=None, scale_for=lambda step: [1.0 + 0.1 * (step % 3)]):
    torch.manual_seed(0)
    model = Tiny()
    hooks = LoopHooks(archs_for_step=scale_for, forward=lambda m, x, s: m(x, s))
    train_loop(
        model,
        dataset,
        cfg,
        hooks,
        device=torch.device("cpu"),
        info=DistInfo(),
        seed=0,
        ignore_label=255,
        checkpoint_path=path,
        fingerprint=FINGERPRINT,
        stop_after=stop_after,
        progress=False,
    )
    return model


def test_interrupt_then_resume_equals_uninterrupted(data, tmp_path):
    dataset, cfg = data
    straight = run(dataset, cfg, tmp_path / "a.pt")
    with pytest.raises(Preempted, match="step 5/8"):
        run(dataset, cfg, tmp_path / "b.pt", stop_after=5)
    resumed = run(dataset, cfg, tmp_path / "b.pt")
    for (name, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_checkpoint_of_another_run_is_ignored(data, tmp_path, capsys):
    dataset, cfg = data
    run(dataset, cfg, tmp_path / "c.pt")
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert state["step"] == 8 and len(state["history"]) == 4
    assert state["scaler"] == {}  # the AMP loss scale is saved too (empty: no fp16 on CPU)
    state["fingerprint"] = Fingerprint({**FINGERPRINT.parts, "code": "other"}).to_dict()
    torch.save(state, tmp_path / "c.pt")
    run(dataset, cfg, tmp_path / "c.pt")  # starts over instead of resuming at 8
    assert "(changed: code); training from step 0" in capsys.readouterr().err
    assert torch.load(tmp_path / "c.pt", weights_only=True)["fingerprint"] == FINGERPRINT.to_dict()


def test_nan_loss_is_reported(data, tmp_path):
    dataset, cfg = data
    with pytest.raises(Diverged, match="loss is nan at step 0"):
        run(dataset, cfg, tmp_path / "d.pt", scale_for=lambda step: [float("nan")])


def test_topk_keeps_hardest_pixels():
    logits = torch.zeros(1, 2, 1, 4)
    logits[0, 0, 0] = torch.tensor([4.0, 2.0, 0.0, -2.0])
    target = torch.tensor([[[0, 0, 0, 255]]])
    full = topk_cross_entropy(logits, target, 255, 1.0)
    hard = topk_cross_entropy(logits, target, 255, 0.34)
    assert hard > full  # the hardest pixel alone has the largest loss
    assert torch.isclose(
        hard, torch.nn.functional.cross_entropy(logits[..., 2:3], target[..., 2:3])
    )


def test_warmup_then_poly():
    opt = make_optimizer(Tiny(), lr=1.0, momentum=0.9, weight_decay=1e-4)
    sched = warmup_poly(opt, total_steps=10, warmup_steps=2, power=1.0)
    lrs = []
    for _ in range(10):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[:3] == [0.5, 1.0, 1.0] and lrs[-1] == pytest.approx(0.125)
    assert all(
        a > b for a, b in zip(lrs[2:], lrs[3:], strict=False)
    )  # strictly decaying after warm-up


def test_sampler_shards_and_resumes():
    full = list(StepBatchSampler(10, 2, seed=1, total_steps=7))
    resumed = list(StepBatchSampler(10, 2, seed=1, total_steps=7, start_step=4))
    assert full[4:] == resumed
    rank0 = StepBatchSampler(10, 2, seed=1, total_steps=3, rank=0, world_size=2)
    rank1 = StepBatchSampler(10, 2, seed=1, total_steps=3, rank=1, world_size=2)
    for step in range(2):
        assert not set(rank0.batch(step)) & set(rank1.batch(step))


def test_subsampled_labels_take_cell_centres():
    from hyctas.train.loss import subsample_labels

    target = torch.arange(64).reshape(1, 8, 8)
    small = subsample_labels(target, (2, 2))
    assert small.tolist() == [[[18, 22], [50, 54]]]
    logits = torch.zeros(1, 3, 2, 2, requires_grad=True)
    assert topk_cross_entropy(logits, torch.zeros(1, 8, 8, dtype=torch.long), 255, 1.0).item() > 0
