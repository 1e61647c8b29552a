"""The shared inference routine: frames of any size, flip, scales, sliding windows, params."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hyctas.errors import ConfigError
from hyctas.evaluation.inference import (
    PLAIN,
    InferenceConfig,
    SlidingWindow,
    infer,
    pad_to,
    padded_size,
    window_starts,
)
from hyctas.models.network import SegNet, check_input
from hyctas.params import validate_params
from tests.unit.models.conftest import arch, space

H, W = 375, 500  # neither a multiple of 64


class Strict(nn.Module):
    """Wraps a network: refuses what a real one refuses (sides not multiples of 64)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.sizes: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        self.sizes.append(tuple(x.shape[-2:]))
        return self.net(x)


def pointwise(classes: int = 4) -> Strict:
    """A 1x1 conv: each pixel's logits depend on that pixel only."""
    torch.manual_seed(0)
    return Strict(nn.Conv2d(3, classes, 1)).eval()


def contextual(classes: int = 4) -> Strict:
    """A 5x5 conv: logits near the border depend on the padding."""
    torch.manual_seed(0)
    return Strict(nn.Conv2d(3, classes, 5, padding=2)).eval()


def frame(h: int = H, w: int = W) -> torch.Tensor:
    return torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(1))


def config(**kw) -> InferenceConfig:
    return InferenceConfig(**{"flip": False, "scales": (1.0,), "window": None, **kw})


def test_plain_pass_pads_to_multiples_of_64_and_crops_back() -> None:
    net, x = contextual(), frame()
    logits = infer(net, x, PLAIN)
    assert logits.shape == (1, 4, H, W) and net.sizes == [(384, 512)]
    padded = F.pad(x, (0, 12, 0, 9), mode="reflect")  # reflect-101 at the bottom and right
    assert torch.equal(logits, net(padded)[..., :H, :W])
    assert torch.equal(infer(net, x, config(scales=(1.0,))), logits)  # scales [1.0]: the plain pass


def test_one_window_covering_the_frame_is_the_whole_frame() -> None:
    net, x = contextual(), frame()
    whole = infer(net, x, PLAIN)
    for crop in [(H, W), (512, 1024)]:
        one = config(window=SlidingWindow(crop, crop))
        assert torch.equal(infer(net, x, one), whole)


def test_overlapping_windows_average_to_the_frame_for_a_pointwise_network() -> None:
    net, x = pointwise(), frame()
    window = SlidingWindow((200, 256), (150, 160))
    found = infer(net, x, config(window=window))
    # Rows 0, 150, 175 (flush) x columns 0, 160, 244 (flush), each padded to 256 x 256.
    assert net.sizes == [(256, 256)] * 9
    assert found.shape == (1, 4, H, W)
    torch.testing.assert_close(found, infer(net, x, PLAIN), atol=1e-6, rtol=0)


def test_windows_differ_from_the_whole_frame_where_context_matters() -> None:
    net, x = contextual(), frame()
    windows = infer(net, x, config(window=SlidingWindow((192, 256), (128, 192))))
    assert windows.shape == (1, 4, H, W) and torch.isfinite(windows).all()
    assert not torch.allclose(windows, infer(net, x, PLAIN))


def test_window_starts_cover_every_pixel_and_end_flush() -> None:
    assert window_starts(375, 512, 341) == [0]
    assert window_starts(375, 200, 150) == [0, 150, 175]
    assert window_starts(400, 200, 200) == [0, 200]
    for side, crop, stride in [(375, 100, 37), (1024, 512, 341), (65, 64, 1)]:
        starts = window_starts(side, crop, stride)
        covered = torch.zeros(side, dtype=torch.bool)
        for s in starts:
            covered[s : s + crop] = True
        assert covered.all() and starts[-1] == side - crop


def test_flip_is_the_old_sum_halved() -> None:
    """The old `predict(flip=True)` summed both passes; now they are averaged (same argmax)."""
    net, x = contextual(), frame(128, 192)
    old = net(x) + net(x.flip(-1)).flip(-1)
    torch.testing.assert_close(infer(net, x, config(flip=True)), old / 2)
    on_odd = infer(net, frame(), config(flip=True))
    assert on_odd.shape == (1, 4, H, W)
    mirrored = infer(net, frame().flip(-1), PLAIN).flip(-1)
    torch.testing.assert_close(on_odd, (infer(net, frame(), PLAIN) + mirrored) / 2)


def test_scales_resize_the_frame_and_the_logits_back() -> None:
    net, x = contextual(), frame()
    net.sizes.clear()
    found = infer(net, x, config(scales=(0.5, 1.0, 1.25)))
    assert found.shape == (1, 4, H, W) and torch.isfinite(found).all()
    # 188x250 -> 192x256, 375x500 -> 384x512, 469x625 -> 512x640
    assert net.sizes == [(192, 256), (384, 512), (512, 640)]
    half = F.interpolate(x, size=(188, 250), mode="bilinear", align_corners=False)
    half = F.interpolate(infer(net, half, PLAIN), (H, W), mode="bilinear", align_corners=False)
    large = F.interpolate(x, size=(469, 625), mode="bilinear", align_corners=False)
    large = F.interpolate(infer(net, large, PLAIN), (H, W), mode="bilinear", align_corners=False)
    torch.testing.assert_close(found, (half + infer(net, x, PLAIN) + large) / 3)
    combined = config(flip=True, scales=(0.75, 1.0), window=SlidingWindow((128, 128), (96, 96)))
    assert infer(net, x, combined).shape == (1, 4, H, W)


def test_quarter_resolution_logits_are_upsampled_before_the_crop() -> None:
    torch.manual_seed(0)
    net, x = Strict(nn.Conv2d(3, 4, 4, stride=4)).eval(), frame()
    logits = infer(net, x, PLAIN)
    padded = pad_to(x, (384, 512))
    upsampled = F.interpolate(net(padded), size=(384, 512), mode="bilinear", align_corners=False)
    assert logits.shape == (1, 4, H, W)
    assert torch.equal(logits, upsampled[..., :H, :W])


def test_a_searched_network_on_a_frame_of_any_size() -> None:
    torch.manual_seed(0)
    net = SegNet(arch("conv1/2|conv1", "skip1"), space(), num_classes=3).eval()
    x = frame(100, 150)
    found = infer(net, x, config(flip=True, scales=(0.75, 1.0)))
    assert found.shape == (1, 3, 100, 150) and torch.isfinite(found).all()


def test_padding_small_frames_mirrors_again() -> None:
    x = torch.arange(10.0).reshape(1, 1, 2, 5)
    padded = pad_to(x, (64, 64))
    assert padded.shape == (1, 1, 64, 64) and torch.equal(padded[..., :2, :5], x)
    assert torch.equal(padded[0, 0, 0, 5:9], torch.tensor([3.0, 2.0, 1.0, 0.0]))  # reflect-101
    assert pad_to(torch.ones(1, 3, 1, 7), (64, 64)).shape == (1, 3, 64, 64)  # one row: repeated
    assert padded_size(375, 500) == (384, 512) and padded_size(64, 128) == (64, 128)
    assert infer(pointwise(), frame(3, 2), PLAIN).shape == (1, 4, 3, 2)


BLOCK = {"flip": False, "scales": [1.0], "sliding_window": None}


def test_params_give_the_config_and_what_metrics_record() -> None:
    assert InferenceConfig.from_params(BLOCK, "evaluate") == PLAIN and PLAIN.is_plain()
    block = BLOCK | {"scales": [0.75, 1, 1.25], "flip": True}
    block["sliding_window"] = {"crop": [512, 1024], "stride": [341, 683]}
    found = InferenceConfig.from_params(block, "evaluate")
    assert found.window == SlidingWindow((512, 1024), (341, 683)) and found.scales[1] == 1.0
    assert found.to_dict() == {
        "inference": "sliding 512x1024/341x683",
        "inference_scales": [0.75, 1.0, 1.25],
        "inference_flip": True,
    }
    assert PLAIN.to_dict()["inference"] == "whole"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scales": [1.0, 0]}, r"evaluate\.scales = \[1\.0, 0\]: every scale must be > 0"),
        ({"scales": [-0.5]}, r"evaluate\.scales .* > 0"),
        ({"scales": []}, r"evaluate\.scales = \[\]: must be a non-empty list"),
        (
            {"sliding_window": {"crop": [256, 256], "stride": [128, 300]}},
            r"evaluate\.sliding_window\.stride = \[128, 300\] is larger than "
            r"evaluate\.sliding_window\.crop = \[256, 256\]",
        ),
        (
            {"sliding_window": {"crop": [256], "stride": [128, 128]}},
            r"evaluate\.sliding_window\.crop = \[256\]: must be \[height, width\]",
        ),
        (
            {"sliding_window": {"crop": [256, 256], "stride": [0, 128]}},
            r"evaluate\.sliding_window\.stride = \[0, 128\]",
        ),
        ({"sliding_window": {"crop": [256, 256]}}, r"evaluate\.sliding_window = .*null or"),
        ({"flip": "yes"}, r"evaluate\.flip = 'yes'"),
    ],
)
def test_bad_params_name_the_key(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        InferenceConfig.from_params(BLOCK | change, "evaluate")


def test_the_schema_names_the_key_too(params: dict) -> None:
    params["evaluate"]["scales"] = [0.0]
    params["evaluate"]["sliding_window"] = {"crop": [256, 256], "stride": [128]}
    with pytest.raises(ConfigError) as info:
        validate_params(params)
    assert "evaluate.scales[0] = 0.0" in str(info.value)
    assert "evaluate.sliding_window" in str(info.value)
