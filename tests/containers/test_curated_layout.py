"""The curated data as other engines read it: the DuckDB query of docs/batch-storage.md, run on
a copy of the curated bucket, gives every stored day's KPIs."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pyarrow as pa
import pytest
from moto import mock_aws

from chalicelib.storage_layout import CURATED_BUCKET
from containers.adapters.curated_store import CuratedStore, Snapshot
from shoppulse.embedded import embedded_aws
from shoppulse.replay import InProcessWorkflow
from tests import reference_kpis as ref
from tests.containers.batch_support import csv_bytes, stored_components
from tests.containers.test_batch_engine import PRODUCTS, item_row, order_row

DOC = Path(__file__).resolve().parents[2] / "docs" / "batch-storage.md"
DOC_DAY = "2025-01-15"


def docs_query() -> str:
    """The SQL block of docs/batch-storage.md, as printed there."""
    found = re.search(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert found, "docs/batch-storage.md lost its DuckDB query"
    return found.group(1)


def copy_bucket(s3: Any, bucket: str, to: Path) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="curated/"):
        for obj in page.get("Contents", []):
            path = to / obj["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())


def test_the_docs_duckdb_query_recomputes_each_stored_day(tmp_path: Path) -> None:
    files = [
        (ref.PRODUCTS, PRODUCTS),
        (
            ref.ORDERS,
            [
                order_row(1, "2025-03-01 10:00:00"),
                order_row(2, "2025-03-01 11:00:00", status="returned", user=8),
                order_row(3, "2025-03-02 09:00:00", returned_at="2025-03-05 09:00:00"),
            ],
        ),
        (
            ref.ITEMS,
            [
                item_row(1, 1, 1, "10.5", "2025-03-01 10:00:00"),
                item_row(2, 2, 2, "3.25", "2025-03-01 11:00:00"),
                item_row(3, 3, 1, "7", "2025-03-02 09:00:00"),
                item_row(4, 9, 1, "4", "2025-03-02 09:00:00"),  # its order is unknown: held
                item_row(5, 1, 7, "6", "2025-03-01 10:00:00"),  # its product is unknown: waits
            ],
        ),
        # A newer version of order 1 moves it (and its items) to the next day.
        (ref.ORDERS, [order_row(1, "2025-03-02 08:00:00", shipped_at="2025-03-03 08:00:00")]),
    ]
    with embedded_aws() as clients:
        flow = InProcessWorkflow(clients)
        for n, (kind, rows) in enumerate(files):
            path = tmp_path / f"{n}-{kind}.csv"
            path.write_bytes(csv_bytes(kind, rows))
            assert flow.ingest(path)["status"] == "SUCCEEDED"
        copy_bucket(clients.s3, CURATED_BUCKET.name(), tmp_path / "bucket")
        daily, _ = stored_components(clients.dynamodb_resource)
    assert set(daily) == {"2025-03-01", "2025-03-02"}
    for day, stored in daily.items():
        sql = docs_query().replace("s3://BUCKET", str(tmp_path / "bucket")).replace(DOC_DAY, day)
        [(orders, revenue, items, returned, customers)] = duckdb.connect().execute(sql).fetchall()
        assert (orders, items, returned, customers) == (
            stored["total_orders"],
            stored["total_items_sold"],
            stored["returned_orders"],
            stored["unique_customers"],
        )
        assert (revenue or 0) == pytest.approx(stored["revenue_micros"] / 1e6)


def test_a_failed_upload_fails_the_write_only_once_no_other_upload_is_in_flight() -> None:
    """Else the lease is released while an object it names is still being stored: the next
    holder deletes it, and the late upload puts a stray object in a partition (two objects,
    which any engine reading the prefixes counts twice)."""
    slow, failing = "curated/b/part-0000000001.parquet", "curated/a/part-0000000001.parquet"

    def upload(params: dict[str, Any], **_: Any) -> None:
        if params["Key"] == failing:
            raise ConnectionError("S3 connection lost")
        if params["Key"] == slow:
            time.sleep(0.5)

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="curated")
        s3.meta.events.register("before-parameter-build.s3.PutObject", upload)
        snapshot = Snapshot(1, {"curated/a/": failing, "curated/b/": slow})
        table = pa.table({"x": [1]})
        with pytest.raises(ConnectionError):
            CuratedStore(s3, "curated").write(snapshot, {"curated/a/": table, "curated/b/": table})
        stored = [o["Key"] for o in s3.list_objects_v2(Bucket="curated").get("Contents", [])]
    assert stored == [slow]  # done before the write failed; no manifest
