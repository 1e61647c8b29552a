"""ONNX export of a hybrid SegNet (with `sa` cells) and of the baseline, checked with ORT."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from hyctas.export import check_onnx, checkpoint_metadata, export_onnx, onnx_session
from hyctas.models.baseline import BaselineConfig, build_baseline
from hyctas.models.factory import model_checkpoint
from hyctas.models.network import SegNet
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig

TOLERANCE = 1e-3  # on logits
SPACE = {
    "ops": ["skip", "conv", "conv_downup", "conv_2x_downup", "sa"],
    "widths": [0.5, 1.0],
    "max_branches": 3,
    "min_depth": 1,
    "max_depth": 4,
    "branch_ratios": [0.4, 0.3, 0.3],
    "fch": 2,
    "sa_heads": 2,
    "sa_head_dim": 8,
    "head_skip_channels": 4,
}


def _hybrid_segnet() -> SegNet:
    torch.manual_seed(0)
    arch = Arch.from_compact("b0:conv1|sa.5|sa1;b1:conv_downup1/2|sa1;b2:sa1/2|conv_2x_downup1/2")
    net = SegNet(arch, SpaceConfig.from_params(SPACE), num_classes=5, aux=True)
    with torch.no_grad():  # gamma starts at 0 (identity); make the attention count
        for name, p in net.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.7)
    return net


@pytest.mark.parametrize("which", ["segnet_sa", "fast_scnn"])
def test_export_matches_pytorch_at_several_sizes(which: str, tmp_path: Path) -> None:
    if which == "segnet_sa":
        net = _hybrid_segnet()
    else:
        torch.manual_seed(0)
        net = build_baseline(BaselineConfig("fast_scnn", width=0.25, aux=True), num_classes=5)
    net.train()  # the export must switch to eval and back
    path = tmp_path / "model.onnx"
    export_onnx(net, path, 64, 128)
    assert net.training
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temp file left
    graph = onnx.load(str(path)).graph
    if which == "segnet_sa":
        ops = {n.op_type for n in graph.node}
        assert {"MatMul", "Softmax"} <= ops  # the attention is in the graph
    # Dynamic axes: batch, a larger and a transposed size run too.
    for shape in [(1, 3, 64, 128), (2, 3, 128, 192), (1, 3, 192, 64)]:
        x = torch.randn(*shape)
        assert check_onnx(net, path, x) < TOLERANCE, shape
    assert net.training


def test_attention_path_is_checked_by_the_comparison(tmp_path: Path) -> None:
    # A wrong export must show: change gamma after export, the difference must grow.
    net = _hybrid_segnet()
    path = tmp_path / "model.onnx"
    export_onnx(net, path, 64, 64)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("gamma"):
                p.fill_(-3.0)
    assert check_onnx(net, path, torch.randn(1, 3, 64, 64)) > TOLERANCE


def test_metadata_travels_with_the_model(tmp_path: Path) -> None:
    net = build_baseline(BaselineConfig("fast_scnn", width=0.25, aux=False), num_classes=3)
    state = model_checkpoint(
        net,
        kind="baseline",
        baseline={"name": "fast_scnn", "width": 0.25},
        num_classes=3,
        aux=False,
        mean=[0.1, 0.2, 0.3],
        std=[0.4, 0.5, 0.6],
        target="fast",
    )
    path = tmp_path / "m.onnx"
    export_onnx(net, path, 64, 64, metadata=checkpoint_metadata(state))
    meta = onnx_session(path).get_modelmeta().custom_metadata_map
    assert meta["mean"] == "[0.1, 0.2, 0.3]" and meta["std"] == "[0.4, 0.5, 0.6]"
    assert meta["num_classes"] == "3" and meta["kind"] == "baseline" and meta["target"] == "fast"
