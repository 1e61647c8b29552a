"""Timing protocol and the settings block."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from hyctas.errors import ConfigError
from hyctas.latency.enumerate import enumerate_keys
from hyctas.latency.settings import ProfileSettings
from hyctas.latency.timing import (
    Timing,
    interleaved_samples,
    profiling,
    round_members,
    time_interleaved,
    time_table_and_networks,
)

from .conftest import CLASSES, SIZE, arch, profile_block, settings, space


def test_timing_summary_matches_numpy() -> None:
    samples = [5.0, 1.0, 3.0, 2.0, 4.0, 10.0]
    t = Timing.from_samples(samples)
    assert t.median_ms == pytest.approx(np.median(samples))
    assert t.p10_ms == pytest.approx(np.percentile(samples, 10))
    assert t.p90_ms == pytest.approx(np.percentile(samples, 90))
    assert (t.min_ms, t.runs) == (1.0, 6)
    assert t.value("min") == 1.0 and t.value("median") == t.median_ms


def test_interleaved_rounds_call_each_runner_and_shuffle() -> None:
    calls: list[str] = []
    runners = [lambda n=n: calls.append(n) for n in "abcd"]
    timings = time_interleaved(runners, warmup=2, repeats=5, sync=lambda: None, seed=0)
    assert [t.runs for t in timings] == [5, 5, 5, 5]
    assert calls[:8] == list("aabbccdd")  # warm-up, then rounds
    rounds = [calls[8 + 4 * r : 12 + 4 * r] for r in range(5)]
    assert all(sorted(r) == list("abcd") for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1  # the order changes between rounds


def test_round_members_spread_fewer_repeats_evenly() -> None:
    rounds = round_members([4, 2, 1, 0])
    assert rounds == [[0], [0, 1], [0], [0, 1, 2]]
    assert round_members([]) == []


def test_interleaved_samples_per_runner_warmup_and_repeats() -> None:
    calls: list[str] = []
    runners = [lambda n=n: calls.append(n) for n in "ab"]
    samples = interleaved_samples(runners, [0, 2], [3, 6], lambda: None, seed=0)
    assert [len(s) for s in samples] == [3, 6]
    assert calls[:2] == ["b", "b"] and calls.count("a") == 3 and calls.count("b") == 8


def test_pause_after_each_round_spreads_the_runs(monkeypatch) -> None:
    import hyctas.latency.timing as timing

    slept: list[float] = []
    monkeypatch.setattr(timing.time, "sleep", slept.append)
    (t,) = time_interleaved([lambda: None], 0, 4, lambda: None, 0, pause_s=0.25)
    assert t.runs == 4 and slept == [0.25] * 4


def test_table_and_networks_share_rounds_across_memory_groups() -> None:
    cfg = space(max_depth=2)
    keys = enumerate_keys(cfg, CLASSES, SIZE)
    archs = [arch("conv1|skip1"), arch("sa1|conv1", "conv1/2")]
    # A 1 MB budget splits the pieces into several groups; each network still gets exactly
    # network_repeats runs, spread over the groups.
    s = settings(max_memory_mb=1, repeats=2, network_repeats=5, warmup=0)
    with profiling(s):
        table, nets = time_table_and_networks(keys, archs, cfg, CLASSES, s, seed=0)
    assert sorted(table) == sorted(keys) and all(t.runs == 2 for t in table.values())
    assert [t.runs for t in nets] == [5, 5]
    assert nets[1].min_ms > 0


def test_cpu_clock_leaves_out_sleeping() -> None:
    import time

    (wall,) = time_interleaved([lambda: time.sleep(0.02)], 0, 2, lambda: None, 0)
    (cpu,) = time_interleaved([lambda: time.sleep(0.02)], 0, 2, lambda: None, 0, None,
                              time.thread_time)  # fmt: skip
    assert wall.min_ms >= 19.0 and cpu.p90_ms < 5.0


def test_profiling_fixes_and_restores_threads() -> None:
    before = torch.get_num_threads()
    with profiling(settings(threads=1)):
        assert torch.get_num_threads() == 1 and torch.is_inference_mode_enabled()
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"height": 100}, "profile_latency.height"),
        ({"repeats": 0}, "profile_latency.repeats"),
        ({"dtype": "int8"}, "profile_latency.dtype"),
        ({"statistic": "mean"}, "profile_latency.statistic"),
        ({"device": "tpu"}, "profile_latency.device"),
        ({"colour": 1}, "profile_latency.colour: unknown key"),
        ({"clock": "tsc"}, "profile_latency.clock"),
        ({"clock": "cpu", "threads": 2}, "needs device cpu and threads 1"),
    ],
)
def test_bad_settings_are_named(override: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(**override)


def test_missing_setting_is_named() -> None:
    block = profile_block()
    del block["threads"]
    with pytest.raises(ConfigError, match="profile_latency.threads: missing"):
        ProfileSettings.from_params(block)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no CUDA device"):
        settings(device="cuda", clock="wall")
    assert settings(device="auto").torch_device().type == "cpu"


def test_groups_respect_the_memory_budget() -> None:
    from hyctas.latency.keys import OpKey
    from hyctas.latency.pieces import build_piece
    from hyctas.latency.timing import _grouped, _piece_bytes

    from .conftest import CLASSES, space

    cfg = space()
    pieces = [build_piece(OpKey("conv", 8, 8, 8, 16, 1), cfg, CLASSES, 1) for _ in range(5)]
    size = _piece_bytes(pieces[0])
    # conv weight and 4 BN vectors in float32, the int64 batch counter, the input.
    assert size == (8 * 8 * 9 + 4 * 8) * 4 + 8 + 8 * 16 * 8 * 4
    groups = list(_grouped(iter(pieces), budget_bytes=2 * size))
    assert [len(g) for g in groups] == [2, 2, 1]
    assert [len(g) for g in _grouped(iter(pieces), budget_bytes=1)] == [1] * 5


def test_cuda_stopwatch_syncs_then_times_with_events_on_the_stream(monkeypatch) -> None:
    """No GPU here: fake torch.cuda records the calls, which must come in this order."""
    import hyctas.latency.timing as timing

    calls: list[str] = []

    class FakeEvent:
        def __init__(self, enable_timing: bool) -> None:
            assert enable_timing
            self.name = "start" if not any(c.startswith("new") for c in calls) else "end"
            calls.append(f"new {self.name}")

        def record(self, stream: str) -> None:
            calls.append(f"record {self.name} on {stream}")

        def synchronize(self) -> None:
            calls.append(f"wait {self.name}")

        def elapsed_time(self, other: FakeEvent) -> float:
            calls.append(f"elapsed {self.name}->{other.name}")
            return 1.5

    device = torch.device("cuda:1")
    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d: calls.append(f"sync {d}"))
    monkeypatch.setattr(torch.cuda, "current_stream", lambda d: f"stream({d})")
    watch = timing.stopwatch_for(device, time.perf_counter)
    calls.clear()
    (samples,) = interleaved_samples([lambda: calls.append("run")], [0], [1], lambda: None, 0,
                                     stopwatch=watch)  # fmt: skip
    assert samples == [1.5]
    assert calls == [
        "sync cuda:1",  # earlier queued work is not counted
        "record start on stream(cuda:1)",
        "run",
        "record end on stream(cuda:1)",
        "wait end",  # the host waits for the region's end before reading the time
        "elapsed start->end",
    ]


def test_host_stopwatch_waits_for_the_device_around_the_call() -> None:
    from hyctas.latency.timing import host_stopwatch

    calls: list[str] = []
    ticks = iter([1.0, 1.25])
    watch = host_stopwatch(lambda: calls.append("sync"), lambda: next(ticks))
    assert watch(lambda: calls.append("run")) == pytest.approx(250.0)
    assert calls == ["sync", "run", "sync"]


def test_cpu_clock_on_a_gpu_is_refused_with_the_reason() -> None:
    from hyctas.latency.settings import checked_clock

    with pytest.raises(ConfigError, match="k.clock: 'cpu' on cuda: GPU runs are timed with CUDA"):
        checked_clock("cpu", torch.device("cuda"), 1, "k.clock")
    assert checked_clock("wall", torch.device("cuda"), 1, "k.clock") is time.perf_counter


def test_compiled_profile_needs_a_warmup_covering_compilation() -> None:
    with pytest.raises(ConfigError, match="profile_latency.warmup: 1 untimed runs do not cover"):
        settings(compile="default", warmup=1)
    assert settings(compile="reduce-overhead", warmup=3).run_mode().compile == "reduce-overhead"


def test_table_and_networks_run_in_bf16_channels_last(monkeypatch) -> None:
    """Every piece and network is prepared in the settings' RunMode before it is timed."""
    from hyctas.latency.pieces import Piece

    cfg = space(max_depth=2)
    keys = enumerate_keys(cfg, CLASSES, SIZE)[:6]
    prepared: list[tuple] = []
    original = Piece.prepare

    def spy(piece, device, mode):
        prepared.append((mode.dtype, mode.channels_last))
        out = original(piece, device, mode)
        assert all(p.dtype == torch.bfloat16 for p in out.module.parameters())
        return out

    monkeypatch.setattr(Piece, "prepare", spy)
    s = settings(dtype="bfloat16", channels_last=True, repeats=1, network_repeats=2, warmup=0)
    with profiling(s):
        table, nets = time_table_and_networks(keys, [arch("conv1|sa1")], cfg, CLASSES, s)
    assert len(table) == 6 and nets[0].runs == 2
    assert prepared == [("bfloat16", True)] * 7  # 1 network + 6 pieces
