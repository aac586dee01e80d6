"""Where a validated file's rows go in the curated store, and what they touch.

Pure functions over DataFrames: the transformation task does the I/O.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from containers.engine.contract import FileKind
from containers.engine.kpis import order_day
from containers.engine.rules import VERSION

ORDER_SHARD_SIZE = 4096     # order ids per shard: a shard is folded whole when one of its days changes
ITEM_SHARD_SIZE = 16384     # item ids per shard of the item-version index


def shard_of(ids: pd.Series, size: int = ORDER_SHARD_SIZE) -> pd.Series:
    return (ids // size).astype("int64")


def by_shard(rows: pd.DataFrame, column: str = "order_id", size: int = ORDER_SHARD_SIZE) -> list[tuple[int, pd.DataFrame]]:
    """Rows split by the shard of `column` (one stable sort, then slices: no per-group copies)."""
    shards = shard_of(rows[column], size).to_numpy()
    order = np.argsort(shards, kind="stable")
    ordered, keys = rows.take(order).reset_index(drop=True), shards[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.array([], dtype=int)
    ends = np.r_[starts[1:], len(keys)]
    return [(int(keys[a]), ordered.iloc[a:b]) for a, b in zip(starts, ends)]


def day_shards(orders: pd.DataFrame) -> pd.DataFrame:
    """(day, shard) pairs: which shards must be read to recompute a day."""
    return pd.DataFrame(
        {"day": order_day(orders["created_at"]), "shard": shard_of(orders["order_id"])}
    ).drop_duplicates()


def item_versions(items: pd.DataFrame) -> list[tuple[int, pd.DataFrame]]:
    """The part of an item that decides, across shards, which version wins; by item shard."""
    return by_shard(items[["id", "order_id", VERSION]], "id", ITEM_SHARD_SIZE)


def product_shards(items: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"product_id": items["product_id"], "shard": shard_of(items["order_id"])}).drop_duplicates()


def days_of_orders(stored_orders: pd.DataFrame | None, order_ids: pd.Series) -> set[int]:
    """Every day any version of these orders falls on: all of them may change."""
    if stored_orders is None or stored_orders.empty:
        return set()
    hit = stored_orders[stored_orders["order_id"].isin(order_ids)]
    return set(order_day(hit["created_at"]).unique().tolist())
