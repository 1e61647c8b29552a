"""Process pools for the stages' CPU-parallel work (frame conversion, synthetic frames).

`multiprocessing.Pool`'s workers are forked from a stage process whose SIGTERM/SIGINT
handlers are Python's (`hyctas.tracking`, `hyctas.train.signals`), and inherit them.
`Pool.terminate()` (what `with Pool(...)` does on exit) stops the workers with SIGTERM while
it holds the task queue's lock. A SIGTERM that reaches a worker still being forked is handled
inside CPython's after-fork hook, which drops the handler's exception (stderr: `Exception
ignored in: <function _after_fork ...> ... StopSignal: SIGTERM received`); the handler has
disarmed itself, so that worker never stops, waits for the lock forever, and the stage
hangs. Seen here: the search-quality scenario's `prepare_data` hung after its 200 frames.

`process_pool` forks its workers with SIGTERM/SIGINT blocked; each lets them in only once its
own handlers are set: SIGINT ignored (Ctrl-C reaches the whole process group; the parent
handles it) and SIGTERM ending the worker with `SystemExit(143)`. Raised in Python code, that
unwinds the worker's `with lock:` blocks, where the kernel's default action would kill a
worker idle in the queue's read with the lock held and hang the parent's `terminate()` on it.
A pool whose block ends normally is closed and joined (the workers exit on the queue's
sentinels, after every task already submitted); one that raises is terminated.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.pool import Pool
from types import FrameType
from typing import Any

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _start_worker(initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    """Worker start: SIGTERM exits, SIGINT is ignored, then the caller's initializer; the
    signals blocked since the fork are let in last (a pending SIGTERM ends the worker here)."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextmanager
def process_pool(
    workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple = ()
) -> Iterator[Pool]:
    """A fork `Pool` of `workers` processes that SIGTERM always stops (see the module).

    Closed and joined when the block ends normally (waiting for every task submitted);
    terminated and joined when it raises.
    """
    # The pool's threads (which fork replacement workers) and its first workers inherit the
    # mask of the thread that creates them; this thread gets its own back at once, inside
    # the `try`, so that a signal pending meanwhile terminates the pool.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        pool = multiprocessing.get_context("fork").Pool(
            workers, _start_worker, (initializer, initargs)
        )
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        raise
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        yield pool
        pool.close()
        pool.join()
    except BaseException:
        pool.terminate()
        pool.join()
        raise
