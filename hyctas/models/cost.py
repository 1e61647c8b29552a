"""Static cost of an architecture: parameters, multiply-accumulates and activation size.

Everything is measured on PyTorch's "meta" device: the network is built and run without
allocating or computing any data, so even a 1024x2048 input costs milliseconds.

Definitions (batch 1, float32, eval mode, i.e. the inference network):
    * `params`: parameters of the inference network (no auxiliary parts);
    * `params_no_aux_heads`: all parameters but the auxiliary heads; this includes the
      1/16 and 1/32 fusions that only feed those heads, which the reference code always
      builds, so it is the number comparable to the published parameter counts;
    * `params_train`: everything trained, auxiliary heads included;
    * `macs`: `FlopCounterMode` FLOPs / 2 (convolutions and matrix products, attention
      included; norms, activations and resizes are not counted);
    * `activation_bytes`: sum of the output sizes of every leaf module (convs, norms,
      activations, pooling) in one forward pass: a proxy for activation memory, not a peak;
      functional ops (resize, concatenation, the attention core) are not included.

Example:
    >>> arch_cost(arch, cfg, num_classes=19, input_size=(1024, 2048))["macs"]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from hyctas.models.network import SegNet, check_input
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig


def count_params(module: nn.Module, exclude_prefixes: tuple[str, ...] = ()) -> int:
    """Number of parameters of `module`, leaving out names starting with `exclude_prefixes`."""
    return sum(
        p.numel()
        for name, p in module.named_parameters()
        if not any(name.startswith(prefix) for prefix in exclude_prefixes)
    )


def _cpu_flash_attention_flops(
    query: torch.Size, key: torch.Size, value: torch.Size, *args: Any, **kwargs: Any
) -> int:
    return sdpa_flop_count(query, key, value)


# FlopCounterMode knows the GPU attention kernels but not the fused CPU one.
_EXTRA_FLOP_FORMULAS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_attention_flops
}


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of `model(x)` (FLOPs / 2 as counted by `FlopCounterMode`).

    Works on real tensors and on the meta device (attention is counted on both).
    """
    counter = FlopCounterMode(display=False, custom_mapping=_EXTRA_FLOP_FORMULAS)
    with torch.no_grad(), counter:
        model(x)
    return counter.get_total_flops() // 2


def sum_outputs(
    model: nn.Module,
    x: torch.Tensor,
    select: Callable[[nn.Module], bool],
    size: Callable[[torch.Tensor], int],
) -> int:
    """Sum of `size(output)` over the tensor outputs of the modules `select` picks in `model(x)`."""
    total = 0

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += size(output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if select(m)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total


def count_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Sum of the byte sizes of every leaf module's output tensor in `model(x)`."""
    return sum_outputs(
        model,
        x,
        lambda m: not any(True for _ in m.children()),
        lambda t: t.numel() * t.element_size(),
    )


def arch_cost(
    arch: Arch, cfg: SpaceConfig, num_classes: int, input_size: tuple[int, int]
) -> dict[str, Any]:
    """Parameters, MACs and activation bytes of `arch` at `input_size` (see module doc).

    Args:
        arch: The architecture.
        cfg: Search space that sizes it.
        num_classes: Output classes.
        input_size: (height, width), multiples of 64.

    Returns:
        Dict with keys params, params_no_aux_heads, params_train, macs, activation_bytes,
        input_size and num_classes.

    Raises:
        InputSizeError: `input_size` is not a multiple of 64.
    """
    height, width = input_size
    with torch.device("meta"):
        net = SegNet(arch, cfg, num_classes, aux=True).eval()
        x = torch.empty(1, 3, height, width)
    check_input(x)
    aux_fusions = ("fusion.ffm16.", "fusion.ffm32.")
    return {
        "params": count_params(net, ("aux_heads.",) + aux_fusions),
        "params_no_aux_heads": count_params(net, ("aux_heads.",)),
        "params_train": count_params(net),
        "macs": count_macs(net, x),
        "activation_bytes": count_activation_bytes(net, x),
        "input_size": [height, width],
        "num_classes": num_classes,
    }
