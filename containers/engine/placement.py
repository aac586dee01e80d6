"""Where rows live in the curated layout: pure functions over Arrow tables (the transformation
does the I/O).

Each partition holds current state only: the winning version of each key, once. Orders sit
in the day of their `created_at`; items in the day of their order (or with the held items
while their order is unknown); products in one catalogue. Partitions stay Arrow tables from
the Parquet they are read from to the Parquet they are written as: no pandas round trip.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from containers.engine.contract import SCHEMAS, FileKind, Schema
from containers.engine.kpis import day_label, ints, order_days, positions
from containers.engine.rules import ROW, SOURCE, VERSION, holds_text

HELD = -1  # the "day" of items whose order is unknown
HELD_ITEMS = "curated/held_items/"
PRODUCTS_PART = "curated/products/"
ORDER_INDEX = "index/orders/"  # (order_id, day) of every order
ITEM_INDEX = "index/order_items/"  # (id, day, product_id) of every item; day HELD while held
RUN_INDEX = "index/runs/"  # (run_id, content, summary) of every loaded file

TEXT = pa.large_string()  # what the staged and curated Parquet hold for text (pandas' `str` columns)


def _stored(schema: Schema) -> pa.Schema:
    fields = [pa.field(c.name, TEXT if holds_text(c) else pa.int64()) for c in schema.columns]
    fields.append(pa.field(VERSION, pa.int64()))
    if schema.kind is FileKind.PRODUCTS:
        fields += [pa.field(SOURCE, TEXT), pa.field(ROW, pa.int64())]
    return pa.schema(fields)


STORED: dict[FileKind, pa.Schema] = {kind: _stored(schema) for kind, schema in SCHEMAS.items()}
ORDER_INDEX_SCHEMA = pa.schema([("order_id", pa.int64()), ("day", pa.int64())])
ITEM_INDEX_SCHEMA = pa.schema([("id", pa.int64()), ("day", pa.int64()), ("product_id", pa.int64())])
RUNS_SCHEMA = pa.schema([("run_id", TEXT), ("content", TEXT), ("summary", TEXT)])


def day_partition(kind: FileKind, day: int) -> str:
    """A day's partition of orders or items (`HELD`: the held items)."""
    if day == HELD:
        return HELD_ITEMS
    return f"curated/{kind.value}/order_date={day_label(day)}/"


def partition_schema(partition: str) -> pa.Schema:
    """The columns a partition holds, from its prefix."""
    if partition == ORDER_INDEX:
        return ORDER_INDEX_SCHEMA
    if partition == ITEM_INDEX:
        return ITEM_INDEX_SCHEMA
    if partition == RUN_INDEX:
        return RUNS_SCHEMA
    if partition == PRODUCTS_PART:
        return STORED[FileKind.PRODUCTS]
    if partition.startswith(f"curated/{FileKind.ORDERS.value}/"):
        return STORED[FileKind.ORDERS]
    return STORED[FileKind.ORDER_ITEMS]


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A table with exactly these columns and types (objects written by pandas carry its
    metadata, and an empty one null-typed text columns)."""
    return table.select(schema.names).cast(schema).replace_schema_metadata(None)


def concat(tables: list[pa.Table], like: pa.Table) -> pa.Table:
    """Tables stacked (no copy); `like` (an empty table of the right columns) when none has rows."""
    kept = [t for t in tables if t.num_rows]
    if not kept:
        return like.slice(0, 0)
    return pa.concat_tables(kept) if len(kept) > 1 else kept[0]


def replaced(part: pa.Table, key: str, keys: pa.Array | pa.ChunkedArray, rows: pa.Table) -> pa.Table:
    """The partition without any of `keys`, plus `rows`."""
    if not part.num_rows:  # a new partition (the bulk case): nothing to look up
        return concat([rows], part)
    return concat([part.filter(pc.invert(pc.is_in(part[key], value_set=value_set(keys)))), rows], part)


def value_set(keys: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Keys as one array, the value set of a look-up (repeats are allowed there: no hashing)."""
    found: pa.Array = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    return found


def split_by(rows: pa.Table, keys: np.ndarray) -> list[tuple[int, pa.Table]]:
    """Rows split by an integer key (one stable sort and one take, then zero-copy slices)."""
    if not len(keys):
        return []
    low = keys.min()
    # Days span a few thousand values: as 16-bit offsets, numpy's stable sort is a radix sort.
    narrow = (keys - low).astype(np.uint16) if keys.max() - low < 2**16 else keys
    order = np.argsort(narrow, kind="stable")
    ordered, sorted_keys = rows.take(order), keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(sorted_keys)]
    return [(int(sorted_keys[a]), ordered.slice(a, b - a)) for a, b in zip(starts, ends, strict=True)]


def days_of(order_ids: np.ndarray, order_index: pa.Table) -> np.ndarray:
    """The day of each order (`HELD` for an unknown one)."""
    found = positions(ints(order_index, "order_id"), order_ids)
    known = np.append(ints(order_index, "day"), HELD)  # position -1: not found
    days: np.ndarray = known[found]
    return days


def held_days(rows: pa.Table) -> set[int]:
    """Held items are shown on the day of their own `created_at`."""
    return set(order_days(ints(rows, "created_at")).tolist())
