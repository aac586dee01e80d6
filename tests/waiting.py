"""Waiting for what a background part (pipes, workflow, stack) is expected to do: polled, under a
bound that only a failing test reaches (a loaded machine is slow; no test asserts a duration)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(read: Callable[[], T], timeout: float = 180.0, interval: float = 0.2) -> T:
    """`read()`'s first truthy value; an AssertionError when none came within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := read()):
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing came within {timeout} s: the last read gave {found!r}")
        time.sleep(interval)
    return found
