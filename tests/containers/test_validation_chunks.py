"""Reading in chunks and pieces changes nothing: the rows, rejected lines, reasons, raw texts
and line counts of a file are the same whatever the chunk and piece sizes, wherever a stray
quote or a multi-line value falls."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from containers.engine import csv_source
from containers.engine.csv_source import open_source
from containers.engine.rules import Origin, validate
from containers.validation import task as validation_task
from shoppulse.embedded import embedded_aws
from shoppulse.replay import InProcessWorkflow

NOW = datetime(2025, 3, 10, tzinfo=UTC)
ORDERS = "order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item"
PRODUCTS = "id,sku,cost,category,name,brand,retail_price,department"
LINES = st.sampled_from(
    [
        "{i},S{i},1.5,Jeans,Name {i},Brand,3.0,Men",
        '{i},S{i},1.5,Jeans,"Slim\nFit {i}",Brand,3.0,Men',  # a value over two lines
        '{i},S{i},1.5,Jeans,"Name, {i}",Brand,3.0,Men',
        '{i},"S{i},1.5,Jeans,Name {i},Brand,3.0,Men',  # a stray quote
        "{i},S{i},1.5,Jeans,Name {i}",  # too few fields
        "",
        "{i},S{i},-1,,Name {i},Brand,3.0,Men",  # invalid values
    ]
)


def read_all(data: bytes, stream: BinaryIO | None = None) -> tuple[list[Any], list[Any], Any]:
    """What a file gives: its valid rows, rejected lines and line counts (read from `stream` if given)."""
    source = open_source(io.BytesIO(data) if stream is None else stream)
    valid, rejected = [], []
    for batch in source.batches():
        checked = validate(batch.text, source.schema, Origin("k", NOW), NOW)
        valid += checked.valid.drop_columns(["_version_ts", "_source"]).to_pandas().astype(str).values.tolist()
        raw = batch.raw_text(checked.rejected["line"].tolist())
        rejected += list(zip(checked.rejected["line"], checked.rejected["reason"], raw, strict=True))
        rejected += [(m.line, m.reason, m.text) for m in batch.malformed]
    return valid, sorted(rejected), source.counts


@settings(max_examples=25, deadline=None)
@given(lines=st.lists(LINES, min_size=1, max_size=60), chunk=st.integers(40, 400), piece=st.integers(1, 300))
def test_chunk_and_piece_sizes_change_no_outcome(lines: list[str], chunk: int, piece: int) -> None:
    data = "\n".join([PRODUCTS, *(line.format(i=i) for i, line in enumerate(lines, start=1))]).encode()
    expected = read_all(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csv_source, "CHUNK_BYTES", chunk)
        patch.setattr(csv_source, "PIECE_BYTES", piece)
        assert read_all(data) == expected
    valid, rejected, counts = expected
    assert counts.lines == counts.header + len(valid) + len(rejected) + counts.blank + counts.continuation


def test_a_large_file_with_problems_near_piece_ends_loses_no_line() -> None:
    rows = [f"{i},S{i},1.5,Jeans,Name {i},Brand,3.0,Men" for i in range(1, 30_001)]
    for n in (5_000, 12_000, 25_000):  # stray quotes in three different pieces
        rows[n] = f'{n + 1},"S,1.5,Jeans,N,B,3.0,Men'
    rows[18_000] = f'{18_001},S,1.5,Jeans,"Two\nlines",B,3.0,Men'
    valid, rejected, counts = read_all("\n".join([PRODUCTS, *rows]).encode())
    assert [(line, reason) for line, reason, _ in rejected] == [
        (5_002, "malformed_row:unclosed_quote"),
        (12_002, "malformed_row:unclosed_quote"),
        (25_003, "malformed_row:unclosed_quote"),  # one line further: the two-line value before it
    ]
    assert (len(valid), counts.lines, counts.continuation) == (29_997, 30_002, 1)


class _Trickle(io.RawIOBase):
    """A body that answers every read with at most `most` bytes, as a network stream may."""

    def __init__(self, data: bytes, most: int) -> None:
        self._data, self._most = data, most

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._most if size < 0 else min(size, self._most)
        out, self._data = self._data[:n], self._data[n:]
        return out


@pytest.mark.parametrize("compress", [False, True])
def test_short_reads_of_the_body_change_no_outcome(compress: bool) -> None:
    rows = [f'{i},S{i},1.5,Jeans,"Name, {i}",Brand,3.0,Men' for i in range(1, 2_001)]
    rows[700] = '701,"S,1.5,Jeans,N,B,3.0,Men'
    data = "\n".join([PRODUCTS, *rows]).encode()
    body = gzip.compress(data) if compress else data
    expected = read_all(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csv_source, "CHUNK_BYTES", 10_000)
        assert read_all(data, cast("BinaryIO", _Trickle(body, 333))) == expected


@pytest.mark.parametrize("unreadable", [False, True], ids=["valid", "not utf-8 in a later chunk"])
def test_reading_the_next_batch_ahead_changes_no_outcome(tmp_path: Path, unreadable: bool) -> None:
    """The validation task with and without read_ahead: same outcome, same KPIs. The first
    batch is the header's read (1 MiB), then 20 kB chunks; rejected rows fall in several."""
    rows = [f"{i},7,pending,2025-03-01 10:00:00,,,,1" for i in range(1, 40_001)]
    for n in (10, 30_000, 39_000):
        rows[n - 1] = f"x{n},7,pending,2025-03-01 10:00:00,,,,1"
    if unreadable:
        rows[35_000 - 1] = "35000,7,p\xe9nding,2025-03-01 10:00:00,,,,1"
    path = tmp_path / "orders.csv"
    path.write_bytes("\n".join([ORDERS, *rows, ""]).encode("latin-1"))
    seen = []
    for ahead in (True, False):
        with pytest.MonkeyPatch.context() as patch, embedded_aws() as clients:
            patch.setattr(csv_source, "CHUNK_BYTES", 20_000)
            if not ahead:
                patch.setattr(validation_task, "read_ahead", iter)
            flow = InProcessWorkflow(clients)
            seen.append((flow.ingest(path), flow.kpis()))
    assert seen[0] == seen[1]
    outcome, _ = seen[0]
    expected = ("REJECTED", 2, "not_utf8") if unreadable else ("SUCCEEDED", 3, None)
    assert (outcome["status"], outcome["rejected_rows"], outcome.get("reason")) == expected
