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
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from containers.adapters.curated_store import CuratedStore, Snapshot, manifest_key, object_key
from containers.adapters.kpi_tables import DayKpis, KpiTables
from containers.adapters.writer_lease import WriterLease, WriterState
from containers.engine import placement as pl
from containers.engine.contract import ORDER_ITEMS, ORDERS, PRODUCTS, FileKind, Schema
from containers.engine.kpis import DayTotals, components, day_label, day_number, order_day
from containers.engine.versions import latest

FLUSH_ROWS = 1_000_000  # staged rows merged at once: bounds the file's share of memory
DAYS_PER_FOLD = 16  # days aggregated in one vectorised pass
ITEMS, ORDERS_KIND = FileKind.ORDER_ITEMS, FileKind.ORDERS


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
        self._frames: dict[str, pd.DataFrame] = {}
        self.changed: set[str] = set()

    def load(self, parts: Iterable[str]) -> None:
        """Read these partitions at once (in parallel), those not read yet."""
        wanted = sorted({p for p in parts if p not in self._frames and p in self.snapshot.objects})
        for part, frame in zip(wanted, self._store.read_many([self.snapshot.objects[p] for p in wanted]), strict=True):
            self._frames[part] = frame

    def get(self, part: str, like: pd.DataFrame) -> pd.DataFrame:
        self.load([part])
        return self._frames.get(part, like)

    def put(self, part: str, frame: pd.DataFrame) -> None:
        self._frames[part] = frame.reset_index(drop=True)
        self.changed.add(part)

    def commit_plan(self, seq: int) -> tuple[Snapshot, dict[str, pd.DataFrame], list[str]]:
        """The next snapshot, the objects to write, and the objects it supersedes."""
        objects = dict(self.snapshot.objects)
        superseded = [objects[p] for p in sorted(self.changed) if p in objects]
        objects.update({p: object_key(p, seq) for p in self.changed})
        return Snapshot(seq, objects), {p: self._frames[p] for p in self.changed}, superseded


class Merger:
    """Merges rows into a working set: each method keeps every partition current."""

    def __init__(self, work: Working, out: Outcome) -> None:
        self.w, self.out = work, out

    def _order_index(self) -> pd.DataFrame:
        return self.w.get(pl.ORDER_INDEX, pl.empty_index("order_id", "day"))

    def _item_index(self) -> pd.DataFrame:
        return self.w.get(pl.ITEM_INDEX, pl.empty_index("id", "day", "product_id"))

    def products_frame(self) -> pd.DataFrame:
        return self.w.get(pl.PRODUCTS_PART, pl.empty(FileKind.PRODUCTS))

    def part(self, kind: FileKind, day: int) -> pd.DataFrame:
        return self.w.get(pl.day_partition(kind, day), pl.empty(kind))

    def _mark_held_days(self, rows: pd.DataFrame) -> None:
        """Held items are shown on the day of their own `created_at`: that day changes."""
        self.out.days |= set(order_day(rows["created_at"]).tolist())

    def orders(self, rows: pd.DataFrame) -> None:
        new = latest(rows[pl.STORED_COLUMNS[ORDERS_KIND]], ORDERS)
        index, ids = self._order_index(), new["order_id"]
        old = index[index["order_id"].isin(ids)]
        days = set(old["day"].tolist()) | set(order_day(new["created_at"]).tolist())
        self.w.load(pl.day_partition(ORDERS_KIND, d) for d in days)
        parts = {d: self.part(ORDERS_KIND, d) for d in days}
        current = pl.concat([p[p["order_id"].isin(ids)] for p in parts.values()], new)
        won = latest(pl.concat([current, new], new), ORDERS)
        placed = pd.DataFrame({"order_id": won["order_id"].astype("int64"), "day": order_day(won["created_at"])})
        for day, part in parts.items():
            self.w.put(
                pl.day_partition(ORDERS_KIND, day), pl.replaced(part, "order_id", ids, won[placed["day"] == day])
            )
        self.w.put(pl.ORDER_INDEX, pl.replaced(index, "order_id", ids, placed))
        self.out.days |= days
        # Items follow their orders: out of the held items, or out of an order's old day.
        moved = old.merge(placed, on="order_id", suffixes=("_old", ""))
        moved = moved[moved["day_old"] != moved["day"]]
        sources = {pl.HELD} if (~ids.isin(old["order_id"])).any() else set()
        self._move_items(sources | set(moved["day_old"].tolist()), placed)

    def _move_items(self, sources: set[int], placed: pd.DataFrame) -> None:
        self.w.load(pl.day_partition(ITEMS, d) for d in sources)
        moving = []
        for day in sources:
            part = self.part(ITEMS, day)
            leaving = part["order_id"].isin(placed["order_id"])
            if not leaving.any():
                continue
            moving.append(part[leaving])
            self.w.put(pl.day_partition(ITEMS, day), part[~leaving])
            if day == pl.HELD:
                self._mark_held_days(part[leaving])
        if not moving:
            return
        items = pd.concat(moving, ignore_index=True)
        targets = pl.days_of(items["order_id"], placed)
        self._place_items(items, targets, removed=items["id"])

    def _place_items(self, items: pd.DataFrame, targets: pd.Series, removed: pd.Series) -> None:
        """Put item rows into their target days (no version of `removed` stays elsewhere in
        those days) and index them."""
        self.w.load(pl.day_partition(ITEMS, d) for d in set(targets.tolist()))
        for day, rows in pl.split_by(items, targets):
            part = self.part(ITEMS, day)
            self.w.put(pl.day_partition(ITEMS, day), pl.replaced(part, "id", removed, rows))
            if day == pl.HELD:
                self._mark_held_days(rows)
            else:
                self.out.days.add(day)
        entries = pd.DataFrame(
            {"id": items["id"].astype("int64"), "day": targets, "product_id": items["product_id"].astype("int64")}
        )
        self.w.put(pl.ITEM_INDEX, pl.replaced(self._item_index(), "id", items["id"], entries))

    def items(self, rows: pd.DataFrame) -> None:
        new = latest(rows[pl.STORED_COLUMNS[ITEMS]], ORDER_ITEMS)
        index, ids = self._item_index(), new["id"]
        old = index[index["id"].isin(ids)]
        sources = set(old["day"].tolist())
        self.w.load(pl.day_partition(ITEMS, d) for d in sources)
        current = []
        for day in sources:
            part = self.part(ITEMS, day)
            mine = part["id"].isin(ids)
            current.append(part[mine])
            self.w.put(pl.day_partition(ITEMS, day), part[~mine])
            if day == pl.HELD:
                self._mark_held_days(part[mine])
            else:
                self.out.days.add(day)
        won = latest(pl.concat([*current, new], new), ORDER_ITEMS)
        targets = pl.days_of(won["order_id"], self._order_index())
        self._place_items(won, targets, removed=ids)

    def products(self, rows: pd.DataFrame) -> None:
        before = self.products_frame()
        won = latest(pl.concat([before, rows[pl.STORED_COLUMNS[FileKind.PRODUCTS]]], before), PRODUCTS)
        self.w.put(pl.PRODUCTS_PART, won)
        index = self._item_index()
        placed = index[(index["day"] != pl.HELD) & index["product_id"].isin(rows["id"])]
        self.out.days |= set(placed["day"].tolist())

    def waiting(self) -> tuple[pd.Series, pd.Series]:
        """Ids of the items waiting for their order, and of those waiting for their product."""
        index = self._item_index()
        held = index["day"] == pl.HELD
        return index.loc[held, "id"], index.loc[~held & ~index["product_id"].isin(self.products_frame()["id"]), "id"]

    def count_waiting(self, before: tuple[pd.Series, pd.Series] | None = None, rows: pd.Series | None = None) -> None:
        """The store's waiting items; with the waiting ids before a file and the file's item
        ids, also the file's held rows and the rows it released (whatever its chunking)."""
        by_order, by_product = self.waiting()
        self.out.waiting_for_order, self.out.waiting_for_product = len(by_order), len(by_product)
        if rows is not None:
            self.out.held_by_order = int(by_order.isin(rows).sum())
            self.out.held_by_product = int(by_product.isin(rows).sum())
        if before is not None:
            still = pd.concat([by_order, by_product])
            self.out.released_rows = int((~pd.concat(before).isin(still)).sum())


class Transformer:
    def __init__(self, store: CuratedStore, tables: KpiTables, lease: WriterLease) -> None:
        self._store, self._tables, self._lease = store, tables, lease

    def transform(self, run_id: str, schema: Schema, chunks: Iterable[pd.DataFrame]) -> dict[str, Any]:
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

    def _transform(
        self, state: WriterState, run_id: str, schema: Schema, chunks: Iterable[pd.DataFrame]
    ) -> dict[str, Any]:
        if state.writing or state.garbage:  # a crashed attempt's objects, a commit's leftovers
            self._store.delete([*state.writing, *state.garbage])
            state = self._lease.cleaned()
        snapshot = self._store.snapshot(state.seq)
        work = Working(self._store, snapshot)
        runs = work.get(pl.RUN_INDEX, pl.empty_runs())
        done = runs.loc[runs["run_id"] == run_id, "summary"]
        days: set[int] = set()
        if not done.empty:  # committed before a crash: report what it did
            summary = json.loads(done.iloc[0])
        else:
            out, content = self._merge(work, schema, chunks)
            first = runs.loc[runs["content"] == content, "run_id"]
            if first.empty:
                summary, days = out.summary(), out.days
                row = pd.DataFrame({"run_id": [run_id], "content": [content], "summary": [json.dumps(summary)]})
                work.put(pl.RUN_INDEX, pd.concat([runs, row], ignore_index=True))
                self._commit(work, {day_label(d) for d in days})
            else:  # the same rows as a loaded file: nothing of this merge is kept
                work = Working(self._store, snapshot)
                out = Outcome(schema.kind.value, duplicate_of=str(first.iloc[0]))
                Merger(work, out).count_waiting()
                summary = out.summary()
        labels = {day_label(d) for d in days} | state.kpi_days
        kpi_days = [DayKpis(*day) for day in recompute(work, labels)]
        written, superseded = self._tables.write_days(work.snapshot.seq, kpi_days)
        self._lease.kpis_written(labels)
        self._lease.release()
        return {
            **summary,
            "days_written": written,
            "days_superseded": superseded,
            "categories": sorted({c for d in kpi_days for c in d.categories}),
        }

    def _merge(self, work: Working, schema: Schema, chunks: Iterable[pd.DataFrame]) -> tuple[Outcome, str]:
        """Merge the staged chunks, up to FLUSH_ROWS rows at a time; the outcome and the
        digest of the file's rows."""
        out = Outcome(schema.kind.value)
        merger = Merger(work, out)
        merge = {ORDERS_KIND: merger.orders, ITEMS: merger.items, FileKind.PRODUCTS: merger.products}[schema.kind]
        digest = content_digest(schema)
        before = merger.waiting()
        item_ids: list[pd.Series] = []
        buffered: list[pd.DataFrame] = []
        for chunk in chunks:
            if schema.kind is ITEMS:
                item_ids.append(chunk["id"].astype("int64"))
            digest.update(pd.util.hash_pandas_object(chunk[list(schema.names)], index=False).to_numpy().tobytes())
            buffered.append(chunk)
            out.rows_loaded += len(chunk)
            if sum(len(b) for b in buffered) >= FLUSH_ROWS:
                merge(pd.concat(buffered, ignore_index=True))
                buffered.clear()
        if buffered:
            merge(pd.concat(buffered, ignore_index=True))
        merger.count_waiting(before, pd.concat(item_ids).drop_duplicates() if item_ids else None)
        return out, digest.hexdigest()

    def _commit(self, work: Working, days: set[str]) -> None:
        """Write the changed partitions as the next snapshot and move the pointer to it."""
        before = work.snapshot.seq
        snapshot, frames, superseded = work.commit_plan(before + 1)
        self._lease.writing([*(snapshot.objects[p] for p in frames), manifest_key(snapshot.seq)])
        self._store.write(snapshot, frames)
        if before:
            superseded.append(manifest_key(before))
        self._lease.commit(snapshot.seq, superseded, days)
        self._store.delete(superseded)
        self._lease.cleaned()
        work.snapshot = snapshot
        work.changed.clear()


def content_digest(schema: Schema) -> Any:
    """A digest of a file's valid rows fed chunk by chunk (data columns only: not where or
    when the file landed, so a copy of a file has the digest of the original)."""
    return hashlib.sha256(schema.kind.value.encode())


def recompute(work: Working, labels: set[str]) -> Iterable[tuple[str, dict[str, int] | None, dict[str, Any], int]]:
    """Per day: its components (None: no orders), its categories' and its items waiting for
    a reference, from its two partitions (and the catalogue and the held items)."""
    merger = Merger(work, Outcome(""))
    categories = merger.products_frame()[["id", "category"]]
    held = work.get(pl.HELD_ITEMS, pl.empty(ITEMS))
    held_by_day = order_day(held["created_at"]).value_counts()
    ordered = sorted(day_number(label) for label in labels)
    totals = DayTotals()
    waiting: dict[int, int] = {}
    for start in range(0, len(ordered), DAYS_PER_FOLD):
        batch = ordered[start : start + DAYS_PER_FOLD]
        work.load([pl.day_partition(k, d) for d in batch for k in (ORDERS_KIND, ITEMS)])
        items = {d: merger.part(ITEMS, d) for d in batch}
        orders = pl.concat([merger.part(ORDERS_KIND, d) for d in batch], pl.empty(ORDERS_KIND))
        totals.add(components(orders, pl.concat(list(items.values()), pl.empty(ITEMS)), categories, set(batch)))
        for day, part in items.items():
            waiting[day] = int((~part["product_id"].isin(categories["id"])).sum()) + int(held_by_day.get(day, 0))
    daily, by_category = totals.result()
    for day in ordered:
        row: dict[str, int] | None = None
        if day in daily.index:
            row = {str(k): int(v) for k, v in daily.loc[day].to_dict().items()}
        cats = by_category.xs(day, level=0) if day in by_category.index.get_level_values(0) else pd.DataFrame()
        yield day_label(day), row, {str(c): r.to_dict() for c, r in cats.iterrows()}, waiting[day]
