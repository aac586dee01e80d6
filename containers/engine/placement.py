"""Where rows live in the curated layout: pure functions over DataFrames (the transformation
does the I/O).

Each partition holds current state only: the winning version of each key, once. Orders sit
in the day of their `created_at`; items in the day of their order (or with the held items
while their order is unknown); products in one catalogue.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from containers.engine.contract import ORDER_ITEMS, ORDERS, PRODUCTS, FileKind, Role, Schema
from containers.engine.kpis import day_label
from containers.engine.rules import ROW, SOURCE, VERSION

HELD = -1  # the "day" of items whose order is unknown
HELD_ITEMS = "curated/held_items/"
PRODUCTS_PART = "curated/products/"
ORDER_INDEX = "index/orders/"  # (order_id, day) of every order
ITEM_INDEX = "index/order_items/"  # (id, day, product_id) of every item; day HELD while held
RUN_INDEX = "index/runs/"  # (run_id, content, summary) of every loaded file

STORED_COLUMNS: dict[FileKind, list[str]] = {
    FileKind.ORDERS: [*ORDERS.names, VERSION],
    FileKind.ORDER_ITEMS: [*ORDER_ITEMS.names, VERSION],
    FileKind.PRODUCTS: [*PRODUCTS.names, VERSION, SOURCE, ROW],
}


def day_partition(kind: FileKind, day: int) -> str:
    """A day's partition of orders or items (`HELD`: the held items)."""
    if day == HELD:
        return HELD_ITEMS
    return f"curated/{kind.value}/order_date={day_label(day)}/"


@cache
def empty(kind: FileKind) -> pd.DataFrame:
    """An empty partition of `kind` (shared: callers never modify frames in place)."""
    schema: Schema = {FileKind.ORDERS: ORDERS, FileKind.ORDER_ITEMS: ORDER_ITEMS, FileKind.PRODUCTS: PRODUCTS}[kind]
    text = {c.name for c in schema.columns if c.role in (Role.STATUS, Role.TEXT)}
    columns = {n: pd.Series(dtype="object" if n in text or n == SOURCE else "Int64") for n in STORED_COLUMNS[kind]}
    if ROW in columns:
        columns[ROW] = pd.Series(dtype="int64")
    return pd.DataFrame(columns)


def empty_index(*columns: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64") for c in columns})


def concat(frames: list[pd.DataFrame], like: pd.DataFrame) -> pd.DataFrame:
    """Frames stacked; `like` (an empty frame of the right columns) when there are none."""
    kept = [f for f in frames if not f.empty]
    if not kept:
        return like.iloc[:0]
    return pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0].reset_index(drop=True)


def replaced(part: pd.DataFrame, key: str, keys: pd.Series, rows: pd.DataFrame) -> pd.DataFrame:
    """The partition without any of `keys`, plus `rows`."""
    if part.empty:  # a new partition (the bulk case): nothing to look up
        return concat([rows], part)
    return concat([part[~part[key].isin(keys)], rows], part)


def split_by(rows: pd.DataFrame, keys: pd.Series) -> list[tuple[int, pd.DataFrame]]:
    """Rows split by an integer key (one stable sort, then slices: no per-group copies)."""
    values = keys.to_numpy(dtype="int64")
    order = np.argsort(values, kind="stable")
    ordered, sorted_keys = rows.take(order).reset_index(drop=True), values[order]
    if not len(sorted_keys):
        return []
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(sorted_keys)]
    return [(int(sorted_keys[a]), ordered.iloc[a:b]) for a, b in zip(starts, ends, strict=True)]


def days_of(order_ids: pd.Series, order_index: pd.DataFrame) -> pd.Series:
    """The day of each order (`HELD` for an unknown one)."""
    # One hash lookup (the index holds each order once); `Series.map` is several times slower.
    found = pd.Index(order_index["order_id"].to_numpy(dtype="int64")).get_indexer(order_ids.to_numpy(dtype="int64"))
    known = np.append(order_index["day"].to_numpy(dtype="int64"), HELD)  # position -1: not found
    days = known[found]
    return pd.Series(days, index=order_ids.index, dtype="int64")


def empty_runs() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in ("run_id", "content", "summary")})
