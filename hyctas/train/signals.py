"""SIGTERM/SIGINT (what SLURM sends before preemption) -> save progress, then exit with 143.

Shared by the training loop (checkpoint at the next step) and the search (save the archive and
the searchers' state, see `hyctas.search.result.SearchCheckpoint`); both raise `Preempted`,
which `hyctas.stage.run_stage` turns into exit status 143.
"""

from __future__ import annotations

import signal
from types import FrameType

from hyctas.errors import HyctasError

EXIT_PREEMPTED = 143  # 128 + SIGTERM: schedulers read it as "terminated", so the job is retried


class Preempted(HyctasError):
    """A stop signal arrived; progress is saved and a re-run resumes."""


class StopRequest:
    """Installs handlers that only set a flag; the training loop (after each step) and the
    search (before each evaluation) check it."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name

    @property
    def requested(self) -> bool:
        """Whether a stop signal arrived."""
        return self.signal_name is not None


def ignore_stop_signals(worker_id: int = 0) -> None:
    """DataLoader `worker_init_fn`: workers ignore SIGTERM/SIGINT.

    A scheduler signals the whole process group; the main process must survive its workers
    long enough to finish the step and checkpoint, and then shuts them down itself.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
