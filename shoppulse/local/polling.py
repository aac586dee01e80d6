"""A poller's life cycle: one daemon thread running `_run` until `stop()` is asked for."""

from __future__ import annotations

import threading


class BackgroundPoller:
    """Subclasses implement `_run`, looping while `not self._stop.is_set()`."""

    join_timeout_seconds = 10.0

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.invocations = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.join_timeout_seconds)

    def _run(self) -> None:
        raise NotImplementedError
