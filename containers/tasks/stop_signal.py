"""A stop (ECS StopTask sends SIGTERM, then SIGKILL after the container's stopTimeout, 30 s:
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopTask.html) ends a task like
any transient failure: its summary recorded, exit 75, a validation's staged parts deleted, and
a transformation's writer lease released at once (otherwise the next run waits until the lease
expires, `writer_lease.LEASE_SECONDS`).

The signal only notes the stop; the task raises `TaskStopped` at its next checkpoint (each
batch or chunk, each wait for the lease, before a commit). Raised from the signal handler, it
could land anywhere: inside a DynamoDB call that took the lease (which is then held and never
released), or inside code that swallows it (logging's emit). A task past its last checkpoint
finishes its file (exit 0). A second SIGTERM kills the process, which the lease and the commit
protocol treat like SIGKILL (the lease expires, the next holder cleans up).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_STOPPED = threading.Event()


class TaskStopped(Exception):
    """The task was told to stop (SIGTERM): nothing it had not committed is kept."""


def _note(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _STOPPED.set()


def stop_on_sigterm() -> None:
    """From the process's main thread (where Python runs signal handlers); in-process runs
    (`shoppulse replay`) never install it, and their checkpoints never raise."""
    signal.signal(signal.SIGTERM, _note)


def checkpoint() -> None:
    """Raise `TaskStopped` if the task was told to stop; a place where the task may end."""
    if _STOPPED.is_set():
        raise TaskStopped("the task was stopped (SIGTERM, ECS StopTask)")
