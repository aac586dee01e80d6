"""Which processes a local stack started, and whether they ended (Linux's /proc), for the stop tests."""

from __future__ import annotations

import time
from pathlib import Path

PIPES_MODULE = "shoppulse.local.pipe_process"


def _state_and_parent(pid: int) -> tuple[str, int] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, parent = stat.rsplit(")", 1)[1].split()[:2]  # after "pid (comm)"
    return state, int(parent)


def pipes_process_of(parent: int, timeout: float = 60.0) -> int:
    """The pid of `parent`'s pipes process (waiting for it to be started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            found = _state_and_parent(int(entry.name))
            if PIPES_MODULE.encode() in command and found is not None and found[1] == parent:
                return int(entry.name)
        time.sleep(0.2)
    raise AssertionError(f"process {parent} started no pipes process within {timeout} s")


def ended(pid: int, timeout: float = 30.0) -> bool:
    """True once `pid` is gone (or a zombie: it exited and waits for its parent to reap it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _state_and_parent(pid)
        if found is None or found[0] in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False
