"""The `profile_latency` block of params.yaml: how latency is measured.

Example:
    >>> settings = ProfileSettings.from_params(params["profile_latency"])
    >>> device, mode = settings.torch_device(), settings.run_mode()
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from hyctas.errors import ConfigError
from hyctas.latency.runmode import DTYPES, RunMode

STATISTICS = ("median", "p10", "min")
# wall: elapsed time, what a user waits; cpu: CPU time of the calling thread, which leaves
# out the time the OS gave the core to other programs (equal to wall on an idle core).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}
_INPUT_MULTIPLE = 64  # the network's input sides (see hyctas.models.network)


def checked_clock(clock: str, device: torch.device, threads: int, key: str) -> Callable[[], float]:
    """The clock function named `clock`, checked against where and how it will time.

    Raises:
        ConfigError: Unknown clock, or the cpu clock (the calling thread's CPU time) asked
            for on a GPU or with more than one thread, where it would miss work; `key` names
            the params key in the message.
    """
    if clock not in CLOCKS:
        raise ConfigError(f"{key}: {clock!r} unknown (allowed: {', '.join(CLOCKS)})")
    if clock != "wall" and device.type == "cuda":
        raise ConfigError(
            f"{key}: {clock!r} on {device}: GPU runs are timed with CUDA events, the elapsed "
            "time on the device, which only the wall clock matches; set it to wall"
        )
    if clock == "cpu" and (device.type != "cpu" or threads != 1):
        raise ConfigError(
            f"{key}: cpu times the calling thread only, so it needs device cpu and threads 1 "
            f"(got {device}, {threads}); use wall"
        )
    return CLOCKS[clock]


@dataclass(frozen=True)
class ProfileSettings:
    """Measurement protocol; every field comes from params.yaml (no defaults).

    Attributes:
        device: "cpu", "cuda", "cuda:N" or "auto" (cuda when present).
        height: Input image height (multiple of 64).
        width: Input image width (multiple of 64).
        batch_size: Images per forward pass.
        dtype: "float32", "float16" or "bfloat16" (see `RunMode`).
        channels_last: Weights and 4-D inputs in channels_last memory order.
        compile: "none" (eager) or a `torch.compile` mode (see `RunMode`); needs warmup >= 3.
        threads: `torch.set_num_threads` value for the whole measurement.
        clock: "wall" (elapsed time; CUDA events on a GPU, where it is required) or "cpu"
            (CPU time of the measuring thread: robust to other programs on a shared machine;
            needs device cpu and threads 1).
        warmup: Untimed runs of each piece or network before timing.
        repeats: Timed runs of each table piece (one per round).
        network_repeats: Timed runs of each whole network (calibration and validation): the
            measured side of the fit and of the validation, so more runs than a piece.
        statistic: Summary of the timed runs used to predict: "median", "p10" or "min".
        max_memory_mb: Rough bound on the pieces (weights + inputs) kept alive at once;
            pieces are timed in interleaved rounds within groups of at most this size.
        calibration_archs: Random architectures that fit the correction model.
        validation_archs: Other random architectures that test the prediction.
    """

    device: str
    height: int
    width: int
    batch_size: int
    dtype: str
    channels_last: bool
    compile: str
    threads: int
    clock: str
    warmup: int
    repeats: int
    network_repeats: int
    statistic: str
    max_memory_mb: int
    calibration_archs: int
    validation_archs: int

    @classmethod
    def from_params(cls, block: dict[str, Any]) -> ProfileSettings:
        """Builds the settings from the `profile_latency` block.

        Raises:
            ConfigError: A key is missing, unknown or invalid (named `profile_latency.<key>`).
        """
        names = [f.name for f in fields(cls)]
        if not isinstance(block, dict):
            raise ConfigError("profile_latency: expected a mapping")
        for key in sorted(set(block) - set(names)):
            raise ConfigError(f"profile_latency.{key}: unknown key (allowed: {', '.join(names)})")
        for key in names:
            if key not in block:
                raise ConfigError(f"profile_latency.{key}: missing (every key must be set)")
        settings = cls(**{n: block[n] for n in names})
        settings._validate()
        return settings

    def _validate(self) -> None:
        for key in ("height", "width"):
            value = getattr(self, key)
            if not isinstance(value, int) or value <= 0 or value % _INPUT_MULTIPLE:
                raise ConfigError(
                    f"profile_latency.{key}: {value!r} must be a positive multiple of "
                    f"{_INPUT_MULTIPLE} (the network halves the 1/32 feature once more)"
                )
        minimum = {"batch_size": 1, "threads": 1, "warmup": 0, "repeats": 1, "network_repeats": 1}
        minimum |= {"max_memory_mb": 1}
        minimum |= {"calibration_archs": 2, "validation_archs": 2}
        for key, low in minimum.items():
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"profile_latency.{key}: {value!r} must be an integer >= {low}")
        self.run_mode().validate("profile_latency")
        self.run_mode().check_warmup(self.warmup, "profile_latency.warmup")
        if self.statistic not in STATISTICS:
            raise ConfigError(
                f"profile_latency.statistic: {self.statistic!r} unknown "
                f"(allowed: {', '.join(STATISTICS)})"
            )
        checked_clock(self.clock, self.torch_device(), self.threads, "profile_latency.clock")

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the profiled images."""
        return self.height, self.width

    def torch_device(self) -> torch.device:
        """The device to measure on.

        Raises:
            ConfigError: CUDA asked for but not available, or a malformed name.
        """
        name = self.device
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        if name != "cpu" and not (name == "cuda" or name.startswith("cuda:")):
            raise ConfigError(
                f"profile_latency.device: {self.device!r} invalid "
                "(allowed: cpu, cuda, cuda:N, auto)"
            )
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"profile_latency.device: {self.device!r} but no CUDA device is visible here; "
                "use cpu (or auto), or run on a machine with a GPU"
            )
        return torch.device(name)

    def clock_fn(self) -> Callable[[], float]:
        """The clock (seconds) that times each run."""
        return CLOCKS[self.clock]

    def torch_dtype(self) -> torch.dtype:
        """The torch dtype of weights and inputs."""
        return DTYPES[self.dtype]

    def run_mode(self) -> RunMode:
        """How every timed piece and network runs: dtype, memory format, compilation."""
        return RunMode(self.dtype, self.channels_last, self.compile)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain data (recorded in the table's metadata)."""
        return asdict(self)
