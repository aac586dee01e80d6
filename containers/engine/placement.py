"""Where a validated file's rows go in the curated store: pure functions over DataFrames
(the transformation task does the I/O)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from containers.engine.kpis import order_day
from containers.engine.rules import VERSION

ORDER_SHARD_SIZE = 4096  # order ids per shard of the order-days index and of pending items
ITEM_SHARD_SIZE = 16384  # item ids per shard of the item-version index
MARKER_COLUMNS = ["id", "order_id", VERSION]


def shard_of(ids: pd.Series, size: int = ORDER_SHARD_SIZE) -> pd.Series:
    return (ids // size).astype("int64")


def split_by(rows: pd.DataFrame, keys: pd.Series) -> list[tuple[int, pd.DataFrame]]:
    """Rows split by an integer key (one stable sort, then slices: no per-group copies)."""
    values = keys.to_numpy(dtype="int64")
    order = np.argsort(values, kind="stable")
    ordered, sorted_keys = rows.take(order).reset_index(drop=True), values[order]
    if not len(sorted_keys):
        return []
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(sorted_keys)]
    return [(int(sorted_keys[a]), ordered.iloc[a:b]) for a, b in zip(starts, ends, strict=False)]


def by_shard(
    rows: pd.DataFrame, column: str = "order_id", size: int = ORDER_SHARD_SIZE
) -> list[tuple[int, pd.DataFrame]]:
    return split_by(rows, shard_of(rows[column], size))


def order_days(orders: pd.DataFrame) -> pd.DataFrame:
    """(order_id, day) of order versions: the day partitions an order is in."""
    return pd.DataFrame(
        {"order_id": orders["order_id"].astype("int64"), "day": order_day(orders["created_at"])}
    ).drop_duplicates(ignore_index=True)


def into_days(rows: pd.DataFrame, days: pd.DataFrame, on: str) -> list[tuple[int, pd.DataFrame]]:
    """Each row once in every day its `on` value has in `days` ((on, day) pairs)."""
    placed = rows.merge(days[[on, "day"]].drop_duplicates(), on=on, how="inner")
    return [(day, part.drop(columns="day")) for day, part in split_by(placed, placed["day"])]


def item_versions(items: pd.DataFrame) -> list[tuple[int, pd.DataFrame]]:
    """The part of an item that decides which version wins; by item shard."""
    return by_shard(items[MARKER_COLUMNS], "id", ITEM_SHARD_SIZE)


def moving_items(versions: pd.DataFrame) -> pd.DataFrame:
    """The versions of items whose versions name different orders."""
    return versions[versions.groupby("id")["order_id"].transform("nunique") > 1]
