"""Reconciliation: recompute days from the curated data, report every difference from the
stored KPIs, and fix them.

It holds the writer lease, so it reads one committed snapshot and no transformation commits
meanwhile; it writes with that snapshot's number, which a later snapshot's writes supersede.
`python -m containers.transformation.reconcile` is the scheduled ECS task (infra/reconciliation.py);
`shoppulse reconcile` runs the same function.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from datetime import date
from typing import TYPE_CHECKING, Any

import boto3

from chalicelib.kpis import CATEGORY_COMPONENTS, DAILY_COMPONENTS, ITEMS_WAITING, has_kpis
from chalicelib.storage_layout import CURATED_BUCKET
from chalicelib.tables import CATEGORY_KPIS, DAILY_KPIS
from containers.adapters.curated_store import CuratedStore
from containers.adapters.kpi_tables import KpiTables, daily_key
from containers.adapters.writer_lease import WriterLease
from containers.engine import placement as pl
from containers.engine.kpis import day_label, day_number
from containers.tasks.outcome import configure_logging
from containers.transformation.pipeline import Working, recompute

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client


def _stored(
    db: DynamoDBClient, daily_table: str, category_table: str, label: str
) -> tuple[dict[str, int] | None, dict[str, Any]]:
    item = db.get_item(
        TableName=daily_table, Key={k: {"S": v} for k, v in daily_key(label).items()}, ConsistentRead=True
    )
    day = item.get("Item", {})
    values = {k: int(v["N"]) for k, v in day.items() if k in (*DAILY_COMPONENTS, ITEMS_WAITING)}
    pages = db.get_paginator("query").paginate(
        TableName=category_table,
        KeyConditionExpression="#d = :d",
        ExpressionAttributeNames={"#d": CATEGORY_KPIS.partition_key},
        ExpressionAttributeValues={":d": {"S": label}},
        ConsistentRead=True,
    )
    categories = {
        i[CATEGORY_KPIS.range_key]["S"]: {k: int(i[k]["N"]) for k in CATEGORY_COMPONENTS}
        for page in pages
        for i in page.get("Items", [])
    }
    return (values if has_kpis(values) or values.get(ITEMS_WAITING) else None), categories


def _stored_days(db: DynamoDBClient, daily_table: str, first: str, last: str) -> set[str]:
    days: set[str] = set()
    for year in range(int(first[:4]), int(last[:4]) + 1):
        pages = db.get_paginator("query").paginate(
            TableName=daily_table,
            KeyConditionExpression="#y = :y AND #d BETWEEN :a AND :b",
            ExpressionAttributeNames={"#y": DAILY_KPIS.partition_key, "#d": DAILY_KPIS.range_key},
            ExpressionAttributeValues={":y": {"S": str(year)}, ":a": {"S": first}, ":b": {"S": last}},
            ProjectionExpression="#d",
        )
        days |= {i[DAILY_KPIS.range_key]["S"] for page in pages for i in page.get("Items", [])}
    return days


def reconcile(
    s3: S3Client, db: DynamoDBClient, curated_bucket: str, daily_table: str, category_table: str, first: str, last: str
) -> dict[str, Any]:
    """Differences found (per day: stored and expected) and days fixed, between two dates."""
    lease = WriterLease(db, daily_table, f"reconcile:{uuid.uuid4()}")
    state = lease.acquire()
    try:
        store = CuratedStore(s3, curated_bucket)
        work = Working(store, store.snapshot(state.seq))
        days = {p.split("order_date=")[1].rstrip("/") for p in work.snapshot.objects if "order_date=" in p}
        days |= {day_label(d) for d in pl.held_days(work.get(pl.HELD_ITEMS))}
        if days:  # stored days without data, in the years that hold data (not one Query per year since 1970)
            days |= _stored_days(db, daily_table, max(first, min(days)), min(last, max(days)))
        labels = {d for d in days if first <= d <= last}
        tables = KpiTables(db, daily_table, category_table)
        differences, fixed = [], []
        for label, daily, categories, waiting in recompute(work, labels):
            expected_day = None
            if daily is not None or waiting:
                expected_day = {**{k: int(v) for k, v in (daily or {}).items()}, ITEMS_WAITING: waiting}
            expected = (expected_day, {c: {k: int(v[k]) for k in CATEGORY_COMPONENTS} for c, v in categories.items()})
            stored = _stored(db, daily_table, category_table, label)
            if stored != expected:
                differences.append({"date": label, "stored": stored, "expected": expected})
                if tables.write_day(label, state.seq, daily, categories, waiting):
                    fixed.append(label)
    finally:
        lease.release()
    return {"from": first, "to": last, "days_checked": len(labels), "differences": differences, "fixed": fixed}


def reconcile_stack(first: str, last: str) -> dict[str, Any]:
    """`reconcile` over the stack's own bucket and tables, with the environment's credentials."""
    session = boto3.session.Session()
    return reconcile(
        session.client("s3"),
        session.client("dynamodb"),
        CURATED_BUCKET.name(),
        DAILY_KPIS.name(),
        CATEGORY_KPIS.name(),
        first,
        last,
    )


def main() -> int:
    """The scheduled task: the last `RECONCILE_DAYS` (env, default 400) days up to today."""
    log = configure_logging()
    last = date.today()
    span = int(os.environ.get("RECONCILE_DAYS", "400"))
    first = day_label(day_number(last.isoformat()) - span)
    report = reconcile_stack(first, last.isoformat())
    log.info("reconciled", extra={"fields": {k: v for k, v in report.items() if k != "differences"}})
    print(json.dumps(report, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
