"""hyctas.workers: pools whose workers SIGTERM always stops, closed gracefully."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from hyctas.workers import _exit_on_signal, process_pool


def _dispositions(_: int) -> tuple[bool, bool, bool]:
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    return (
        signal.getsignal(signal.SIGTERM) is _exit_on_signal,
        signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
        bool(blocked & {signal.SIGTERM, signal.SIGINT}),
    )


def _square(x: int) -> int:
    return x * x


def _slow_square(x: int) -> int:
    time.sleep(0.5)
    return x * x


def _fail(x: int) -> int:
    raise ValueError(f"frame {x}")


def test_workers_exit_on_sigterm_and_ignore_sigint_under_a_python_handler() -> None:
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


def test_a_block_that_ends_normally_waits_for_the_tasks_submitted() -> None:
    with process_pool(2) as pool:
        pending = pool.apply_async(_slow_square, (3,))
    assert pending.ready() and pending.get() == 9  # closed and joined, not terminated
    assert not multiprocessing.active_children()


def test_an_error_in_a_task_reaches_the_caller_and_the_workers_are_gone() -> None:
    with pytest.raises(ValueError, match="frame [0-2]"), process_pool(2) as pool:
        pool.map(_fail, range(3))
    assert not multiprocessing.active_children()


def _run(script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`script` in a fresh interpreter and process group; killed whole if it hangs."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"hung for {timeout} s; stderr: {err[-2000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


SIGTERM_WHILE_FORKING = textwrap.dedent(
    """
    import os, time
    from hyctas.tracking import _StopSignals
    from hyctas.workers import process_pool

    os.register_at_fork(after_in_child=lambda: time.sleep(0.5))  # a slow fork, every time
    with _StopSignals() as stops:  # the handlers of a stage run, armed
        stops.arm()
        with process_pool(2):
            raise ValueError("the stage failed at once")  # terminate(): SIGTERM mid-fork
    """
)


def test_a_sigterm_that_reaches_workers_while_they_fork_still_stops_them() -> None:
    """With `multiprocessing.Pool` this hung every time: the after-fork hook ran the stage's
    handler and dropped its exception, and the worker waited for the queue's lock forever."""
    proc = _run(SIGTERM_WHILE_FORKING, timeout=30)
    assert proc.returncode == 1 and "ValueError: the stage failed at once" in proc.stderr
    assert "Exception ignored" not in proc.stderr, proc.stderr[-2000:]


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
    """The shape of prepare_data's hang: with `multiprocessing.Pool` this loop hung after 11
    to 73 pools in most runs."""
    proc = _run(POOLS_UNDER_A_STAGE, "150", timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr[-2000:]


POOL_UNDER_A_STAGE_SIGNALLED = textwrap.dedent(
    """
    import sys, time
    from hyctas.tracking import _StopSignals
    from hyctas.workers import process_pool

    def slow(x):
        time.sleep(0.5)
        return x

    tasks = int(sys.argv[1])  # 1: one worker busy, one idle in the queue's read with its lock
    with _StopSignals() as stops:
        stops.arm()
        with process_pool(2) as pool:
            results = [pool.apply_async(slow, (i,)) for i in range(tasks)]
            time.sleep(0.3)
            print("working", flush=True)
            time.sleep(60)
    """
)


@pytest.mark.parametrize(
    ("to_group", "tasks"),
    [(False, 1000), (True, 1000), (True, 1)],
    ids=["parent", "process-group-busy", "process-group-one-idle"],
)
def test_sigterm_mid_work_stops_the_stage_with_143(to_group: bool, tasks: int) -> None:
    """A scheduler signals the whole group: a worker killed by the kernel's default action
    while idle in the queue's read kept its lock, and the parent's terminate() hung on it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", POOL_UNDER_A_STAGE_SIGNALLED, str(tasks)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a scheduler's job step
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "working"
        (os.killpg if to_group else os.kill)(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
