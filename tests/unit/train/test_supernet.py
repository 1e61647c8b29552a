"""hyctas.train.supernet: the chance level the probes must beat, the frames that score them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from hyctas.data import SEARCH_LIST, SUPERNET_TRAIN_LIST, VAL_LIST
from hyctas.data.dataset import SegmentationDataset
from hyctas.data.prepare import Splits, prepare_tree
from hyctas.errors import ConfigError
from hyctas.evaluation.metrics import ConfusionMatrix
from hyctas.models.supernet import Supernet
from hyctas.space.config import SpaceConfig
from hyctas.space.extremes import largest_arch, smallest_arch
from hyctas.train.config import TrainConfig
from hyctas.train.distributed import DistInfo
from hyctas.train.supernet import (
    EvalFrames,
    chance_miou,
    inherited_miou,
    inplace_distillation,
    load_supernet,
    pretrain,
    search_frames,
    step_archs,
    subnet_confusion,
    training_space,
)
from tests.pipeline.tiny import tiny_params


def test_chance_miou_is_the_miou_of_predicting_the_most_frequent_class() -> None:
    num_classes, ignore = 6, 255
    rng = np.random.default_rng(0)
    # Classes 0..3 in the truth (2 most frequent), 4 and 5 absent; some ignored pixels.
    labels = [
        rng.choice([0, 1, 2, 2, 3, ignore], size=(8, 12), p=[0.1, 0.2, 0.3, 0.2, 0.1, 0.1])
        for _ in range(3)
    ]
    frames = EvalFrames(
        calib=[],
        search=[(torch.zeros(1, 3, 8, 12), torch.from_numpy(lbl)[None]) for lbl in labels],
    )
    counts = np.bincount(np.concatenate([lbl[lbl != ignore] for lbl in labels]), minlength=6)
    matrix = ConfusionMatrix(num_classes, ignore)
    for _, label in frames.search:
        matrix.update(torch.full_like(label, int(counts.argmax())), label)
    assert np.isnan(matrix.iou()[4:]).all()  # never in the truth, never predicted
    assert chance_miou(frames, num_classes, ignore) == pytest.approx(matrix.miou(), abs=1e-12)
    assert chance_miou(frames, num_classes, ignore) == pytest.approx(
        counts.max() / counts.sum() / 4
    )


@pytest.fixture
def lists(tiny_tree, tmp_path):
    """tiny_tree's lists: 3 training frames, 2 of them held out for the search."""
    splits = Splits(train="train", val="val", search_images=2, search_seed=0)
    out = tmp_path / "lists"
    kw = dict(num_classes=19, ignore_label=255, on_bad_file="error", workers=1, progress=False)
    prepare_tree(tiny_tree, splits, out, **kw)
    return out


def test_eval_frames_score_on_the_search_split_and_calibrate_on_supernet_training(lists):
    base = {"ignore_label": 255}
    frames = EvalFrames.load(lists, base, (0.5,) * 3, (0.25,) * 3, 2, 1, 2, "search.images")
    kw = dict(ignore_label=255, mean=(0.5,) * 3, std=(0.25,) * 3, augment=None)
    search = SegmentationDataset(lists / SEARCH_LIST, **kw)
    assert len(frames.search) == 2
    for (image, label), (want_image, want_label) in zip(
        frames.search, (search[0], search[1]), strict=True
    ):
        assert torch.equal(image[0], want_image) and torch.equal(label[0], want_label)
    (calib,) = frames.calib  # one frame left for the supernet: one batch of one
    assert torch.equal(calib[0], SegmentationDataset(lists / SUPERNET_TRAIN_LIST, **kw)[0][0])
    assert not set((lists / SEARCH_LIST).read_text().splitlines()) & set(
        (lists / VAL_LIST).read_text().splitlines()
    )
    with pytest.raises(ConfigError, match=r"search.images = 3: .*search.txt holds only 2 frame"):
        EvalFrames.load(lists, base, (0.5,) * 3, (0.25,) * 3, 1, 1, 3, "search.images")


def test_pretrain_names_a_search_split_that_leaves_less_than_a_batch(lists, tmp_path):
    params = tiny_params()  # batch_size 2; one frame is left after the held-out two
    where = dict(device=torch.device("cpu"), info=DistInfo(), progress=False)
    with pytest.raises(ConfigError) as info:
        pretrain(params, lists, tmp_path / "s.pt", tmp_path / "c.pt", **where)
    assert "supernet_train.txt: 1 frame(s)" in str(info.value)
    assert "pretrain_supernet.recipe.batch_size = 2" in str(info.value)
    assert "prepare_data.search_split.images" in str(info.value)


def test_sandwich_rules_train_the_largest_first_then_the_smallest_then_a_draw() -> None:
    cfg = SpaceConfig.from_params(tiny_params()["search_space"])
    for sampling in ("sandwich", "sandwich_distill"):
        largest, smallest, drawn = step_archs(cfg, 0, sampling)(5)
        assert (largest, smallest) == (largest_arch(cfg), smallest_arch(cfg))
        assert drawn == step_archs(cfg, 0, "uniform")(5)[0]  # the same draw as uniform's
    with pytest.raises(ConfigError, match="pretrain_supernet.sampling"):
        step_archs(cfg, 0, "random")


def test_the_training_rho_draws_the_branch_counts_it_names() -> None:
    cfg = SpaceConfig.from_params(tiny_params()["search_space"])
    only_three = step_archs(training_space(cfg, [0.0, 0.0, 1.0]), 0, "uniform")
    assert {len(only_three(step)[0].branches) for step in range(30)} == {3}
    with pytest.raises(ConfigError, match=r"pretrain_supernet\.branch_ratios: .*sum to 1"):
        training_space(cfg, [0.5, 0.2, 0.2])
    with pytest.raises(ConfigError, match=r"pretrain_supernet\.branch_ratios: .*length 3"):
        training_space(cfg, [0.5, 0.5])


def test_inplace_distillation_teaches_the_students_with_the_first_output() -> None:
    recipe = TrainConfig.from_params(tiny_params()["pretrain_supernet"]["recipe"], "r")
    labels = torch.randint(0, 4, (2, 8, 8))
    gen = torch.Generator().manual_seed(0)
    teacher = torch.randn(2, 4, 8, 8, generator=gen, requires_grad=True)
    student = torch.randn(2, 4, 8, 8, generator=gen, requires_grad=True)
    pure = inplace_distillation(recipe, 255, temperature=1.0, label_weight=0.0)
    first = pure(0, (teacher, []), labels)  # the teacher: its label loss
    assert first.item() > 0
    assert pure(1, (teacher.detach().clone(), []), labels).item() == pytest.approx(0, abs=1e-6)
    pure(2, (student, [student * 2]), labels).backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    mixed = inplace_distillation(recipe, 255, temperature=1.0, label_weight=0.5)
    mixed(0, teacher, labels)
    assert mixed(1, teacher.detach().clone(), labels).item() == pytest.approx(
        0.5 * first.item(), rel=1e-5
    )


@pytest.fixture
def lists_one_held_out(tiny_tree, tmp_path):
    """tiny_tree's lists: 3 training frames, 1 held out for the search (2 train the supernet)."""
    splits = Splits(train="train", val="val", search_images=1, search_seed=0)
    out = tmp_path / "lists1"
    kw = dict(num_classes=19, ignore_label=255, on_bad_file="error", workers=1, progress=False)
    prepare_tree(tiny_tree, splits, out, **kw)
    return out


def test_distilled_supernet_with_per_branch_cells_and_shared_head_trains_and_rebuilds(
    lists_one_held_out, tmp_path
):
    options = {
        "sampling": "sandwich_distill",
        "cell_sharing": "branch",
        "head_sharing": "shared",
        "probe_images": 1,
    }
    params = tiny_params({"pretrain_supernet": {**options, "recipe": {"iterations": 2}}})
    where = dict(device=torch.device("cpu"), info=DistInfo(), progress=False)
    out = tmp_path / "supernet.pt"
    summary = pretrain(params, lists_one_held_out, out, tmp_path / "c.pt", **where)
    assert np.isfinite(summary["metrics"]["final_loss"])
    net, cfg, state = load_supernet(out, torch.device("cpu"))
    assert state["cell_sharing"] == net.cell_sharing == "branch"
    assert state["head_sharing"] == net.head_sharing == "shared"
    arch = largest_arch(cfg)
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        assert torch.allclose(net(x, arch), net.extract(arch).eval()(x), atol=1e-5)


@pytest.fixture
def mixed_lists(tmp_path):
    """Lists over frames of different sizes, none a multiple of 64 (trainIds labels)."""
    rng = np.random.default_rng(0)
    train_sizes = [(100, 150), (64, 128), (70, 130), (60, 100)]
    lists = {SUPERNET_TRAIN_LIST: train_sizes, SEARCH_LIST: [(75, 90)]}
    for name, sizes in lists.items():
        lines = []
        for i, (h, w) in enumerate(sizes):
            stem = f"{name.split('.')[0]}_{i}"
            cv2.imwrite(str(tmp_path / f"{stem}.png"), rng.integers(0, 256, (h, w, 3), np.uint8))
            label = rng.choice([0, 1, 2, 255], (h, w)).astype(np.uint8)
            cv2.imwrite(str(tmp_path / f"{stem}_label.png"), label)
            lines.append(f"{stem}.png\t{stem}_label.png")
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    return tmp_path


def test_eval_frames_of_different_sizes_calibrate_and_score(mixed_lists):
    base = {"ignore_label": 255, "num_classes": 3}
    frames = EvalFrames.load(mixed_lists, base, (0.5,) * 3, (0.25,) * 3, 2, 2, 1, "search.images")
    # Frames of one padded size batch together: each batch pads only to its own size.
    small, large = frames.calib
    assert small.shape == (2, 3, 64, 128) and large.shape == (2, 3, 128, 192)
    kw = dict(ignore_label=255, mean=(0.5,) * 3, std=(0.25,) * 3, augment=None)
    train = SegmentationDataset(mixed_lists / SUPERNET_TRAIN_LIST, **kw)
    assert torch.equal(small[0], train[1][0])  # already a multiple of 64: untouched
    assert torch.equal(small[1, :, :60, :100], train[3][0])  # the frames, mirrored beyond
    assert torch.equal(large[0, :, :100, :150], train[0][0])
    assert torch.equal(large[1, :, :70, :130], train[2][0])
    ((image, label),) = frames.search  # kept at its own size
    assert image.shape == (1, 3, 75, 90) and label.shape == (1, 75, 90)
    cfg = SpaceConfig.from_params(tiny_params()["search_space"])
    torch.manual_seed(0)
    supernet = Supernet(cfg, 3, aux=True, cell_sharing="position")
    cpu = torch.device("cpu")
    for arch in (smallest_arch(cfg), largest_arch(cfg)):
        plain = subnet_confusion(supernet, arch, frames, base, cpu, channels_last=False).miou()
        nhwc = subnet_confusion(supernet, arch, frames, base, cpu, channels_last=True).miou()
        # Float sums in another order: a near-tied pixel of an untrained network may flip.
        assert 0.0 <= plain <= 1.0 and nhwc == pytest.approx(plain, abs=1e-3)


@pytest.mark.parametrize("channels_last", [False, True])
def test_search_scoring_reads_its_frames_and_memory_format_from_the_search_block(
    mixed_lists, monkeypatch, channels_last
):
    base = {"ignore_label": 255, "num_classes": 3}
    search = {"bn_calib_batches": 2, "bn_batch_size": 2, "images": 1}
    search["channels_last"] = channels_last
    augment = {"mean": (0.5,) * 3, "std": (0.25,) * 3}
    state = {"params": {"recipe": {"augment": augment}}}
    frames = search_frames(mixed_lists, base, search, state)
    expected = EvalFrames.load(mixed_lists, base, (0.5,) * 3, (0.25,) * 3, 2, 2, 1, "x")
    assert len(frames.search) == 1 and torch.equal(frames.search[0][0], expected.search[0][0])
    assert all(torch.equal(a, b) for a, b in zip(frames.calib, expected.calib, strict=True))
    with pytest.raises(ConfigError, match="images = 2"):  # the override is asked for
        search_frames(mixed_lists, base, search, state, images=2)
    calls = []

    class Scored:
        def miou(self):
            return 0.5

    monkeypatch.setattr(
        "hyctas.train.supernet.subnet_confusion", lambda *a, **kw: calls.append(kw) or Scored()
    )
    score = inherited_miou(None, frames, base, search, torch.device("cpu"))
    assert score(None) == 0.5 and calls == [{"channels_last": channels_last}]


def test_the_supernet_seed_defaults_to_base_seed_and_changes_the_weights(
    lists_one_held_out, tmp_path
):
    where = dict(device=torch.device("cpu"), info=DistInfo(), progress=False)
    weights = {}
    base_seed = tiny_params()["base"]["seed"]
    for name, seed in (("default", None), ("base", base_seed), ("other", base_seed + 1)):
        options = {"seed": seed, "probe_images": 1, "recipe": {"iterations": 2}}
        params = tiny_params({"pretrain_supernet": options})
        out = tmp_path / f"{name}.pt"
        pretrain(params, lists_one_held_out, out, tmp_path / f"{name}-c.pt", **where)
        weights[name] = torch.load(out, weights_only=False)["model"]
    same = [torch.equal(weights["default"][k], weights["base"][k]) for k in weights["base"]]
    assert all(same)
    assert not all(torch.equal(weights["other"][k], weights["base"][k]) for k in weights["base"])
