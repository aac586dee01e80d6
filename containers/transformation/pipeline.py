"""Transformation: merge a validated file into the curated state and refresh the KPIs of
every day it changed.

One writer at a time (`WriterLease`). The writer reads the committed snapshot's partitions
that the file touches, merges the file's rows into them (latest wins), writes the changed
partitions as new objects and commits by moving one pointer. Every partition holds current
state only, so a day is recomputed from two objects (its orders and its items), whatever
the number of files that touched it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from containers.adapters.curated_store import CuratedStore, Snapshot, manifest_key, object_key
from containers.adapters.kpi_tables import DayKpis, KpiTables
from containers.adapters.writer_lease import WriterLease, WriterState
from containers.engine import placement as pl
from containers.engine.contract import ORDER_ITEMS, ORDERS, PRODUCTS, FileKind, Schema
from containers.engine.kpis import DayTotals, components, day_label, day_number, ints, order_days, positions
from containers.engine.versions import latest
from containers.tasks.stop_signal import checkpoint

FLUSH_ROWS = 1_000_000  # staged rows merged at once: bounds the file's share of memory
DAYS_PER_FOLD = 16  # days aggregated in one vectorised pass
ITEMS, ORDERS_KIND = FileKind.ORDER_ITEMS, FileKind.ORDERS
# Runs a commit's writes (which fan out to the store's I/O pool) while the KPIs are recomputed.
COMMIT_THREAD = ThreadPoolExecutor(1, thread_name_prefix="commit")
T = TypeVar("T")


@dataclass
class Outcome:
    """What a file did: rows loaded, held (by missing reference) and released, and the
    items still waiting over the whole store."""

    kind: str
    rows_loaded: int = 0
    held_by_order: int = 0
    held_by_product: int = 0
    released_rows: int = 0
    waiting_for_order: int = 0
    waiting_for_product: int = 0
    duplicate_of: str | None = None
    days: set[int] = field(default_factory=set)

    @property
    def held_rows(self) -> int:
        return self.held_by_order + self.held_by_product

    def summary(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "days"}
        return {**out, "held_rows": self.held_rows, "affected_dates": sorted(day_label(d) for d in self.days)}


class Working:
    """The partitions of a snapshot that a run reads, and the ones it replaces."""

    def __init__(self, store: CuratedStore, snapshot: Snapshot) -> None:
        self._store, self.snapshot = store, snapshot
        self._tables: dict[str, pa.Table] = {}
        self._reading: dict[str, Future[pa.Table]] = {}
        self.changed: set[str] = set()

    def prefetch(self, parts: Iterable[str]) -> None:
        """Start reading these partitions in the background (those neither read nor being
        read); `load` takes them when they are needed."""
        for part in sorted(set(parts)):
            if part not in self._tables and part not in self._reading and part in self.snapshot.objects:
                self._reading[part] = self._store.reading(self.snapshot.objects[part])

    def load(self, parts: Iterable[str]) -> None:
        """Read these partitions at once (in parallel), those not read yet."""
        wanted = sorted({p for p in parts if p not in self._tables and p in self.snapshot.objects})
        self.prefetch(wanted)
        for part in wanted:
            self._tables[part] = pl.conform(self._reading.pop(part).result(), pl.partition_schema(part))

    def evict(self, parts: Iterable[str]) -> None:
        """Forget these partitions unless changed (a later `get` reads them again): what a
        recompute of many days holds stays bounded."""
        for part in parts:
            if part not in self.changed:
                self._tables.pop(part, None)

    def get(self, part: str) -> pa.Table:
        """A partition's current rows (an empty table of its columns if it holds none)."""
        self.load([part])
        found = self._tables.get(part)
        return pl.partition_schema(part).empty_table() if found is None else found

    def put(self, part: str, table: pa.Table) -> None:
        self._tables[part] = table
        self.changed.add(part)

    def commit_plan(self, seq: int) -> tuple[Snapshot, dict[str, pa.Table], list[str]]:
        """The next snapshot, the objects to write, and the objects it supersedes."""
        objects = dict(self.snapshot.objects)
        superseded = [objects[p] for p in sorted(self.changed) if p in objects]
        objects.update({p: object_key(p, seq) for p in self.changed})
        return Snapshot(seq, objects), {p: self._tables[p] for p in self.changed}, superseded


def _ids(table: pa.Table, column: str) -> pa.Array:
    return pl.value_set(table.column(column))


def _isin(table: pa.Table, column: str, keys: pa.Array) -> pa.Array:
    found: pa.Array = pc.is_in(table.column(column), value_set=keys)
    return found


def _count_in(values: pa.Array, keys: pa.Array) -> int:
    """How many of `values` are among `keys` (no hash set built for no values)."""
    if not len(values) or not len(keys):
        return 0
    found: int = pc.sum(pc.is_in(values, value_set=keys)).as_py()
    return found


class Merger:
    """Merges rows into a working set: each method keeps every partition current."""

    def __init__(self, work: Working, out: Outcome) -> None:
        self.w, self.out = work, out

    def part(self, kind: FileKind, day: int) -> pa.Table:
        return self.w.get(pl.day_partition(kind, day))

    def _taking(self, kind: FileKind, day: int, key: str, keys: pa.Array) -> pa.Table:
        """Remove the rows of these keys from a day's partition; the rows removed."""
        part = self.part(kind, day)
        mine = _isin(part, key, keys)
        taken = part.filter(mine)
        if taken.num_rows:
            self.w.put(pl.day_partition(kind, day), part.filter(pc.invert(mine)))
        return taken

    def _taking_by_day(self, kind: FileKind, key: str, where: pa.Table) -> dict[int, pa.Table]:
        """Remove the rows of keys from the days the index places them in (`where`: key, day);
        each day looks up only its own keys. The rows removed, by day."""
        days = ints(where, "day")
        self.w.load(pl.day_partition(kind, d) for d in set(days.tolist()))
        return {day: self._taking(kind, day, key, on[key].combine_chunks()) for day, on in pl.split_by(where, days)}

    def orders(self, rows: pa.Table) -> None:
        new = latest(rows, ORDERS)
        index, ids = self.w.get(pl.ORDER_INDEX), _ids(new, "order_id")
        old = index.filter(_isin(index, "order_id", ids)) if index.num_rows else index
        current = pl.concat(list(self._taking_by_day(ORDERS_KIND, "order_id", old).values()), new)
        won = latest(pl.concat([current, new], new), ORDERS) if current.num_rows else new
        won_days = order_days(ints(won, "created_at"))
        self.w.load(pl.day_partition(ORDERS_KIND, d) for d in set(won_days.tolist()))
        for day, rows_of_day in pl.split_by(won, won_days):
            part = pl.day_partition(ORDERS_KIND, day)
            self.w.put(part, pl.concat([self.w.get(part), rows_of_day], rows_of_day))
        placed = pa.table({"order_id": won["order_id"], "day": pa.array(won_days)})
        self.w.put(pl.ORDER_INDEX, pl.replaced(index, "order_id", ids, placed))
        old_ids, old_days = ints(old, "order_id"), ints(old, "day")
        self.out.days |= set(old_days.tolist()) | set(order_days(ints(new, "created_at")).tolist())
        # Items follow their orders: out of the held items (orders new to the index), or out of
        # an order's old day.
        moved = old_days != won_days[positions(ints(won, "order_id"), old_ids)]
        leaving = old.filter(pa.array(moved))
        if len(old_ids) < len(ids):
            arrived = ids.filter(pc.invert(pc.is_in(ids, value_set=old["order_id"].combine_chunks())))
            held = pa.table({"order_id": arrived, "day": pa.array(np.full(len(arrived), pl.HELD))})
            leaving = pa.concat_tables([leaving, held.cast(pl.ORDER_INDEX_SCHEMA)])
        self._move_items(leaving, placed)

    def _move_items(self, leaving: pa.Table, placed: pa.Table) -> None:
        """Move the items of orders that left a day (`leaving`: order_id, the day left) to the
        day of their order now (`placed`)."""
        moving = []
        for day, taken in self._taking_by_day(ITEMS, "order_id", leaving).items():
            if taken.num_rows:
                moving.append(taken)
                if day == pl.HELD:
                    self.out.days |= pl.held_days(taken)
        if not moving:
            return
        items = pa.concat_tables(moving)
        targets = pl.days_of(ints(items, "order_id"), placed)
        self._place_items(items, targets, removed=_ids(items, "id"))

    def _place_items(self, items: pa.Table, targets: np.ndarray, removed: pa.Array) -> None:
        """Put item rows into their target days (no version of `removed` stays elsewhere in
        those days) and index them."""
        self.w.load(pl.day_partition(ITEMS, d) for d in set(targets.tolist()))
        for day, rows in pl.split_by(items, targets):
            part = pl.day_partition(ITEMS, day)
            self.w.put(part, pl.replaced(self.w.get(part), "id", removed, rows))
            if day == pl.HELD:
                self.out.days |= pl.held_days(rows)
            else:
                self.out.days.add(day)
        entries = pa.table({"id": items["id"], "day": pa.array(targets), "product_id": items["product_id"]})
        self.w.put(pl.ITEM_INDEX, pl.replaced(self.w.get(pl.ITEM_INDEX), "id", removed, entries))

    def items(self, rows: pa.Table) -> None:
        new = latest(rows, ORDER_ITEMS)
        index, ids = self.w.get(pl.ITEM_INDEX), _ids(new, "id")
        where = index.filter(_isin(index, "id", ids)) if index.num_rows else index
        current = self._taking_by_day(ITEMS, "id", where.select(["id", "day"]))
        for day, taken in current.items():
            if day == pl.HELD:
                self.out.days |= pl.held_days(taken)
            else:
                self.out.days.add(day)
        won = latest(pl.concat([*current.values(), new], new), ORDER_ITEMS) if current else new
        targets = pl.days_of(ints(won, "order_id"), self.w.get(pl.ORDER_INDEX))
        self._place_items(won, targets, removed=ids)

    def products(self, rows: pa.Table) -> None:
        before = self.w.get(pl.PRODUCTS_PART)
        self.w.put(pl.PRODUCTS_PART, latest(pl.concat([before, rows], before), PRODUCTS))
        index = self.w.get(pl.ITEM_INDEX)
        placed = pc.and_(pc.not_equal(index["day"], pl.HELD), _isin(index, "product_id", _ids(rows, "id")))
        self.out.days |= set(pc.unique(index.filter(placed)["day"]).to_pylist())

    def waiting(self) -> tuple[pa.Array, pa.Array]:
        """Ids of the items waiting for their order, and of those waiting for their product."""
        index = self.w.get(pl.ITEM_INDEX)
        held = pc.equal(index["day"], pl.HELD)
        unknown = pc.invert(_isin(index, "product_id", _ids(self.w.get(pl.PRODUCTS_PART), "id")))
        by_order = index.filter(held)["id"].combine_chunks()
        by_product = index.filter(pc.and_(pc.invert(held), unknown))["id"].combine_chunks()
        return by_order, by_product

    def count_waiting(self, before: tuple[pa.Array, pa.Array] | None = None, rows: pa.Array | None = None) -> None:
        """The store's waiting items; with the waiting ids before a file and the file's item
        ids, also the file's held rows and the rows it released (whatever its chunking)."""
        by_order, by_product = self.waiting()
        self.out.waiting_for_order, self.out.waiting_for_product = len(by_order), len(by_product)
        if rows is not None:
            self.out.held_by_order, self.out.held_by_product = _count_in(by_order, rows), _count_in(by_product, rows)
        if before is not None:
            was = pa.concat_arrays(list(before))
            self.out.released_rows = len(was) - _count_in(was, pa.concat_arrays([by_order, by_product]))


class Transformer:
    def __init__(self, store: CuratedStore, tables: KpiTables, lease: WriterLease) -> None:
        self._store, self._tables, self._lease = store, tables, lease

    def transform(self, run_id: str, schema: Schema, chunks: Iterable[pa.Table]) -> dict[str, Any]:
        """Merge one file (a retry of a committed run or a copy of a loaded file changes
        nothing), then write the KPIs of the days it changed and of any a crash left unwritten.
        A failure releases the lease (the lease item keeps what the next holder must clean up
        or finish); a killed task's lease passes to its retry, or expires."""
        state = self._lease.acquire()
        try:
            return self._transform(state, run_id, schema, chunks)
        except Exception:
            self._lease.release()
            raise
        finally:  # whatever ended the attempt (even a simulated kill, in-process) ends its renewals
            self._lease.stop_renewing()

    def _transform(self, state: WriterState, run_id: str, schema: Schema, chunks: Iterable[pa.Table]) -> dict[str, Any]:
        if state.writing or state.garbage:  # a crashed attempt's objects, a commit's leftovers
            self._store.delete([*state.writing, *state.garbage])
            state = self._lease.cleaned()
        snapshot = self._store.snapshot(state.seq)
        work = Working(self._store, snapshot)
        runs = work.get(pl.RUN_INDEX)
        done = runs.filter(pc.equal(runs["run_id"], run_id))["summary"].to_pylist()
        labels = set(state.kpi_days)
        committed: set[str] | None = None  # the days of this run's commit, if it makes one
        if done:  # committed before a crash: report what it did
            summary = json.loads(done[0])
        else:
            out, content = self._merge(work, schema, chunks)
            first = runs.filter(pc.equal(runs["content"], content))["run_id"].to_pylist()
            if not first:
                summary, committed = out.summary(), {day_label(d) for d in out.days}
                row = pa.table({"run_id": [run_id], "content": [content], "summary": [json.dumps(summary)]})
                work.put(pl.RUN_INDEX, pa.concat_tables([runs, row.cast(pl.RUNS_SCHEMA)]))
                labels |= committed
            else:  # the same rows as a loaded file: nothing of this merge is kept
                work = Working(self._store, snapshot)
                out = Outcome(schema.kind.value, duplicate_of=str(first[0]))
                Merger(work, out).count_waiting()
                summary = out.summary()

        days = recompute(work, labels)  # its first reads start now, ahead of the commit's writes

        def kpis() -> list[DayKpis]:
            return [DayKpis(*day) for day in days]

        kpi_days = kpis() if committed is None else self._commit(work, committed, kpis)
        written, superseded = self._tables.write_days(work.snapshot.seq, kpi_days)
        self._lease.release(kpis_written=labels)
        return {
            **summary,
            "days_written": written,
            "days_superseded": superseded,
            "categories": sorted({c for d in kpi_days for c in d.categories}),
        }

    def _merge(self, work: Working, schema: Schema, chunks: Iterable[pa.Table]) -> tuple[Outcome, str]:
        """Merge the staged chunks, up to FLUSH_ROWS rows at a time; the outcome and the
        digest of the file's rows."""
        out = Outcome(schema.kind.value)
        merger = Merger(work, out)
        merge = {ORDERS_KIND: merger.orders, ITEMS: merger.items, FileKind.PRODUCTS: merger.products}[schema.kind]
        digest = content_digest(schema)
        before = merger.waiting()
        item_ids: list[pa.ChunkedArray] = []
        buffered: list[pa.Table] = []
        stored = pl.STORED[schema.kind]
        for chunk in chunks:
            checkpoint()
            digest.update(row_hashes(chunk, schema))
            rows = pl.conform(chunk, stored)
            if schema.kind is ITEMS:
                item_ids.append(rows["id"])
            buffered.append(rows)
            out.rows_loaded += rows.num_rows
            if sum(b.num_rows for b in buffered) >= FLUSH_ROWS:
                merge(pa.concat_tables(buffered))
                buffered.clear()
        if buffered:
            merge(pa.concat_tables(buffered))
        file_ids = (
            pl.value_set(pa.chunked_array([c for ids in item_ids for c in ids.chunks], pa.int64()))
            if item_ids
            else None
        )
        merger.count_waiting(before, file_ids)
        return out, digest.hexdigest()

    def _commit(self, work: Working, days: set[str], meanwhile: Callable[[], T]) -> T:
        """Write the changed partitions as the next snapshot and move the pointer to it; while
        the objects are written (S3 round trips, Parquet encoding off the main thread), run
        `meanwhile` (the KPI recompute: it only reads the partitions). Its result."""
        checkpoint()  # the last place a stop ends the attempt: past it, the file is finished
        before = work.snapshot.seq
        snapshot, tables, superseded = work.commit_plan(before + 1)
        self._lease.writing([*(snapshot.objects[p] for p in tables), manifest_key(snapshot.seq)])
        writing = COMMIT_THREAD.submit(self._store.write, snapshot, tables)
        try:
            result = meanwhile()
        finally:
            writing.result()  # a failed write fails the run (the lease item names what it wrote)
        if before:
            superseded.append(manifest_key(before))
        self._lease.commit(snapshot.seq, superseded, days)
        self._store.delete(superseded)
        self._lease.cleaned()
        work.snapshot = snapshot
        work.changed.clear()
        return result


def content_digest(schema: Schema) -> Any:
    """A digest of a file's valid rows fed chunk by chunk (data columns only: not where or
    when the file landed, so a copy of a file has the digest of the original)."""
    return hashlib.sha256(schema.kind.value.encode())


def row_hashes(chunk: pa.Table, schema: Schema) -> bytes:
    """The data columns' row hashes, as pandas computes them on the staged frame (the digests
    of the files loaded so far were made so: a re-delivered file stays a duplicate)."""
    frame = chunk.select(list(schema.names)).to_pandas()
    hashes: bytes = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    return hashes


def recompute(work: Working, labels: set[str]) -> Iterator[tuple[str, dict[str, int] | None, dict[str, Any], int]]:
    """Per day: its components (None: no orders), its categories' and its items waiting for
    a reference, from its two partitions (and the catalogue and the held items). Days are
    aggregated DAYS_PER_FOLD at a time; the first fold's partitions are requested at once
    (a commit that follows queues its writes behind them on the same I/O pool), each next
    fold's while this one is aggregated, and a fold's partitions are let go once it is done."""
    ordered = sorted(day_number(label) for label in labels)
    folds = [ordered[start : start + DAYS_PER_FOLD] for start in range(0, len(ordered), DAYS_PER_FOLD)]
    if folds:
        work.prefetch(_fold_parts(folds[0]))
    return _recomputed(work, folds)


def _fold_parts(days: list[int]) -> list[str]:
    return [pl.day_partition(k, d) for d in days for k in (ORDERS_KIND, ITEMS)]


def _recomputed(
    work: Working, folds: list[list[int]]
) -> Iterator[tuple[str, dict[str, int] | None, dict[str, Any], int]]:
    merger = Merger(work, Outcome(""))
    categories = work.get(pl.PRODUCTS_PART).select(["id", "category"])
    known_products = _ids(categories, "id")
    held_by_day = pd.Series(order_days(ints(work.get(pl.HELD_ITEMS), "created_at"))).value_counts()
    totals = DayTotals()
    waiting: dict[int, int] = {}
    for at, batch in enumerate(folds):
        parts = _fold_parts(batch)
        work.load(parts)
        work.prefetch(_fold_parts(folds[at + 1]) if at + 1 < len(folds) else [])
        items = {d: merger.part(ITEMS, d) for d in batch}
        orders = pl.concat([merger.part(ORDERS_KIND, d) for d in batch], pl.STORED[ORDERS_KIND].empty_table())
        totals.add(
            components(orders, pl.concat(list(items.values()), pl.STORED[ITEMS].empty_table()), categories, set(batch))
        )
        for day, part in items.items():
            unknown = part.num_rows - (pc.sum(_isin(part, "product_id", known_products)).as_py() or 0)
            waiting[day] = unknown + int(held_by_day.get(day, 0))
        del items, orders
        work.evict(parts)
    daily, by_category = totals.result()
    for day in (d for batch in folds for d in batch):
        row: dict[str, int] | None = None
        if day in daily.index:
            row = {str(k): int(v) for k, v in daily.loc[day].to_dict().items()}
        cats = by_category.xs(day, level=0) if day in by_category.index.get_level_values(0) else pd.DataFrame()
        yield day_label(day), row, {str(c): r.to_dict() for c, r in cats.iterrows()}, waiting[day]
