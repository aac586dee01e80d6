"""Shared by the API and dashboard tests: KPI items in the writer's shapes, the app served
on an ephemeral port with moto behind it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.api import services
from chalicelib.kpis import derived_category, derived_daily
from chalicelib.tables import ALL_TABLES, CATEGORY_KPIS, DAILY_KPIS, PREMIUM_CASES, PREMIUM_CASES_BY_TIME
from shoppulse.local.api_server import ApiServer, stage_environment

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def moto_tables() -> Iterator[dict[str, Any]]:
    """moto with every table of the shared specs created, named as the Chalice stage names them
    (what Lambda, `shoppulse up` and Chalice's test client see); yields the tables by logical id."""
    with pytest.MonkeyPatch.context() as patch:
        fake = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        for name, value in {**stage_environment(ROOT), **fake}.items():
            patch.setenv(name, value)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            dynamodb = boto3.resource("dynamodb")
            for spec in ALL_TABLES:
                dynamodb.create_table(**spec.create_table_kwargs(spec.name()))
            services.reset()
            yield {spec.logical_id: dynamodb.Table(spec.name()) for spec in ALL_TABLES}
        services.reset()


def daily_item(day: str, orders: int, revenue: str, items: int, returned: int, customers: int) -> dict[str, Any]:
    """A DailyKpis item as the writer stores it: exact components, derived values, bookkeeping."""
    components = {
        "total_orders": orders,
        "revenue_micros": int(Decimal(revenue) * 1_000_000),
        "total_items_sold": items,
        "returned_orders": returned,
        "unique_customers": customers,
    }
    return {
        DAILY_KPIS.partition_key: day[:4],
        DAILY_KPIS.range_key: day,
        **components,
        **derived_daily(components),
        "requested_generation": 3,
        "computed_generation": 3,
        "updated_at": "2026-01-01T00:00:00.000+00:00",
    }


def category_item(day: str, category: str, orders: int, revenue: str, items: int, returned: int) -> dict[str, Any]:
    components = {
        "orders": orders,
        "revenue_micros": int(Decimal(revenue) * 1_000_000),
        "items_sold": items,
        "returned_orders": returned,
    }
    return {
        CATEGORY_KPIS.partition_key: day,
        CATEGORY_KPIS.range_key: category,
        **components,
        **derived_category(components),
        "generation": 1,
    }


def case_item(order_id: str, amount: Any, opened_at: str, **extra: Any) -> dict[str, Any]:
    """A PremiumCases item as the premium handler stores it."""
    return {
        PREMIUM_CASES.partition_key: order_id,
        PREMIUM_CASES_BY_TIME.partition_key: "PREMIUM",
        PREMIUM_CASES_BY_TIME.range_key: opened_at,
        "case_status": "OPEN",
        "customer_id": "c-1",
        "customer_email": "a@shop.example",
        "amount": amount,
        "from_status": "pending",
        "to_status": "shipped",
        "event_id": f"ev-{order_id}",
        "stream_time": opened_at,
        **extra,
    }


def put_all(table: Any, items: list[dict[str, Any]]) -> None:
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """The Chalice app over real HTTP on 127.0.0.1 and a free port (as `shoppulse up` serves it)."""
    server = ApiServer(app, ROOT, port=0)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


CATEGORIES = (
    "Accessories",
    "Active",
    "Blazers & Jackets",
    "Dresses",
    "Jeans",
    "Outerwear & Coats",
    "Pants",
    "Shorts",
    "Sleep & Lounge",
    "Socks",
    "Sweaters",
    "Swim",
    "Tops & Tees",
    "Underwear",
)


def synthetic_kpis(
    first: date, days: int, categories: tuple[str, ...] = CATEGORIES, seed: int = 7
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Deterministic, plausible daily and per-category items (a weekly rhythm and some noise)."""
    rng = random.Random(seed)
    daily, per_category = [], []
    for n in range(days):
        day = (first + timedelta(days=n)).isoformat()
        orders = items = returned = 0
        revenue = Decimal(0)
        for category in categories:
            c_orders = max(1, int(rng.gauss(12 + 6 * ((n % 7) in (4, 5)), 3)))
            c_items = c_orders + rng.randint(0, c_orders)
            c_revenue = Decimal(c_items) * Decimal(rng.randint(1500, 9000)) / 100
            c_returned = sum(rng.random() < 0.09 for _ in range(c_orders))
            per_category.append(category_item(day, category, c_orders, str(c_revenue), c_items, c_returned))
            orders, revenue, items, returned = (
                orders + c_orders,
                revenue + c_revenue,
                items + c_items,
                returned + c_returned,
            )
        daily.append(daily_item(day, orders, str(revenue), items, returned, max(1, orders - rng.randint(0, 5))))
    return daily, per_category
