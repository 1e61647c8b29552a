"""How a timed network runs: its dtype, memory format and compilation.

One definition for every place latency is predicted or measured: the latency table and its
calibration/validation networks (`profile_latency`), the measured latency of `evaluate`,
the report's paired timing and `benchmarks/gpu_suite.py`. The three keys (`dtype`,
`channels_last`, `compile`) live in the `profile_latency` block and `evaluate`/`report` read
them from there, so a predicted latency and the measurement it is checked against are
always of the same program (before, `evaluate` timed float32 NCHW whatever the table used).

`compile` is "none" (eager) or a `torch.compile` mode. A compiled program compiles on its
first call and, under "reduce-overhead", records CUDA graphs on a later one: the warm-up
must cover that (`check_warmup`), and `compiling()` raises dynamo's recompile limits so
that hundreds of table pieces never fall back to eager without a word (it fails instead).

Example:
    >>> mode = RunMode.from_params(params["profile_latency"])
    >>> net = mode.prepare(model, device)       # a copy: cast, channels_last, compiled
    >>> with mode.compiling(), torch.inference_mode():
    ...     y = net(mode.move(x, device))
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from hyctas.errors import ConfigError

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")
# Untimed runs a compiled program needs: the first call compiles; under reduce-overhead the
# CUDA graph trees warm up on the first, record on the second and replay from the third.
COMPILE_WARMUP = 3
KEYS = ("dtype", "channels_last", "compile")
# Every table piece is its own graph (same forward code, other shapes): allow them all.
_RECOMPILE_LIMIT = 1_000_000


@dataclass(frozen=True)
class RunMode:
    """Precision, memory format and compilation of a timed network (from params.yaml).

    Attributes:
        dtype: "float32", "float16" or "bfloat16": weights and floating-point inputs.
        channels_last: Weights and 4-D inputs in NHWC memory order.
        compile: "none" (eager) or a `torch.compile` mode: "default", "reduce-overhead"
            (CUDA graphs on a GPU), "max-autotune".
    """

    dtype: str
    channels_last: bool
    compile: str

    @classmethod
    def from_params(cls, block: dict[str, Any], key: str = "profile_latency") -> RunMode:
        """The mode from a block holding `dtype`, `channels_last` and `compile`.

        Raises:
            ConfigError: A key missing or invalid (named `<key>.<name>`).
        """
        for name in KEYS:
            if name not in block:
                raise ConfigError(f"{key}.{name}: missing (every key must be set)")
        mode = cls(block["dtype"], block["channels_last"], block["compile"])
        mode.validate(key)
        return mode

    def validate(self, key: str = "profile_latency") -> None:
        """Raises ConfigError naming `<key>.<name>` when a value is not allowed."""
        if self.dtype not in DTYPES:
            raise ConfigError(f"{key}.dtype: {self.dtype!r} unknown (allowed: {', '.join(DTYPES)})")
        if not isinstance(self.channels_last, bool):
            raise ConfigError(f"{key}.channels_last: {self.channels_last!r} must be true or false")
        if self.compile not in COMPILE_MODES:
            raise ConfigError(
                f"{key}.compile: {self.compile!r} unknown (allowed: {', '.join(COMPILE_MODES)})"
            )

    def check_warmup(self, warmup: int, key: str) -> None:
        """Raises ConfigError when `warmup` untimed runs cannot cover compilation.

        `key` names the warm-up key in the message (e.g. `evaluate.latency.warmup`).
        """
        if self.compile != "none" and warmup < COMPILE_WARMUP:
            raise ConfigError(
                f"{key}: {warmup} untimed runs do not cover compilation: with compile "
                f"{self.compile!r} the first run compiles (and reduce-overhead records CUDA "
                f"graphs on a later one), so set it to at least {COMPILE_WARMUP}"
            )

    def torch_dtype(self) -> torch.dtype:
        """The torch dtype of weights and floating-point inputs."""
        return DTYPES[self.dtype]

    def move(self, obj: Any, device: torch.device | str) -> Any:
        """`obj` (a tensor, or dicts/lists/tuples of them) on `device` in this mode.

        Floating-point tensors take the dtype, 4-D tensors the memory format; other
        values are returned as they are.
        """
        if isinstance(obj, torch.Tensor):
            dtype = self.torch_dtype() if obj.is_floating_point() else obj.dtype
            out = obj.to(device=device, dtype=dtype)
            if self.channels_last and out.dim() == 4:
                out = out.contiguous(memory_format=torch.channels_last)
            return out
        if isinstance(obj, dict):
            return {k: self.move(v, device) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(self.move(v, device) for v in obj)
        return obj

    def prepare(
        self, module: nn.Module, device: torch.device | str, copy_module: bool = True
    ) -> nn.Module:
        """`module` in eval mode on `device`, cast, reordered and compiled as this mode says.

        Args:
            module: The network or piece.
            device: Where it runs.
            copy_module: Work on a deep copy, leaving the caller's module as it was (the
                evaluate stage exports and plots its model after timing it).

        Returns:
            The module, or its `torch.compile` wrapper.
        """
        net = copy.deepcopy(module) if copy_module else module
        net.to(device=device, dtype=self.torch_dtype()).eval()
        if self.channels_last:
            net.to(memory_format=torch.channels_last)
        if self.compile == "none":
            return net
        mode = None if self.compile == "default" else self.compile
        return torch.compile(net, mode=mode, dynamic=False)

    @contextlib.contextmanager
    def compiling(self) -> Iterator[None]:
        """Dynamo's recompile limits raised, and hitting one an error (a no-op when eager).

        With the default limit (8 graphs per code object), the ninth table piece of one op
        type would silently run eager; here each piece gets its own graph, and a limit hit
        fails loudly instead of timing another program.
        """
        if self.compile == "none":
            yield
            return
        import torch._dynamo.config as dynamo_config

        wanted = {
            "recompile_limit": _RECOMPILE_LIMIT,
            "cache_size_limit": _RECOMPILE_LIMIT,
            "accumulated_recompile_limit": _RECOMPILE_LIMIT,
            "accumulated_cache_size_limit": _RECOMPILE_LIMIT,
            "fail_on_recompile_limit_hit": True,
        }
        known = {k: v for k, v in wanted.items() if hasattr(dynamo_config, k)}
        with dynamo_config.patch(known):
            yield

    def to_dict(self) -> dict[str, Any]:
        """The mode as plain data (recorded with tables and metrics)."""
        return asdict(self)
