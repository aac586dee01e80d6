"""Transformation: place a validated file's rows in the curated store, then recompute the
days it touched from everything stored so far.

The order of steps is what makes concurrent runs converge: a run writes its own rows and
indexes first, then reads what others stored to find the affected days, then takes a
generation for each day, and only then reads the data it aggregates.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterable

import pandas as pd

from containers.adapters.curated_store import CuratedStore
from containers.adapters.kpi_tables import KpiTables
from containers.engine import placement
from containers.engine.contract import ORDER_ITEMS, ORDERS, PRODUCTS, FileKind, Schema
from containers.engine.kpis import DayTotals, day_label, shard_components
from containers.engine.rules import VERSION
from containers.engine.versions import globally_latest, latest

FLUSH_ROWS = 1_000_000      # rows buffered before parts are written: bounds memory on huge files
VERSION_CACHE_SHARDS = 256
SHARDS_PER_FOLD = 64      # order shards folded in one pass (about 256 k order ids)


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


class _Parts:
    """Buffers a file's rows and writes them per shard as Parquet parts, a chunk at a time.

    A chunk is named by the file and its position, so a re-run writes the same objects;
    `indexed(name, rows)` runs after each chunk's parts are stored.
    """

    def __init__(
        self, store: CuratedStore, kind: FileKind, file_id: str, flush_rows: int,
        indexed: Callable[[str, pd.DataFrame], None],
    ) -> None:
        self._store, self._kind, self._file_id, self._flush_rows = store, kind, file_id, flush_rows
        self._indexed = indexed
        self._buffer: list[pd.DataFrame] = []
        self._buffered = 0
        self._flushes = 0

    def add(self, rows: pd.DataFrame) -> None:
        for start in range(0, len(rows), self._flush_rows):
            part = rows.iloc[start : start + self._flush_rows]
            self._buffer.append(part)
            self._buffered += len(part)
            if self._buffered >= self._flush_rows:
                self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        name = f"{self._file_id}-{self._flushes:04d}"
        rows = pd.concat(self._buffer, ignore_index=True)
        self._buffer.clear()
        groups = [(None, rows)] if self._kind is FileKind.PRODUCTS else placement.by_shard(rows)
        self._store.put_many((self._store.rows_key(self._kind, name, shard), part) for shard, part in groups)
        self._indexed(name, rows)
        self._buffered = 0
        self._flushes += 1


class Transformer:
    def __init__(self, store: CuratedStore, tables: KpiTables, flush_rows: int | None = None) -> None:
        self._store = store
        self._tables = tables
        self._flush_rows = flush_rows or FLUSH_ROWS

    # -- loading -------------------------------------------------------------------------
    def load(self, schema: Schema, file_id: str, chunks: Iterable[pd.DataFrame]) -> LoadOutcome:
        """Store the file chunk by chunk, each chunk's indexes right after its rows: memory
        holds one chunk whatever the file's size."""
        outcome = LoadOutcome(schema.kind)
        index = {
            FileKind.ORDERS: self._index_orders,
            FileKind.ORDER_ITEMS: self._index_items,
            FileKind.PRODUCTS: self._index_products,
        }[schema.kind]

        def indexed(name: str, rows: pd.DataFrame) -> None:
            outcome.rows_loaded += len(rows)
            index(name, rows, outcome)

        parts = _Parts(self._store, schema.kind, file_id, self._flush_rows, indexed)
        for chunk in chunks:
            parts.add(chunk)
        parts.flush()
        return outcome

    def _stored_orders(self, order_ids: pd.Series) -> pd.DataFrame | None:
        stored = self._store.rows(FileKind.ORDERS, placement.shard_of(order_ids).unique().tolist())
        return stored[["order_id", "created_at"]] if stored is not None else None

    def _index_orders(self, name: str, rows: pd.DataFrame, outcome: LoadOutcome) -> None:
        pairs = placement.day_shards(rows)
        self._store.put_many(
            (self._store.day_shards_key(int(day), name), group.reset_index(drop=True))
            for day, group in pairs.groupby("day")
        )
        outcome.affected_days |= placement.days_of_orders(self._stored_orders(rows["order_id"]), rows["order_id"])

    def _index_items(self, name: str, rows: pd.DataFrame, outcome: LoadOutcome) -> None:
        versions = placement.item_versions(rows)
        self._store.put_many((self._store.item_versions_key(s, name), part) for s, part in versions)
        self._store.put_many([(self._store.product_shards_key(name), placement.product_shards(rows))])
        every_version = self._store.item_versions([s for s, _ in versions])
        order_ids = every_version.loc[every_version["id"].isin(rows["id"]), "order_id"].drop_duplicates()
        stored = self._stored_orders(order_ids)
        outcome.affected_days |= placement.days_of_orders(stored, order_ids)
        known_orders = stored["order_id"] if stored is not None else pd.Series(dtype="int64")
        products = self._store.rows(FileKind.PRODUCTS)
        known_products = products["id"] if products is not None else pd.Series(dtype="int64")
        held = ~rows["order_id"].isin(known_orders) | ~rows["product_id"].isin(known_products)
        outcome.held_rows += int(held.sum())

    def _index_products(self, name: str, rows: pd.DataFrame, outcome: LoadOutcome) -> None:
        refs = self._store.product_shards()
        if refs is None:
            return
        shards = refs.loc[refs["product_id"].isin(rows["id"]), "shard"].unique().tolist()
        items = self._store.rows(FileKind.ORDER_ITEMS, shards) if shards else None
        if items is not None:
            ids = items.loc[items["product_id"].isin(rows["id"]), "order_id"].drop_duplicates()
            outcome.affected_days |= placement.days_of_orders(self._stored_orders(ids), ids)

    # -- recomputing ---------------------------------------------------------------------
    def recompute(self, days: set[int]) -> RecomputeOutcome:
        """Fold every shard holding these days' orders and store the days' KPIs.

        Shards are folded a batch at a time: one vectorised pass per batch instead of one
        per shard, with memory bounded by the batch.
        """
        outcome = RecomputeOutcome()
        if not days:
            return outcome
        labels = {d: day_label(d) for d in sorted(days)}
        generations = {d: self._tables.take_generation(labels[d]) for d in labels}
        shards = sorted(set().union(*self._store.shards_of_days(days).values()))
        categories = self._categories()
        versions: OrderedDict[int, pd.DataFrame | None] = OrderedDict()
        totals = DayTotals()
        for start in range(0, len(shards), SHARDS_PER_FOLD):
            batch = shards[start : start + SHARDS_PER_FOLD]
            orders = self._store.rows(FileKind.ORDERS, batch)
            if orders is None:
                continue
            items = self._store.rows(FileKind.ORDER_ITEMS, batch)
            items = self._winning_items(items, versions) if items is not None else _empty(ORDER_ITEMS)
            totals.add(shard_components(latest(orders, ORDERS), items, categories, days))
        daily, by_category = totals.result()
        outcome.categories = set(by_category.index.get_level_values(1))
        for day, label in labels.items():
            row = daily.loc[day].to_dict() if day in daily.index else None
            cats = by_category.xs(day, level=0) if day in by_category.index.get_level_values(0) else pd.DataFrame()
            written = self._tables.write_day(label, generations[day], row, {c: r.to_dict() for c, r in cats.iterrows()})
            (outcome.days_written if written else outcome.days_superseded).append(label)
        return outcome

    def _categories(self) -> pd.DataFrame:
        products = self._store.rows(FileKind.PRODUCTS)
        if products is None:
            return pd.DataFrame({"id": pd.Series(dtype="int64"), "category": pd.Series(dtype="str")})
        return latest(products, PRODUCTS)[["id", "category"]]

    def _winning_items(self, items: pd.DataFrame, cache: OrderedDict[int, pd.DataFrame | None]) -> pd.DataFrame:
        items = latest(items, ORDER_ITEMS)
        needed = placement.shard_of(items["id"], placement.ITEM_SHARD_SIZE).unique().tolist()
        missing = [s for s in needed if s not in cache]
        if missing:
            found = self._store.item_versions(missing)
            groups = dict(iter(found.groupby(placement.shard_of(found["id"], placement.ITEM_SHARD_SIZE)))) if found is not None else {}
            for shard in missing:
                cache[shard] = groups.get(shard)
        for shard in needed:
            cache.move_to_end(shard)
        frames = [cache[s] for s in needed if cache[s] is not None]
        while len(cache) > VERSION_CACHE_SHARDS:
            cache.popitem(last=False)
        if not frames:
            return items
        return globally_latest(items, pd.concat(frames, ignore_index=True), "id", "order_id")


def _empty(schema: Schema) -> pd.DataFrame:
    return pd.DataFrame({n: pd.Series(dtype="Int64") for n in (*schema.names, VERSION)}).astype({"status": "str"})
