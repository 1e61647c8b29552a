"""hyctas.workers: pools whose workers SIGTERM always stops, closed gracefully."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from hyctas.workers import process_pool


def _dispositions(_: int) -> tuple[bool, bool, bool]:
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    return (
        signal.getsignal(signal.SIGTERM) is signal.SIG_DFL,
        signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
        bool(blocked & {signal.SIGTERM, signal.SIGINT}),
    )


def _square(x: int) -> int:
    return x * x


def _fail(x: int) -> int:
    raise ValueError(f"frame {x}")


def test_workers_take_default_sigterm_and_ignore_sigint_under_a_python_handler() -> None:
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # what a stage installs
    try:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        with process_pool(2) as pool:
            assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask  # the parent's, back
            assert pool.map(_dispositions, range(4)) == [(True, True, False)] * 4
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_results_in_order_and_the_callers_initializer_runs() -> None:
    with process_pool(2, initializer=signal.signal, initargs=(signal.SIGUSR1, signal.SIG_IGN)) as p:
        assert list(p.imap(_square, range(50), chunksize=4)) == [x * x for x in range(50)]
        assert p.apply(signal.getsignal, (signal.SIGUSR1,)) is signal.SIG_IGN


def test_an_error_in_a_task_reaches_the_caller() -> None:
    with pytest.raises(ValueError, match="frame [0-2]"), process_pool(2) as pool:
        pool.map(_fail, range(3))


POOLS_UNDER_A_STAGE = textwrap.dedent(
    """
    import sys
    from hyctas.tracking import _StopSignals
    from hyctas.workers import process_pool

    def same(x):
        return x

    with _StopSignals() as stops:  # the handlers of a stage run, armed
        stops.arm()
        for _ in range(int(sys.argv[1])):
            with process_pool(2) as pool:
                assert list(pool.imap(same, range(200), chunksize=4)) == list(range(200))
    print("done")
    """
)


def test_pools_never_hang_at_shutdown_under_a_stages_signal_handlers() -> None:
    """`with multiprocessing.Pool(2)` in this loop hung within about 12 pools (prepare_data's
    hang): a worker missed terminate()'s SIGTERM while waiting for the queue's lock."""
    proc = subprocess.run(
        [sys.executable, "-c", POOLS_UNDER_A_STAGE, "150"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr[-2000:]


SLOW_POOL_UNDER_A_STAGE = textwrap.dedent(
    """
    import time
    from hyctas.tracking import _StopSignals
    from hyctas.workers import process_pool

    def slow(x):
        time.sleep(0.5)
        return x

    with _StopSignals() as stops:
        stops.arm()
        with process_pool(2) as pool:
            print("working", flush=True)
            list(pool.imap(slow, range(1000)))
    """
)


@pytest.mark.parametrize("to_group", [False, True], ids=["parent", "process-group"])
def test_sigterm_mid_work_stops_the_stage_with_143(to_group: bool) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_POOL_UNDER_A_STAGE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a scheduler's job step
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "working"
    time.sleep(0.3)
    if to_group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        proc.kill()
