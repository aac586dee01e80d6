"""A shop feed: many small files, each orders file spanning every day of the month, item
files referencing several orders files (some items before their order), landing one after
another. Measures the time per file as history grows, the objects per day partition, and
DuckDB recomputing every KPI from all the files landed so far (it keeps no state).

Memory: each report row gives the process's resident memory and, of it, the object versions
the embedded S3 holds (not the task's memory). moto as released also keeps a reference to every
model instance it ever made, which grew the embedded AWS by about 3 MiB per feed file (2.3 GiB
peak at 400 files); the embedded AWS applies moto fix 22, which stops that.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from benchmarks import duckdb_kpis, status_kib
from chalicelib.storage_layout import CURATED_BUCKET
from containers.engine.contract import FileKind
from shoppulse.embedded import embedded_aws
from shoppulse.replay import InProcessWorkflow
from shoppulse.samples.bench import BENCH_START, _orders_and_items, _products, _write

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

FEED_FILES = 400  # orders and items files, alternating (`python -m benchmarks --feed-files N`)
FEED_FILES_ENV = "SHOPPULSE_FEED_FILES"
ORDERS_PER_FILE = 90
ITEMS_PER_ORDER = 3
PRODUCTS = 1_000
REPORT_AT = (10, 100, 200, 400)
DUCKDB_AT = (100, 400)
MONTH_SECONDS = 30 * 86_400


def write_feed(out_dir: Path, files: int = FEED_FILES, seed: int = 1) -> tuple[Path, list[Path]]:
    """(products file, feed files in landing order). Items file k holds a third of the items of
    orders files k-1, k and k+1: the last third arrives before its orders."""
    rng = np.random.default_rng(seed)
    pairs = files // 2
    products, retail = _products(rng, PRODUCTS)
    start = np.datetime64(BENCH_START.isoformat(), "s")
    id_of = rng.permutation(pairs * ORDERS_PER_FILE) + 1  # ids that do not follow time
    batches = []
    for k in range(pairs):
        orders, items = _orders_and_items(
            rng,
            ORDERS_PER_FILE,
            ORDERS_PER_FILE * ITEMS_PER_ORDER,
            k * ORDERS_PER_FILE + 1,
            k * ORDERS_PER_FILE * ITEMS_PER_ORDER + 1,
            start,
            MONTH_SECONDS,
            retail,
        )
        orders["order_id"] = pa.array(id_of[orders["order_id"].to_numpy() - 1])
        items["order_id"] = pa.array(id_of[items["order_id"].to_numpy() - 1])
        batches.append((orders, pa.table(items)))
    feed = []
    for k, (orders, _) in enumerate(batches):
        feed.append(_write(out_dir / f"{2 * k:04d}-orders.csv", FileKind.ORDERS, orders))
        thirds = [
            batches[j][1].filter(pa.array(np.arange(batches[j][1].num_rows) % 3 == (k - j + 1)))
            for j in (k - 1, k, k + 1)
            if 0 <= j < pairs
        ]
        table = pa.concat_tables(thirds)
        feed.append(_write(out_dir / f"{2 * k + 1:04d}-items.csv", FileKind.ORDER_ITEMS, table.to_pydict()))
    return _write(out_dir / "products.csv", FileKind.PRODUCTS, products), feed


def _objects_per_partition(s3: S3Client) -> dict[str, int]:
    counts: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=CURATED_BUCKET.name(), Prefix="curated/"):
        for obj in page.get("Contents", []):
            part = obj["Key"].rsplit("/", 1)[0]
            counts[part] = counts.get(part, 0) + 1
    return counts


def _stored_mib(s3: S3Client) -> float:
    """Bytes of every object version the embedded S3 holds, in MiB (its share of the memory)."""
    total = 0
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            total += sum(v["Size"] for v in page.get("Versions", []))
    return total / 2**20


def run() -> dict[str, Any]:
    return measure_feed(int(os.environ.get(FEED_FILES_ENV, FEED_FILES)))


def _resident_mib_cell() -> str:
    """This process's resident memory now (VmRSS) in MiB, blank where /proc has none."""
    kib = status_kib("VmRSS")
    return "" if kib is None else f"{kib / 1024:.0f}"


def measure_feed(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="shoppulse-feed-") as tmp:
        products, feed = write_feed(Path(tmp), count)
        seconds: list[float] = []
        rows, notes = [], []
        duck: dict[int, float] = {}
        with embedded_aws() as clients:
            workflow = InProcessWorkflow(clients)
            workflow.ingest(products)
            for n, path in enumerate(feed, start=1):
                started = time.perf_counter()
                outcome = workflow.ingest(path)
                seconds.append(time.perf_counter() - started)
                if outcome["status"] != "SUCCEEDED":
                    raise RuntimeError(f"{path.name}: {outcome}")
                if n in DUCKDB_AT or n == len(feed):
                    started = time.perf_counter()
                    daily, categories = duckdb_kpis.components(feed[:n:2], feed[1:n:2], [products])
                    duck[n] = time.perf_counter() - started
                    if n == len(feed):
                        same = duckdb_kpis.public(daily, categories) == workflow.kpis()
                        notes.append(f"after {n} files, KPIs {'equal' if same else 'DIFFER from'} DuckDB's")
                if n in REPORT_AT or n == len(feed):
                    parts = _objects_per_partition(clients.s3)
                    days = {p: c for p, c in parts.items() if "order_date=" in p}
                    rows.append(
                        {
                            "files": n,
                            "this file (s)": f"{seconds[-1]:.3f}",
                            "median of files n-9..n (s)": f"{statistics.median(seconds[max(0, n - 10) : n]):.3f}",
                            "DuckDB, all files (s)": f"{duck[n]:.3f}" if n in duck else "",
                            "day partitions": len(days),
                            "objects per day partition (max)": max(days.values(), default=0),
                            "items waiting": outcome["waiting_for_order"] + outcome["waiting_for_product"],
                            "resident memory (MiB)": _resident_mib_cell(),
                            "of it, embedded S3 objects (MiB)": f"{_stored_mib(clients.s3):.0f}",
                        }
                    )
    early, late = statistics.median(seconds[9:30]), statistics.median(seconds[-20:])
    notes.append(
        f"median of files 10-30: {early:.3f} s; of the last 20: {late:.3f} s; ratio {late / early:.2f} "
        f"({'meets' if late <= 1.25 * early else 'misses'} the target: within 1.25x)"
    )
    for n, d in duck.items():
        one = statistics.median(seconds[n - 10 : n])
        notes.append(
            f"at {n} files one more file costs {one:.3f} s (median of the last 10), DuckDB recomputing all "
            f"{n} files {d:.3f} s: {d / one:.1f}x"
        )
    return {"title": f"Feed: {len(feed)} small files after a products file", "rows": rows, "notes": notes}
