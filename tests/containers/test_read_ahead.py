"""read_ahead: the items in order, the next one pulled on another thread, never more than one
ahead, the iterator's errors where they happened, and nothing left reading once the consumer
stops. Waits on events have a generous timeout only so that a bug fails instead of hanging."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from containers.adapters.read_ahead import read_ahead

TIMEOUT = 30.0


class Broken(Exception):
    pass


class Source:
    """An iterator of `size` numbers (the end is pull `size`) that records, per pull, when it
    started and ended, by which thread, and whether two pulls overlapped; pull `fail_at` raises
    instead, and with `blocked` a pull waits until its gate is opened."""

    def __init__(self, size: int, fail_at: int | None = None, blocked: bool = False) -> None:
        self.size, self.fail_at = size, fail_at
        self.started = [threading.Event() for _ in range(size + 1)]
        self.ended = [threading.Event() for _ in range(size + 1)]
        self.gates = [threading.Event() for _ in range(size + 1)]
        for gate in self.gates if not blocked else []:
            gate.set()
        self.threads: set[str] = set()
        self.overlapped = False
        self._lock = threading.Lock()
        self._pulls = 0
        self._active = 0

    @property
    def pulled(self) -> int:
        return sum(event.is_set() for event in self.started)

    @property
    def running(self) -> int:
        return self.pulled - sum(event.is_set() for event in self.ended)

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        with self._lock:
            n, self._pulls = self._pulls, self._pulls + 1
            self._active += 1
            self.overlapped |= self._active > 1
        self.threads.add(threading.current_thread().name)
        self.started[n].set()
        try:
            assert self.gates[n].wait(TIMEOUT)
            if n == self.fail_at:
                raise Broken(n)
            if n == self.size:
                raise StopIteration
            return n
        finally:
            with self._lock:
                self._active -= 1
            self.ended[n].set()


def test_items_come_in_order_pulled_one_at_a_time_off_the_callers_thread() -> None:
    source = Source(50)
    assert list(read_ahead(source)) == list(range(50))
    assert source.pulled == 51  # the 50 items and the end, each once
    assert not source.overlapped
    assert threading.current_thread().name not in source.threads


def test_the_next_item_is_pulled_while_the_consumer_works_on_this_one_and_no_more() -> None:
    source = Source(5)
    for n in read_ahead(source):
        assert source.ended[n + 1].wait(TIMEOUT)  # the next one (or the end) is read without being asked for
        assert source.pulled == n + 2  # and no more than that one
    assert source.pulled == 6


def test_the_iterators_error_is_raised_at_its_item_after_the_items_before_it() -> None:
    source = Source(10, fail_at=2)
    items = read_ahead(source)
    assert next(items) == 0
    assert next(items) == 1
    assert source.ended[2].wait(TIMEOUT)  # the error has happened, ahead of the consumer
    with pytest.raises(Broken) as raised:
        next(items)
    assert raised.value.args == (2,)
    assert source.pulled == 3  # nothing pulled after the error
    assert list(items) == []  # and the items end there


def test_a_consumer_that_stops_early_leaves_no_pull_running() -> None:
    source = Source(10, blocked=True)
    source.gates[0].set()
    got = []
    with pytest.raises(Broken, match="consumer"):
        for n in read_ahead(source):
            got.append(n)
            assert source.started[1].wait(TIMEOUT)  # the pull ahead is running, held at its gate
            source.gates[1].set()
            raise Broken("in the consumer")
    assert got == [0]
    assert (source.pulled, source.running) == (2, 0)  # the pull ahead ended before the loop was left


def test_a_consumer_that_breaks_leaves_no_pull_running() -> None:
    source = Source(10)
    for n in read_ahead(source):
        if n == 3:
            break
    assert (source.pulled, source.running) == (5, 0)


def test_nothing_is_yielded_for_empty_input() -> None:
    source = Source(0)
    assert list(read_ahead(source)) == []
    assert source.pulled == 1
    assert list(read_ahead([])) == []
