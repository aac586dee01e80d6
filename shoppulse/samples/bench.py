"""A large, all-valid data set for benchmarks, generated column-wise with numpy.

One products, one orders and one items file (about four items per order), plus an *increment*
(a small orders file and its items file, for a day the base files already fill) to measure the
cost of adding one more file to a day that already holds data.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from containers.engine.contract import SCHEMAS, FileKind
from shoppulse.samples.catalog import BRANDS, CATEGORIES, DEPARTMENTS
from shoppulse.samples.written import OnWritten, Written

ITEMS_PER_ORDER = 4
MAX_PRODUCTS = 10_000
BENCH_DAYS = 30
BENCH_START = date(2025, 1, 1)
INCREMENT_ORDERS = 1_000
STATUSES = np.array(["processing", "shipped", "complete", "cancelled", "returned"])
STATUS_WEIGHTS = (0.2, 0.3, 0.25, 0.15, 0.1)
SECOND = np.timedelta64(1, "s")
HOUR = 3600


def _timestamps(values: np.ndarray) -> pa.Array:
    """ISO-8601 UTC text (`...T..Z`), null where NaT."""
    text = np.char.add(np.datetime_as_string(values, unit="s"), "Z")
    return pa.array(text, mask=np.isnat(values))


def _write(path: Path, kind: FileKind, columns: dict[str, pa.Array]) -> Path:
    table = pa.table({name: columns[name] for name in SCHEMAS[kind].names})
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
    return path


BENCH_FILES = ("products", "orders", "order_items", "increment_orders", "increment_items")


class _Writer:
    """Writes the bench files in `BENCH_FILES` order, each as soon as its columns exist, and tells `on_written`."""

    def __init__(self, out_dir: Path, on_written: OnWritten | None) -> None:
        self.out_dir, self.on_written = out_dir, on_written
        self.paths: dict[str, Path] = {}

    def write(self, key: str, kind: FileKind, columns: dict[str, pa.Array]) -> None:
        self.paths[key] = path = _write(self.out_dir / f"{key}.csv", kind, columns)
        if self.on_written is not None:
            rows = len(columns[SCHEMAS[kind].names[0]])
            self.on_written(Written(path, rows, len(self.paths), len(BENCH_FILES)))


def _products(rng: np.random.Generator, count: int) -> tuple[dict[str, pa.Array], np.ndarray]:
    ids = np.arange(1, count + 1)
    retail = np.round(rng.uniform(5, 200, count), 2)
    category = np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), count)]
    brand = np.array(BRANDS)[rng.integers(0, len(BRANDS), count)]
    columns = {
        "id": pa.array(ids),
        "sku": pa.array(np.char.mod("%016X", rng.integers(0, 2**62, count))),
        "cost": pa.array(np.round(retail * rng.uniform(0.35, 0.6, count), 2)),
        "category": pa.array(category),
        "name": pa.array(np.char.add(np.char.add(brand, " "), category)),
        "brand": pa.array(brand),
        "retail_price": pa.array(retail),
        "department": pa.array(np.array(DEPARTMENTS)[rng.integers(0, 2, count)]),
    }
    return columns, retail


def _orders_and_items(
    rng: np.random.Generator,
    n_orders: int,
    n_items: int,
    first_order: int,
    first_item: int,
    start: np.datetime64,
    seconds: int,
    retail: np.ndarray,
) -> tuple[dict[str, Any], dict[str, Any]]:
    order_ids = np.arange(first_order, first_order + n_orders)
    # Order ids do not follow creation time (TheLook assigns them per user): every day's orders
    # spread over the whole id range, the hard case for a store keyed by id.
    created = start + rng.integers(0, seconds, n_orders) * SECOND
    status = rng.choice(len(STATUSES), n_orders, p=STATUS_WEIGHTS)
    shipped_state = np.isin(status, (1, 2, 4))
    delivered_state = np.isin(status, (2, 4))
    nat = np.datetime64("NaT", "s")
    shipped = np.where(shipped_state, created + rng.integers(HOUR, 48 * HOUR, n_orders) * SECOND, nat)
    delivered = np.where(delivered_state, shipped + rng.integers(12 * HOUR, 96 * HOUR, n_orders) * SECOND, nat)
    returned = np.where(status == 4, delivered + rng.integers(HOUR, 96 * HOUR, n_orders) * SECOND, nat)
    users = rng.integers(1, max(2, n_orders * 2 // 3), n_orders)
    # Every order gets one item, the rest are spread at random.
    owner = np.sort(np.concatenate([np.arange(n_orders), rng.integers(0, n_orders, n_items - n_orders)]))
    product = rng.integers(0, len(retail), n_items)
    orders = {
        "order_id": pa.array(order_ids),
        "user_id": pa.array(users),
        "status": pa.array(STATUSES[status]),
        "created_at": _timestamps(created),
        "returned_at": _timestamps(returned),
        "shipped_at": _timestamps(shipped),
        "delivered_at": _timestamps(delivered),
        "num_of_item": pa.array(np.bincount(owner, minlength=n_orders)),
    }
    items = {
        "id": pa.array(np.arange(first_item, first_item + n_items)),
        "order_id": pa.array(order_ids[owner]),
        "user_id": pa.array(users[owner]),
        "product_id": pa.array(product + 1),
        "status": pa.array(STATUSES[status[owner]]),
        "created_at": _timestamps(created[owner] + rng.integers(0, 60, n_items) * SECOND),
        "shipped_at": _timestamps(shipped[owner] + np.timedelta64(60, "s")),
        "delivered_at": _timestamps(delivered[owner] + np.timedelta64(60, "s")),
        "returned_at": _timestamps(returned[owner] + np.timedelta64(60, "s")),
        "sale_price": pa.array(retail[product]),
    }
    return orders, items


def write_bench_set(
    out_dir: Path, items: int = 1_000_000, seed: int = 0, on_written: OnWritten | None = None
) -> dict[str, Path]:
    """Write the benchmark files; keys: products, orders, order_items, increment_orders,
    increment_items (the increment adds orders to the middle day of the base set). Each file is
    written as soon as it is generated (for `on_written`); the random draws keep their order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = _Writer(out_dir, on_written)
    rng = np.random.default_rng(seed)
    n_orders = max(1, items // ITEMS_PER_ORDER)
    products, retail = _products(rng, min(MAX_PRODUCTS, max(100, items // 100)))
    writer.write("products", FileKind.PRODUCTS, products)
    start = np.datetime64(BENCH_START.isoformat(), "s")
    orders, order_items = _orders_and_items(
        rng, n_orders, max(items, n_orders), 1, 1, start, BENCH_DAYS * 86_400, retail
    )
    writer.write("orders", FileKind.ORDERS, orders)
    writer.write("order_items", FileKind.ORDER_ITEMS, order_items)
    middle_day = start + np.timedelta64(BENCH_DAYS // 2, "D")
    inc_orders = min(INCREMENT_ORDERS, n_orders)
    more_orders, more_items = _orders_and_items(
        rng,
        inc_orders,
        inc_orders * ITEMS_PER_ORDER,
        n_orders + 1,
        max(items, n_orders) + 1,
        middle_day,
        86_400,
        retail,
    )
    writer.write("increment_orders", FileKind.ORDERS, more_orders)
    writer.write("increment_items", FileKind.ORDER_ITEMS, more_items)
    return writer.paths
