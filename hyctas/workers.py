"""Process pools for the stages' CPU-parallel work (frame conversion, synthetic frames).

`multiprocessing.Pool`'s workers are forked from a stage process whose SIGTERM/SIGINT
handlers are Python's (`hyctas.tracking`, `hyctas.train.signals`), and inherit them.
`Pool.terminate()` (what `with Pool(...)` does on exit) stops the workers with SIGTERM while
it holds the task queue's lock, and a Python handler can miss a signal: CPython drops one
that lands between a fork and the child's reset of its signal state. A worker that missed it
waits for the lock forever and the stage hangs after its last frame. Seen here: the
search-quality scenario's `prepare_data` hung after its 200 frames with one worker waiting
on the lock that had never run the handler; a loop of such pools under the stage's handlers
hangs within about a dozen pools (`tests/unit/test_workers.py`).

`process_pool` avoids both halves: workers block SIGTERM/SIGINT from the fork until their
initializer has put back SIGTERM's default action (the kernel's, which cannot be missed) and
ignores SIGINT (Ctrl-C reaches the whole process group; the parent handles it), and a pool
whose work finished is closed and joined (the workers exit on the queue's sentinels) rather
than terminated; only an exception terminates it.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.pool import Pool
from typing import Any

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _start_worker(initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    """Worker start: default SIGTERM, ignored SIGINT, then the caller's initializer; the
    signals blocked since the fork are let in last (a pending SIGTERM ends the worker here)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextmanager
def process_pool(
    workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple = ()
) -> Iterator[Pool]:
    """A fork `Pool` of `workers` processes that SIGTERM always stops (see the module).

    Closed and joined when the block ends normally; terminated and joined when it raises.
    """
    # The pool's threads (which fork replacement workers) and its first workers inherit the
    # mask of the thread that creates them; this thread gets its own back at once.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        pool = multiprocessing.Pool(workers, _start_worker, (initializer, initargs))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    try:
        yield pool
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
