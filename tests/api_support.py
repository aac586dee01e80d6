"""Shared by the API and dashboard tests: KPI items in the writer's shapes, the app served
on an ephemeral port with moto behind it."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Iterator

import boto3
import pytest
from chalice.config import Config
from chalice.local import LocalDevServer
from moto import mock_aws

from chalicelib.api import services
from chalicelib.kpis import derived_category, derived_daily
from chalicelib.tables import ALL_TABLES, CATEGORY_KPIS, DAILY_KPIS


def create_tables() -> dict[str, Any]:
    """Every table from the shared specs (by logical id), in the moto account the test runs in."""
    dynamodb = boto3.resource("dynamodb")
    for spec in ALL_TABLES:
        dynamodb.create_table(**spec.create_table_kwargs(spec.name()))
    services.reset()
    return {spec.logical_id: dynamodb.Table(spec.name()) for spec in ALL_TABLES}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto with every table created; yields the tables by logical id."""
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield create_tables()
    services.reset()


def daily_item(day: str, orders: int, revenue: str, items: int, returned: int, customers: int) -> dict[str, Any]:
    """A DailyKpis item as the writer stores it: exact components, derived values, bookkeeping."""
    components = {"total_orders": orders, "revenue_micros": int(Decimal(revenue) * 1_000_000), "total_items_sold": items, "returned_orders": returned, "unique_customers": customers}
    return {
        DAILY_KPIS.partition_key: day[:4],
        DAILY_KPIS.sort_key: day,
        **components,
        **derived_daily(components),
        "requested_generation": 3,
        "computed_generation": 3,
        "updated_at": "2026-01-01T00:00:00.000+00:00",
    }


def category_item(day: str, category: str, orders: int, revenue: str, items: int, returned: int) -> dict[str, Any]:
    components = {"orders": orders, "revenue_micros": int(Decimal(revenue) * 1_000_000), "items_sold": items, "returned_orders": returned}
    return {CATEGORY_KPIS.partition_key: day, CATEGORY_KPIS.sort_key: category, **components, **derived_category(components), "generation": 1}


def put_all(table: Any, items: list[dict[str, Any]]) -> None:
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """The Chalice app over real HTTP on 127.0.0.1 and a free port; yields its base URL."""
    server = LocalDevServer(app, Config.create(chalice_stage="dev", app_name=app.app_name), "127.0.0.1", 0)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server.server_address[1]}"
    finally:
        server.server.shutdown()
        server.server.server_close()
        thread.join(timeout=5)

