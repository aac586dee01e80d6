"""Transformation: place a validated file's rows in the curated store's day partitions, then
recompute the days it touched, each from its own partition.

A day's partition is enough to recompute it because loads keep three invariants:
1. a partition holding a version of an order holds every version of that order;
2. an item version is in every partition of the order it names (in `pending` while that
   order is unknown);
3. a partition holding an item whose versions name different orders holds markers (id,
   order, version) of all its versions.
Each load writes its rows, then its index entries, and only then reads the others'; so of two
concurrent loads at least one sees the other and completes the invariants for both. A run then
takes a generation for every day it wrote into or found affected, and only after that reads
the data it aggregates: the latest generation of a day saw everything, and wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import cast

import pandas as pd

from containers.adapters.curated_store import MARKERS, CuratedStore
from containers.adapters.kpi_tables import KpiTables
from containers.engine import placement
from containers.engine.contract import ORDER_ITEMS, ORDERS, PRODUCTS, FileKind, Schema
from containers.engine.kpis import DayTotals, components, day_label
from containers.engine.rules import VERSION
from containers.engine.versions import globally_latest, latest

FLUSH_ROWS = 1_000_000  # rows loaded per chunk: bounds memory whatever the file size
DAYS_PER_FOLD = 16  # day partitions folded in one vectorised pass
ORDERS_PART, ITEMS_PART = FileKind.ORDERS.value, FileKind.ORDER_ITEMS.value


@dataclass
class LoadOutcome:
    kind: FileKind
    rows_loaded: int = 0
    held_rows: int = 0
    affected_days: set[int] = field(default_factory=set)


@dataclass
class RecomputeOutcome:
    days_written: list[str] = field(default_factory=list)
    days_superseded: list[str] = field(default_factory=list)
    categories: set[str] = field(default_factory=set)


class _Chunks:
    """Cuts a file's rows into chunks named by the file and their position (a re-run cuts the
    same chunks), and hands each to `stored(name, rows)`."""

    def __init__(self, file_id: str, flush_rows: int, stored: Callable[[str, pd.DataFrame], None]) -> None:
        self._file_id, self._flush_rows, self._stored = file_id, flush_rows, stored
        self._buffer: list[pd.DataFrame] = []
        self._buffered = 0
        self._flushes = 0

    def add(self, rows: pd.DataFrame) -> None:
        start = 0
        while start < len(rows):
            part = rows.iloc[start : start + self._flush_rows - self._buffered]  # never over a chunk
            self._buffer.append(part)
            self._buffered += len(part)
            start += len(part)
            if self._buffered >= self._flush_rows:
                self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        rows = pd.concat(self._buffer, ignore_index=True)
        self._buffer.clear()
        self._stored(f"{self._file_id}-{self._flushes:04d}", rows)
        self._buffered = 0
        self._flushes += 1


class Transformer:
    def __init__(self, store: CuratedStore, tables: KpiTables) -> None:
        self._store = store
        self._tables = tables

    # -- loading -------------------------------------------------------------------------
    def load(self, schema: Schema, file_id: str, chunks: Iterable[pd.DataFrame]) -> LoadOutcome:
        """Store the file a chunk at a time: memory holds one chunk whatever the file's size."""
        outcome = LoadOutcome(schema.kind)
        load_chunk = {
            FileKind.ORDERS: self._load_orders,
            FileKind.ORDER_ITEMS: self._load_items,
            FileKind.PRODUCTS: self._load_products,
        }[schema.kind]

        def stored(name: str, rows: pd.DataFrame) -> None:
            outcome.rows_loaded += len(rows)
            load_chunk(name, rows, outcome)

        cut = _Chunks(file_id, FLUSH_ROWS, stored)
        for chunk in chunks:
            cut.add(chunk)
        cut.flush()
        return outcome

    def _order_days(self, order_ids: pd.Series) -> pd.DataFrame:
        """Every (order_id, day) stored for these orders, by anyone."""
        found = self._store.order_days(placement.shard_of(order_ids).unique().tolist())
        if found is None:
            return pd.DataFrame({"order_id": pd.Series(dtype="int64"), "day": pd.Series(dtype="int64")})
        return found[found["order_id"].isin(order_ids)].drop_duplicates(ignore_index=True)

    def _put_into_days(
        self, key: Callable[[int], str], rows: pd.DataFrame, days: pd.DataFrame, on: str, outcome: LoadOutcome
    ) -> list[tuple[int, pd.DataFrame]]:
        """Each row into every day its `on` value has in `days`; those days are affected."""
        parts = placement.into_days(rows, days, on)
        self._store.put_many((key(day), part) for day, part in parts)
        outcome.affected_days |= {day for day, _ in parts}
        return parts

    def _load_orders(self, name: str, rows: pd.DataFrame, outcome: LoadOutcome) -> None:
        own = placement.order_days(rows)
        self._put_into_days(partial(self._store.rows_key, FileKind.ORDERS, name), rows, own, "order_id", outcome)
        self._store.put_many((self._store.order_days_key(s, name), part) for s, part in placement.by_shard(own))
        known = self._order_days(own["order_id"])
        outcome.affected_days |= set(known["day"].tolist())
        # Invariant 1: an order on several days has all its versions in each of them.
        several = known[known["order_id"].duplicated(keep=False)]
        if not several.empty:
            versions = self._store.rows(FileKind.ORDERS, several["day"].unique().tolist())
            assert versions is not None  # the order-days index names these days: their rows exist
            versions = versions[versions["order_id"].isin(several["order_id"])]
            copies = partial(self._store.rows_key, FileKind.ORDERS, f"{name}-copies")
            self._put_into_days(copies, versions, several, "order_id", outcome)
        # Invariant 2: their items, waiting or on the orders' other days, join every day.
        items = self._items_of(own["order_id"], several)
        if items is not None:
            self._place_items(f"{name}-items", items, known, outcome)
            moving = placement.moving_items(self._item_versions(items["id"]))
            if not moving.empty:
                self._mark(f"{name}-items", moving, self._order_days(moving["order_id"]), outcome)

    def _items_of(self, order_ids: pd.Series, several: pd.DataFrame) -> pd.DataFrame | None:
        frames = [self._store.pending(placement.shard_of(order_ids).unique().tolist())]
        if not several.empty:
            frames.append(self._store.rows(FileKind.ORDER_ITEMS, several["day"].unique().tolist()))
        wanted = order_ids.unique()
        found = [f[f["order_id"].isin(wanted)] for f in frames if f is not None]
        found = [f for f in found if not f.empty]
        return pd.concat(found, ignore_index=True) if found else None

    def _place_items(self, name: str, items: pd.DataFrame, days: pd.DataFrame, outcome: LoadOutcome) -> None:
        key = partial(self._store.rows_key, FileKind.ORDER_ITEMS, name)
        parts = self._put_into_days(key, items, days, "order_id", outcome)
        if parts:
            refs = pd.concat([pd.DataFrame({"product_id": p["product_id"], "day": d}) for d, p in parts])
            self._store.put_many([(self._store.product_days_key(name), refs.drop_duplicates(ignore_index=True))])

    def _item_versions(self, item_ids: pd.Series) -> pd.DataFrame:
        """Every stored version (id, order_id, version) of these items, by anyone."""
        shards = placement.shard_of(item_ids, placement.ITEM_SHARD_SIZE).unique().tolist()
        versions = self._store.item_versions(shards)
        if versions is None:
            return pd.DataFrame({c: pd.Series(dtype="Int64") for c in placement.MARKER_COLUMNS})
        return versions[versions["id"].isin(item_ids)]

    def _mark(self, name: str, moving: pd.DataFrame, days: pd.DataFrame, outcome: LoadOutcome) -> None:
        """Invariant 3: markers of items moving between orders, in every day of those orders
        (`days`: their (order_id, day) pairs)."""
        named = moving[["id", "order_id"]].merge(days, on="order_id")
        key = partial(self._store.markers_key, name=name)
        self._put_into_days(key, moving, named[["id", "day"]], "id", outcome)

    def _load_items(self, name: str, rows: pd.DataFrame, outcome: LoadOutcome) -> None:
        first = self._order_days(rows["order_id"])
        self._place_items(name, rows, first, outcome)
        waiting = rows[~rows["order_id"].isin(first["order_id"])]
        self._store.put_many((self._store.pending_key(s, name), part) for s, part in placement.by_shard(waiting))
        self._store.put_many(
            (self._store.item_versions_key(s, name), part) for s, part in placement.item_versions(rows)
        )
        # One look, after every write, at the days of all orders any version of these items
        # names (these rows' orders among them): they are all affected.
        versions = self._item_versions(rows["id"])
        named = self._order_days(versions["order_id"].dropna().astype("int64"))
        outcome.affected_days |= set(named["day"].tolist())
        # Orders (or days of them) stored since the first look: a concurrent order load may
        # have missed these rows, so they join those days here.
        again = named[named["order_id"].isin(rows["order_id"])]
        late = again.merge(first, how="left", indicator=True)
        late = late.loc[late["_merge"] == "left_only", ["order_id", "day"]]
        if not late.empty:
            self._place_items(f"{name}-late", rows, late, outcome)
        self._mark(name, placement.moving_items(versions), named, outcome)
        products = self._store.rows(FileKind.PRODUCTS)
        known_products = products["id"] if products is not None else pd.Series(dtype="int64")
        held = ~rows["order_id"].isin(again["order_id"]) | ~rows["product_id"].isin(known_products)
        outcome.held_rows += int(held.sum())

    def _load_products(self, name: str, rows: pd.DataFrame, outcome: LoadOutcome) -> None:
        self._store.put_many([(self._store.rows_key(FileKind.PRODUCTS, name, None), rows)])
        refs = self._store.product_days()
        if refs is not None:
            outcome.affected_days |= set(refs.loc[refs["product_id"].isin(rows["id"]), "day"].tolist())

    # -- recomputing ---------------------------------------------------------------------
    def recompute(self, days: set[int]) -> RecomputeOutcome:
        """Fold these days' partitions, a batch of days per vectorised pass, and store the KPIs."""
        outcome = RecomputeOutcome()
        if not days:
            return outcome
        labels = {d: day_label(d) for d in sorted(days)}
        generations = {d: self._tables.take_generation(labels[d]) for d in labels}
        self._store.forget_others()  # what others wrote is read again, after the generations
        categories = self._categories()
        ordered = sorted(days)
        listed = {part: self._store.day_keys(part, ordered) for part in (ORDERS_PART, ITEMS_PART, MARKERS)}
        totals = DayTotals()
        for start in range(0, len(ordered), DAYS_PER_FOLD):
            batch = ordered[start : start + DAYS_PER_FOLD]
            orders, items, markers = (self._store.read([k for d in batch for k in listed[p][d]]) for p in listed)
            if orders is None:
                continue
            items = latest(items, ORDER_ITEMS) if items is not None else _empty(ORDER_ITEMS)
            if markers is not None:
                items = globally_latest(items, markers, "id", "order_id")
            totals.add(components(latest(orders, ORDERS), items, categories, set(batch)))
        daily, by_category = totals.result()
        outcome.categories = set(by_category.index.get_level_values(1))
        for day, label in labels.items():
            row = cast("dict[str, int]", daily.loc[day].to_dict()) if day in daily.index else None
            cats = by_category.xs(day, level=0) if day in by_category.index.get_level_values(0) else pd.DataFrame()
            per_category = {str(c): cast("dict[str, int]", r.to_dict()) for c, r in cats.iterrows()}
            written = self._tables.write_day(label, generations[day], row, per_category)
            (outcome.days_written if written else outcome.days_superseded).append(label)
        return outcome

    def _categories(self) -> pd.DataFrame:
        products = self._store.rows(FileKind.PRODUCTS)
        if products is None:
            return pd.DataFrame({"id": pd.Series(dtype="int64"), "category": pd.Series(dtype="str")})
        return latest(products, PRODUCTS)[["id", "category"]]


def _empty(schema: Schema) -> pd.DataFrame:
    return pd.DataFrame({n: pd.Series(dtype="Int64") for n in (*schema.names, VERSION)}).astype({"status": "str"})
