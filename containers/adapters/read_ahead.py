"""Read the next item of an iterator while the caller works on this one.

The tasks alternate reading (CSV parsing, S3 and Parquet decoding: mostly Arrow, which runs
without the GIL) and working on what was read; pulling the next item on IO_POOL overlaps the
two. At most one item is read ahead, so memory holds one extra item, and one pull is pending
at a time, so the iterator (e.g. a generator, never safe to advance from two threads at once)
is only ever advanced by one thread. The pull takes one of IO_POOL's threads: an iterator
must not itself wait for work it puts on IO_POOL, or nested reads could take every thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import wait
from itertools import islice
from typing import TypeVar

from containers.adapters.curated_store import IO_POOL

T = TypeVar("T")


def read_ahead(items: Iterable[T]) -> Iterator[T]:
    """The items in order, each next one pulled in the background. What the iterator raises
    is raised here, at the item where it happened (after the items before it). A consumer that
    stops early waits for the pending pull: once its loop is left, nothing reads on."""
    iterator = iter(items)
    pending = IO_POOL.submit(_pull, iterator)
    try:
        while pulled := pending.result():
            pending = IO_POOL.submit(_pull, iterator)
            yield pulled[0]
    finally:
        wait((pending,))  # done already unless the consumer stopped early


def _pull(iterator: Iterator[T]) -> tuple[T, ...]:
    """The next item alone, or nothing at the end: a StopIteration must not cross the future
    (inside a generator it becomes a RuntimeError)."""
    return tuple(islice(iterator, 1))
