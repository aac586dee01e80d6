"""`read_ahead`: the validation's CSV batches, produced one ahead on a thread, keep their order,
raise where they would have raised, and stop when the caller stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from containers.engine.csv_source import read_ahead
from containers.engine.input_format import UnreadableFile


def _numbers(produced: list[int], fail_after: int | None = None) -> Iterator[int]:
    for n in range(10):
        if n == fail_after:
            raise UnreadableFile("not_utf8", f"line {n}")
        produced.append(n)
        yield n


def test_items_come_in_order_from_one_other_thread() -> None:
    threads: set[int] = set()

    def numbers() -> Iterator[int]:
        for n in range(50):
            threads.add(threading.get_ident())
            yield n

    assert list(read_ahead(numbers())) == list(range(50))
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_an_error_is_raised_after_the_items_before_it() -> None:
    seen = []
    with pytest.raises(UnreadableFile, match="line 3"):
        for n in read_ahead(_numbers([], fail_after=3)):
            seen.append(n)
    assert seen == [0, 1, 2]


def test_a_caller_that_stops_leaves_at_most_one_item_produced_ahead() -> None:
    produced: list[int] = []
    items = read_ahead(_numbers(produced))
    assert [next(items), next(items)] == [0, 1]
    items.close()  # waits for the item in production, asks for none after it
    assert produced == [0, 1, 2]
